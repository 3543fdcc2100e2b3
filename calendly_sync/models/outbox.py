"""What went to Brevo: the automation-event outbox and the log of every write."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calendly_sync.models.connection import Connection
from calendly_sync.models.state import Booking, Contact, SyncRun


class ContactSyncLog(models.Model):
    """One Brevo write for one contact: what was sent (no secrets) and what came back."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        WARNING = "warning", "warning"
        ERROR = "error", "error"
        RETRY = "retry", "will retry"
        DRY_RUN = "dry_run", "dry run"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_logs")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs")
    email = models.EmailField(max_length=254, db_index=True)
    action = models.CharField(max_length=30, help_text="upsert, import, list_add, event, attribute")
    status = models.CharField(max_length=10, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    brevo_code = models.CharField(max_length=60, blank=True)
    message = models.TextField(blank=True)
    request = models.JSONField(default=dict, blank=True)
    sync_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="logs")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} · {self.action} · {self.status}"


class AutomationEvent(models.Model):
    """Outbox of Brevo automation events: one row per Calendly fact, sent once.

    Once, except in one window: a worker that dies after Brevo accepted the event and before it
    marked the row ``sent`` leaves it ``sending``, and after ``push.events.STALE_EVENT_CLAIM`` it
    is sent again (see README, "Delivery guarantees"). An answer lost on the way back (a read
    timeout) is not that window: the row becomes ``unconfirmed`` and waits for an operator.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"  # claimed by one worker; back to pending if the send fails
        SENT = "sent", "sent"
        # Sent, and Brevo's answer lost (read timeout): it may or may not be in Brevo. Never resent
        # automatically (that could start the automation twice); an operator requeues it.
        UNCONFIRMED = "unconfirmed", "unconfirmed"
        FAILED = "failed", "failed"
        SKIPPED = "skipped", "skipped"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="automation_events")
    key = models.CharField(max_length=64, unique=True, help_text="Hash of connection, event name and the fact.")
    email = models.EmailField(max_length=254, db_index=True)
    event_name = models.CharField(max_length=100, db_index=True)
    event_date = models.DateTimeField(null=True, blank=True)
    event_properties = models.JSONField(default=dict, blank=True)
    contact_properties = models.JSONField(default=dict, blank=True)
    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="automation_events"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_failed_at = models.DateTimeField(
        null=True, blank=True, help_text="First failure of the current run of failures (retries stop at the horizon)."
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.email} · {self.status}"
