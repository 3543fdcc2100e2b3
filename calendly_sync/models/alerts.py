"""Alerts: a connection's health turned red (or something worth knowing happened), and who was told.

One row per occurrence of a condition: opened when the condition is first seen, resolved when it
clears. The database guarantees one open alert per connection and condition key, so a condition
that persists across evaluations, restarts and processes is announced once. Which messages were
delivered is stored per channel (``email``, ``webhook``): a channel that failed is retried at the
next evaluation, and one that succeeded is never sent again. See
:mod:`calendly_sync.overview.alerts`.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calendly_sync.models.connection import Connection


class Alert(models.Model):
    class Severity(models.TextChoices):
        PROBLEM = "problem", "problem"
        INFO = "info", "info"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="alerts")
    key = models.CharField(max_length=100, help_text="The condition: subscription, reconnect, brevo_key, …")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.PROBLEM)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True, help_text="What the dashboard said when it opened (updated while open).")
    action = models.CharField(max_length=200, blank=True, help_text="What fixes it.")
    action_url = models.CharField(max_length=500, blank=True)
    action_command = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_sent = models.JSONField(default=list, blank=True, help_text="Channels the opening message reached.")
    resolved_sent = models.JSONField(default=list, blank=True, help_text="Channels the resolved message reached.")
    pending = models.BooleanField(
        default=True, db_index=True, help_text="A message (opening or resolved) has not reached every channel yet."
    )
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="An evaluation is sending this alert's messages until then."
    )
    send_attempts = models.PositiveIntegerField(default=0)
    last_send_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "key"], condition=models.Q(resolved_at__isnull=True), name="one_open_alert"
            ),
        ]

    def __str__(self) -> str:
        state = "resolved" if self.resolved_at else "open"
        return f"{self.connection} · {self.title} · {state}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
