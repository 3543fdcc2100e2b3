"""The invitee's fields, as Calendly describes them: declared once, here, and derived everywhere else.

``sync.observations.Observation`` (one snapshot of an invitee at a Calendly time) extends
:class:`InviteeFields`; ``sync.reducer.BookingState`` (what we believe) extends
:class:`BookingFields`; the ``Booking`` model derives its columns from :class:`BookingFields`
(:func:`stored_columns`), and the reducer its merge groups (:func:`fields_merged_as`). Adding a
Calendly field is one line here and the line of ``observe_invitee`` that reads it, plus a
migration. Framework-free, so the pure sync core and the models can both build on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True)
class Column:
    """How a field is stored in the ``Booking`` table: ``calendly_sync.models`` derives the model
    field from it (so this module needs no Django)."""

    kind: Literal["char", "url", "email", "text", "datetime", "bool", "list", "dict"]
    max_length: int | None = None
    required: bool = False  # not blank
    choices: tuple[str, ...] = ()
    db_index: bool = False
    help_text: str = ""


#: The keys of an invitee's ``tracking`` (UTM parameters and Salesforce's id), in Calendly's order.
TRACKING_KEYS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")


#: How the reducer merges a field of two observations (see :mod:`calendly_sync.sync.reducer`).
Merge = Literal["key", "data", "cancel", "status", "flag", "own"]


def invitee_field(default: Any, column: Column | None, merge: Merge) -> Any:
    """A dataclass field carrying its storage column and its merge rule."""
    metadata = {"column": column, "merge": merge}
    if isinstance(default, (dict, list)):
        return field(default_factory=type(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class InviteeFields:
    """An invitee as Calendly describes it: every field declared once, here.

    :class:`Observation` (one snapshot at a Calendly time) and the reducer's ``BookingState``
    (what we believe) extend it; the ``Booking`` model derives its columns and the reducer its
    merge groups from each field's metadata. Adding a Calendly field is one line here (and its
    line in :func:`observe_invitee` that reads it), plus a migration.
    """

    invitee_uri: str = invitee_field("", Column("url", 300, required=True), "key")
    email: str = invitee_field("", Column("email", 254, required=True, db_index=True), "data")
    status: str = invitee_field("active", Column("char", 10, required=True, choices=("active", "canceled")), "status")
    rescheduled: bool = invitee_field(False, Column("bool"), "flag")
    old_invitee_uri: str = invitee_field("", Column("url", 300), "cancel")
    new_invitee_uri: str = invitee_field("", Column("url", 300), "cancel")
    event_uri: str = invitee_field("", Column("url", 300), "data")
    event_type_uri: str = invitee_field("", Column("url", 300), "data")
    event_type_name: str = invitee_field("", Column("char", 200), "data")
    name: str = invitee_field("", Column("char", 300), "data")
    first_name: str = invitee_field("", Column("char", 200), "data")
    last_name: str = invitee_field("", Column("char", 200), "data")
    timezone: str = invitee_field("", Column("char", 64), "data")
    text_reminder_number: str = invitee_field("", Column("char", 64), "data")
    start_time: datetime | None = invitee_field(None, Column("datetime"), "data")
    end_time: datetime | None = invitee_field(None, Column("datetime"), "data")
    location: str = invitee_field("", Column("char", 500), "data")
    host_name: str = invitee_field("", Column("char", 200), "data")
    host_email: str = invitee_field("", Column("email", 254), "data")
    cancel_reason: str = invitee_field("", Column("text"), "cancel")
    canceled_by: str = invitee_field("", Column("char", 200), "cancel")
    canceler_type: str = invitee_field("", Column("char", 20), "cancel")
    canceled_at: datetime | None = invitee_field(None, Column("datetime"), "cancel")
    questions_and_answers: tuple[dict[str, Any], ...] = invitee_field((), Column("list"), "data")
    tracking: dict[str, Any] = invitee_field({}, Column("dict"), "data")

    @property
    def is_reschedule_cancel(self) -> bool:
        return self.status == "canceled" and self.rescheduled


@dataclass(frozen=True, kw_only=True)
class BookingFields(InviteeFields):
    """What the connector keeps about one invitee besides Calendly's snapshot: the no-show fact and
    the Calendly times that make the reducer order-proof."""

    no_show_uri: str = invitee_field("", Column("url", 300), "own")
    no_show_at: datetime | None = invitee_field(None, Column("datetime"), "own")
    no_show_observed_at: datetime | None = invitee_field(
        None, Column("datetime", help_text="Calendly time of the newest no-show fact applied."), "own"
    )
    invitee_created_at: datetime | None = invitee_field(
        None, Column("datetime", help_text="Calendly's created_at."), "own"
    )
    calendly_updated_at: datetime | None = invitee_field(  # newest observation applied
        None, Column("datetime", help_text="Calendly time of the newest observation applied."), "own"
    )

    @property
    def is_no_show(self) -> bool:
        return bool(self.no_show_uri)


def fields_merged_as(cls: type, *merges: Merge) -> tuple[str, ...]:
    """Names of the fields of a dataclass built on :class:`InviteeFields` merged by these rules."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("merge") in merges)


def stored_columns(cls: type) -> list[tuple[str, Column]]:
    """(name, column) of every field of a dataclass that the ``Booking`` table stores."""
    return [(f.name, f.metadata["column"]) for f in fields(cls) if f.metadata.get("column") is not None]
