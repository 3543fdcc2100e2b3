"""The durable inbox: every signed webhook delivery, stored before it is acknowledged."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calendly_sync.models.connection import Connection


class WebhookDelivery(models.Model):
    """A verified Calendly delivery, committed before the 2xx (the durable inbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        PROCESSING = "processing", "processing"
        PROCESSED = "processed", "processed"
        IGNORED = "ignored", "ignored"
        FAILED = "failed", "failed"

    connection = models.ForeignKey(Connection, null=True, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100, db_index=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="First failure of the current run of failures (retries stop at the horizon)."
    )
    last_error = models.TextField(blank=True)
    invitee_uri = models.URLField(max_length=300, blank=True, db_index=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    calendly_created_at = models.DateTimeField(null=True, blank=True)
    signature_timestamp = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(
        default=dict, blank=True, help_text="The envelope, kept until processed (purge_deliveries removes old ones)."
    )
    raw_body = models.TextField(blank=True, help_text="Only with log_webhooks on.")
    headers = models.JSONField(default=dict, blank=True, help_text="Signature and auth headers removed.")
    redeliveries = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} · {self.email or self.invitee_uri} · {self.status}"
