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


class BookingLink(models.Model):
    """A single-use booking link issued to one Brevo contact and written to one of its attributes.

    Why a table: a second ``create_booking_links`` run must know which contacts already hold a link
    they have not used (they keep it), and a booking that arrives through a link must be traced back
    to it by the token in its tracking (``utm_content=cbl-<token>``), so the contact's attribute is
    cleared and a campaign never sends a used link.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="booking_links")
    email = models.EmailField(max_length=254, help_text="The Brevo contact the link was written to (lower case).")
    token = models.CharField(max_length=40, unique=True, help_text="The marker in the link's utm_content.")
    url = models.URLField(max_length=2000)
    event_type_uri = models.CharField(max_length=300)
    attribute = models.CharField(max_length=100, help_text="The Brevo attribute that holds the link.")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When a booking through the link arrived.")
    used_by = models.CharField(max_length=300, blank=True, help_text="The invitee URI of that booking.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["connection", "email"], name="booking_link_contact")]

    def __str__(self) -> str:
        state = "used" if self.used_at else "unused"
        return f"{self.email} ({self.attribute}, {state})"
