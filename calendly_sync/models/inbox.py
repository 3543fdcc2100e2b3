"""The durable inbox: every signed webhook delivery, stored before it is acknowledged; and the
counts of the requests refused at the door."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.models.connection import Connection

#: What a processed delivery stops keeping once applied, unless its connection logs webhooks: the
#: body and headers, which hold the invitee's personal data. Its key, event, status and times stay.
BODY_CLEARED: dict[str, Any] = {"payload": {}, "raw_body": "", "headers": {}}


class WebhookDelivery(models.Model):
    """A verified Calendly delivery, committed before the 2xx (the durable inbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        PROCESSING = "processing", "processing"
        PROCESSED = "processed", "processed"
        IGNORED = "ignored", "ignored"
        FAILED = "failed", "failed"

    # No index on connection, event, invitee_uri or email: every index is written by each
    # acknowledgement (on SQLite, pages the commit and the checkpoint write again), and none of them
    # is read on a hot path: the drain reads by status and due time (one index, ``delivery_due``),
    # the overview by status and time, and the privacy erasure, which matches by email or invitee,
    # and a connection's deletion are rare and read a table the retention keeps short.
    connection = models.ForeignKey(
        Connection, null=True, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event = models.CharField(max_length=100)
    idempotency_key = models.CharField(max_length=64)  # unique: Meta.constraints (no LIKE index on PostgreSQL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="First failure of the current run of failures (retries stop at the horizon)."
    )
    last_error = models.TextField(blank=True)
    invitee_uri = models.URLField(max_length=300, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    calendly_created_at = models.DateTimeField(null=True, blank=True)
    signature_timestamp = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(
        default=dict,
        blank=True,
        help_text="The envelope, kept until processed (afterwards only with log_webhooks on).",
    )
    raw_body = models.TextField(blank=True, help_text="Only with log_webhooks on.")
    headers = models.JSONField(default=dict, blank=True, help_text="Signature and auth headers removed.")
    redeliveries = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]
        # A constraint rather than ``unique=True``, which on PostgreSQL adds a second index for
        # ``LIKE`` on the key that nothing queries and every acknowledgement would write.
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="delivery_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.event} · {self.email or self.invitee_uri} · {self.status}"


class WebhookRejection(models.Model):
    """Refused webhook requests, counted per connection, kind and hour: never one row per request.

    The endpoint counts rejections in memory and writes them at most once a minute per process
    (:mod:`calendly_sync.inbox.rejections`), so a flood of unauthenticated requests costs no database
    write each. Several processes may each insert a row for the same hour: readers sum.
    """

    connection = models.ForeignKey(
        Connection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_rejections",
        help_text="Empty: the request named no connection, or none could be told from its signature.",
    )
    kind = models.CharField(max_length=30, choices=[(k.value, k.value) for k in RejectionKind])
    hour = models.DateTimeField(help_text="Start of the hour the requests arrived in.")
    count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField(db_index=True)
    last_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-hour", "connection_id", "kind"]
        indexes = [models.Index(fields=["connection", "kind", "hour"], name="rejection_bucket")]

    def __str__(self) -> str:
        return f"{self.kind} × {self.count} ({self.hour:%Y-%m-%d %H}:00)"
