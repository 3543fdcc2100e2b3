"""Which Brevo automation events a Calendly fact produces, and what they carry. Pure functions.

Event names are public (users build Brevo automations on them): see README, "Brevo events".
One event per Calendly fact: the key is built from the fact, not from the delivery, so a
redelivered webhook, an overlapping backfill and the two halves of a reschedule all name the
same event and the outbox's unique key keeps it to one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calendly_sync.sync.observations import Observation

BOOKING_CREATED = "calendly_booking_created"
BOOKING_CANCELED = "calendly_booking_canceled"
BOOKING_RESCHEDULED = "calendly_booking_rescheduled"
NO_SHOW = "calendly_no_show"
NO_SHOW_REMOVED = "calendly_no_show_removed"
ALL_EVENTS = (BOOKING_CREATED, BOOKING_CANCELED, BOOKING_RESCHEDULED, NO_SHOW, NO_SHOW_REMOVED)


@dataclass(frozen=True)
class Fact:
    event_name: str
    fact_id: str  # what makes this fact unique (an invitee URI, a no-show URI, …)
    invitee_uri: str  # the booking whose data the event describes
    event_date: datetime | None


def facts_for(obs: Observation, webhook_event: str | None = None) -> list[Fact]:
    """The automation facts an observation proves.

    ``webhook_event`` is the delivery's event name; ``None`` means a backfill snapshot, which
    proves every fact visible in it (history sends events only with ``--with-events``).
    """
    facts: list[Fact] = []
    backfill = webhook_event is None

    if webhook_event == "invitee.created" or (backfill and not obs.is_reschedule_cancel):
        if obs.old_invitee_uri:
            facts.append(Fact(BOOKING_RESCHEDULED, obs.invitee_uri, obs.invitee_uri, obs.created_at))
        else:
            facts.append(Fact(BOOKING_CREATED, obs.invitee_uri, obs.invitee_uri, obs.created_at))

    if webhook_event == "invitee.canceled" or (backfill and obs.status == "canceled"):
        if obs.rescheduled:
            if obs.new_invitee_uri:  # the new half names the same fact; its data describes the event
                facts.append(Fact(BOOKING_RESCHEDULED, obs.new_invitee_uri, obs.new_invitee_uri, None))
        elif webhook_event == "invitee.canceled" or obs.status == "canceled":
            facts.append(Fact(BOOKING_CANCELED, obs.invitee_uri, obs.invitee_uri, obs.canceled_at or obs.observed_at))

    if obs.no_show is not None:
        if obs.no_show.present and (webhook_event in ("invitee_no_show.created", None)):
            facts.append(Fact(NO_SHOW, obs.no_show.uri or obs.invitee_uri, obs.invitee_uri, obs.no_show.at))
        elif not obs.no_show.present and webhook_event == "invitee_no_show.deleted":
            facts.append(
                Fact(
                    NO_SHOW_REMOVED, f"{obs.invitee_uri}@{obs.no_show.at.isoformat()}", obs.invitee_uri, obs.no_show.at
                )
            )
    return facts


def fact_key(connection_id: int, fact: Fact) -> str:
    return hashlib.sha256(f"{connection_id}|{fact.event_name}|{fact.fact_id}".encode()).hexdigest()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with ``Z`` for UTC, as Calendly writes its times; None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def event_properties(booking: Any, previous: Any | None = None) -> dict[str, Any]:
    """Properties of one event (Brevo keys: letters, digits, ``-`` and ``_`` only)."""
    props: dict[str, Any] = {
        "event_type_name": booking.event_type_name,
        "event_type_uri": booking.event_type_uri,
        "event_uri": booking.event_uri,
        "invitee_uri": booking.invitee_uri,
        "start_time": iso(booking.start_time),
        "end_time": iso(booking.end_time),
        "timezone": booking.timezone,
        "location": booking.location,
        "host_name": booking.host_name,
        "host_email": booking.host_email,
    }
    if booking.status == "canceled" and not booking.rescheduled:
        props.update(
            cancel_reason=booking.cancel_reason, canceled_by=booking.canceled_by, canceler_type=booking.canceler_type
        )
    if previous is not None:
        props.update(
            old_start_time=iso(previous.start_time),
            new_start_time=iso(booking.start_time),
            old_invitee_uri=previous.invitee_uri,
        )
    for key, value in (booking.tracking or {}).items():
        if key.startswith("utm_") or key == "salesforce_uuid":
            props[key] = value
    return {k: v for k, v in props.items() if v not in (None, "")}
