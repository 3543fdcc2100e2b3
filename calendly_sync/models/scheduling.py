"""What the scheduling API sent to Calendly: one row per booking call, counted against the plan's quotas.

Why a table: Calendly's booking quotas (``calendly/limits.py``) are per Calendly user and reach a day
back, and every server process and worker books for the same users, so the count lives where they
all see it. Rows older than the longest window are deleted as new ones are added.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calendly_sync.models.connection import Connection


class BookingCall(models.Model):
    """One ``POST /invitees`` the connector sent (or was about to send) for a Calendly user."""

    calendly_user = models.CharField(max_length=300, help_text="The Calendly user URI the quota is counted for.")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="booking_calls"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["calendly_user", "created_at"], name="booking_call_user_time")]

    def __str__(self) -> str:
        return f"{self.calendly_user} at {self.created_at:%Y-%m-%d %H:%M:%S}"
