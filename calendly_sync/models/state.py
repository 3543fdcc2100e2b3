"""What Calendly said and what Brevo should hold: bookings, contacts and sync runs.

A webhook delivery or a backfill page becomes an observation of one invitee → :class:`Booking`
(one row per invitee URI, newest Calendly time wins) → :class:`Contact` (one row per connection +
email: the desired Brevo state, ``dirty`` until pushed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from calendly_sync.calendly.invitee import BookingFields, Column, stored_columns
from calendly_sync.models.connection import Connection


def _model_field(column: Column, default: object) -> models.Field[Any, Any]:
    """The model field for one declared invitee field (exactly what migration 0001 created)."""
    blank = not column.required
    extra: dict[str, object] = {"help_text": column.help_text} if column.help_text else {}
    if column.kind == "char":
        if column.choices:
            extra.update(choices=[(c, c) for c in column.choices], default=default)
        return models.CharField(max_length=column.max_length, blank=blank, **extra)  # type: ignore[arg-type]
    if column.kind == "url":
        return models.URLField(max_length=column.max_length, blank=blank, **extra)  # type: ignore[arg-type]
    if column.kind == "email":
        return models.EmailField(max_length=column.max_length, blank=blank, db_index=column.db_index, **extra)  # type: ignore[arg-type]
    if column.kind == "text":
        return models.TextField(blank=blank, **extra)  # type: ignore[arg-type]
    if column.kind == "datetime":
        return models.DateTimeField(null=True, blank=True, **extra)  # type: ignore[arg-type]
    if column.kind == "bool":
        return models.BooleanField(default=default, **extra)  # type: ignore[arg-type]
    return models.JSONField(default=list if column.kind == "list" else dict, blank=True, **extra)  # type: ignore[arg-type]


def _invitee_columns() -> dict[str, models.Field[Any, Any]]:
    defaults = BookingFields()
    return {name: _model_field(column, getattr(defaults, name)) for name, column in stored_columns(BookingFields)}


#: The invitee's columns, as an abstract model: derived from the one declaration, never written here.
if TYPE_CHECKING:
    # A class built by type() is opaque to the type checker (Booking would be Any through and
    # through, and its relations unresolvable). What it sees instead: the same declaration's
    # attribute types, from BookingFields. (Only the types are borrowed: at run time Booking is no
    # dataclass, its fields are writable, and questions_and_answers is stored as a JSON list.)
    class InviteeColumns(models.Model, BookingFields):
        class Meta:
            abstract = True

else:
    InviteeColumns = type(
        "InviteeColumns",
        (models.Model,),
        {
            "__module__": __name__,
            "__doc__": (
                "Booking's columns for the invitee's fields, derived from calendly_sync.calendly.invitee.BookingFields."
            ),
            "Meta": type("Meta", (), {"abstract": True}),
            **_invitee_columns(),
        },
    )


class Booking(InviteeColumns):
    """What Calendly last said about one invitee (one row per invitee URI).

    The invitee's columns are not written here: they are derived from
    :class:`calendly_sync.calendly.invitee.BookingFields` (see :data:`InviteeColumns`), the
    one declaration the observation and the reducer's state share.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        CANCELED = "canceled", "canceled"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="bookings")
    source = models.CharField(max_length=20, blank=True, help_text="webhook or backfill (first seen).")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-invitee_created_at"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "invitee_uri"], name="uniq_booking_invitee"),
        ]
        indexes = [models.Index(fields=["connection", "email"])]

    def __str__(self) -> str:
        return f"{self.email} · {self.event_type_name or self.event_type_uri} · {self.status}"

    @property
    def is_no_show(self) -> bool:
        return bool(self.no_show_uri)


class Contact(models.Model):
    """The Brevo state one email should have, per connection; ``dirty`` until Brevo has it."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254)
    attributes = models.JSONField(default=dict, blank=True)
    list_ids = models.JSONField(default=list, blank=True)
    unlink_list_ids = models.JSONField(default=list, blank=True)
    booking_status = models.CharField(max_length=20, blank=True)
    current_booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    desired_hash = models.CharField(max_length=64, blank=True)
    pushed_hash = models.CharField(max_length=64, blank=True)
    dirty = models.BooleanField(default=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    brevo_id = models.BigIntegerField(null=True, blank=True)
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sms_number = models.CharField(
        max_length=20,
        blank=True,
        help_text="The SMS number (E.164) this contact's current booking gives, whether or not it keeps it.",
    )
    sms_since = models.DateTimeField(
        null=True, blank=True, help_text="Calendly creation time of this contact's first booking with that number."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "email"], name="uniq_contact_email"),
        ]
        indexes = [models.Index(fields=["connection", "sms_number"], name="contact_sms_number")]

    def __str__(self) -> str:
        return self.email


class HeldNumber(models.Model):
    """An SMS number Brevo holds for a contact this connection did not make: nobody here is sent it.

    Found the first time Brevo refuses the number (``duplicate_parameter``) and looking it up shows
    a holder outside the connection; remembered so later runs do not send it again. The admin's
    "Forget" action deletes it (once Brevo's other contact has let the number go) and the number's
    owner is sent it again.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="held_numbers")
    number = models.CharField(max_length=20, help_text="E.164")
    holder = models.CharField(max_length=254, blank=True, help_text="Brevo's contact holding it (email or id).")
    refused_for = models.EmailField(max_length=254, blank=True, help_text="The contact Brevo refused it for.")
    discovered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["connection", "number"], name="uniq_held_number")]

    def __str__(self) -> str:
        return f"{self.number} (held by {self.holder or 'another contact'})"


class SyncRun(models.Model):
    """One sync job: a backfill (or a resync of every contact), its window, progress and checkpoint.

    The admin's "Sync now", the gap backfill after a recreated webhook subscription and "Recompute
    and resend every contact" queue a row (``queued``) and a background job runs it
    (:mod:`calendly_sync.runtime.jobs`): never the request that asked, never the drain thread.
    ``manage.py sync_calendly`` runs its row in the foreground. Two partial unique indexes are the
    database's guarantee of one running job per connection, and of one queued job per connection
    and trigger. A running job beats its ``heartbeat_at`` every few seconds; one whose heartbeat
    stopped (its process died) is resumed from its checkpoint or, after repeated deaths, failed.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"
        INTERRUPTED = "interrupted", "interrupted"

    class Trigger(models.TextChoices):
        COMMAND = "command", "sync_calendly command"
        ADMIN = "admin", "Sync now (admin)"
        GAP_BACKFILL = "gap-backfill", "gap backfill (recreated webhook subscription)"
        RESYNC = "resync", "recompute and resend every contact"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sync_runs")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True)
    dry_run = models.BooleanField(default=False)
    trigger = models.CharField(max_length=30, choices=Trigger.choices, default=Trigger.COMMAND)
    requested_by = models.CharField(max_length=150, blank=True, help_text="The admin user who asked for it.")
    requested_at = models.DateTimeField(default=timezone.now, help_text="When it was queued.")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    options = models.JSONField(default=dict, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    runner = models.CharField(max_length=200, blank=True, help_text="Where it runs or ran: thread, process, task.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a runner started it.")
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection"], condition=models.Q(status="running"), name="one_running_sync_per_connection"
            ),
            models.UniqueConstraint(
                fields=["connection", "trigger"],
                condition=models.Q(status="queued"),
                name="one_queued_sync_per_connection_trigger",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connection} · {self.started_at:%Y-%m-%d %H:%M} · {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
