"""Turn what Calendly says (a webhook payload or an API invitee) into one observation.

Webhooks and backfill are two doors to the same room: both produce an :class:`Observation` and
hand it to the reducer, so nothing about state is decided by where a fact came from.
Pure functions over plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from calendly_sync.calendly.invitee import InviteeFields
from calendly_sync.storable import unstorable


class MalformedPayload(ValueError):
    """A payload that lacks what an invitee observation needs (e.g. no invitee URI)."""


def parse_time(value: Any) -> datetime | None:
    """Calendly times are ISO 8601 UTC (``2026-08-22T17:13:17.150860Z``)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedPayload(f"not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NoShowFact:
    """A no-show mark (present=True) or its removal (present=False) at a Calendly time."""

    present: bool
    at: datetime
    uri: str = ""


@dataclass(frozen=True, kw_only=True)
class Observation(InviteeFields):
    """An invitee as Calendly described it at ``observed_at`` (Calendly's own clock)."""

    observed_at: datetime
    created_at: datetime | None = None
    no_show: NoShowFact | None = None  # None: this observation says nothing about no-shows
    source: str = "webhook"
    warnings: tuple[str, ...] = ()  # optional parts of the payload that had an unexpected shape and were ignored


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def describe_location(location: Any) -> str:
    """One readable string for Calendly's polymorphic location object."""
    if not isinstance(location, dict):
        return _str(location)
    for key in ("location", "join_url"):
        if location.get(key):
            return _str(location[key])
    return _str(location.get("type"))


def observe_invitee(
    invitee: object,
    event: dict[str, Any] | None = None,
    *,
    source: str = "webhook",
    event_name: str | None = None,
    envelope_created_at: Any = None,
) -> Observation:
    """Build an observation from an invitee object and its scheduled event.

    ``event`` defaults to the ``scheduled_event`` embedded in webhook payloads. ``event_name``
    (the webhook's ``event``) decides what the delivery says about no-shows: a
    ``invitee_no_show.deleted`` delivery is a removal dated by its envelope.
    """
    if not isinstance(invitee, dict):
        raise MalformedPayload("payload is not an object")
    # No database can store a NUL or an unpaired surrogate (valid JSON escapes Calendly never means):
    # this invitee is refused, not the batch its insert would fail.
    problem = unstorable(invitee) or (unstorable(event) if event is not None else None)
    if problem:
        raise MalformedPayload(f"payload {problem}")
    uri = _str(invitee.get("uri"))
    email = _str(invitee.get("email")).lower()
    if not uri:
        raise MalformedPayload("payload.uri (the invitee URI) is missing")
    if not email:
        raise MalformedPayload("payload.email is missing")
    warnings: list[str] = []
    if event is None:
        event = _object(invitee, "scheduled_event", warnings)
    created_at = parse_time(invitee.get("created_at"))
    updated_at = parse_time(invitee.get("updated_at"))
    envelope_at = parse_time(envelope_created_at)
    cancellation = _object(invitee, "cancellation", warnings)
    status = "canceled" if _str(invitee.get("status")) == "canceled" or event_name == "invitee.canceled" else "active"
    no_show_obj = invitee.get("no_show")
    no_show: NoShowFact | None = None
    if event_name == "invitee_no_show.deleted":
        at = envelope_at or updated_at or created_at
        if at is not None:
            no_show = NoShowFact(False, at)
    elif isinstance(no_show_obj, dict) and no_show_obj.get("uri"):
        at = _optional_time(no_show_obj.get("created_at"), "no_show.created_at", warnings) or envelope_at or updated_at
        if at is not None:
            no_show = NoShowFact(True, at, _str(no_show_obj.get("uri")))
    elif "no_show" in invitee and no_show_obj is None and source == "backfill" and updated_at is not None:
        # A fetched invitee with no no-show mark: "not a no-show" as of its updated_at.
        no_show = NoShowFact(False, updated_at)

    # The Calendly time this snapshot was true at: its newest own timestamp (the envelope's too for
    # a webhook, whose delivery time is a fact's time for no-show removals).
    known = [
        t
        for t in (
            updated_at,
            created_at,
            _optional_time(cancellation.get("created_at"), "cancellation.created_at", warnings),
            envelope_at if event_name else None,
        )
        if t is not None
    ]
    if not known:
        raise MalformedPayload("payload has neither updated_at nor created_at")
    observed_at = max(known)

    memberships = _sequence(event, "scheduled_event.event_memberships", "event_memberships", warnings)
    host = memberships[0] if memberships and isinstance(memberships[0], dict) else {}
    qas = _sequence(invitee, "questions_and_answers", "questions_and_answers", warnings)
    return Observation(
        invitee_uri=uri,
        email=email,
        observed_at=observed_at,
        status=status,
        event_uri=_str(invitee.get("event") or event.get("uri")),
        event_type_uri=_str(event.get("event_type")),
        event_type_name=_str(event.get("name")),
        name=_str(invitee.get("name")),
        first_name=_str(invitee.get("first_name")),
        last_name=_str(invitee.get("last_name")),
        timezone=_str(invitee.get("timezone")),
        text_reminder_number=_str(invitee.get("text_reminder_number")),
        rescheduled=bool(invitee.get("rescheduled")),
        old_invitee_uri=_str(invitee.get("old_invitee")),
        new_invitee_uri=_str(invitee.get("new_invitee")),
        start_time=_optional_time(event.get("start_time"), "scheduled_event.start_time", warnings),
        end_time=_optional_time(event.get("end_time"), "scheduled_event.end_time", warnings),
        location=describe_location(event.get("location")),
        host_name=_str(host.get("user_name")),
        host_email=_str(host.get("user_email")),
        cancel_reason=_str(cancellation.get("reason")),
        canceled_by=_str(cancellation.get("canceled_by")),
        canceler_type=_str(cancellation.get("canceler_type")),
        canceled_at=_optional_time(cancellation.get("created_at"), "cancellation.created_at", [])
        if status == "canceled"
        else None,
        created_at=created_at,
        questions_and_answers=tuple(q for q in qas if isinstance(q, dict)),
        tracking=dict(_object(invitee, "tracking", warnings)),
        no_show=no_show,
        source=source,
        warnings=tuple(warnings),
    )


# Optional parts of a payload: an unexpected shape is ignored with a warning, so the rest of the
# invitee (and its contact) still syncs. Only what identifies and dates the invitee is required.


def _object(parent: dict[str, Any], key: str, warnings: list[str]) -> dict[str, Any]:
    value = parent.get(key)
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        return value
    warnings.append(f"payload.{key} is {type(value).__name__}, not an object: ignored")
    return {}


def _sequence(parent: dict[str, Any], where: str, key: str, warnings: list[str]) -> list[Any]:
    value = parent.get(key)
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    warnings.append(f"payload.{where} is {type(value).__name__}, not a list: ignored")
    return []


def _optional_time(value: Any, where: str, warnings: list[str]) -> datetime | None:
    try:
        return parse_time(value)
    except MalformedPayload:
        warnings.append(f"payload.{where} is not an ISO 8601 time ({str(value)[:40]!r}): ignored")
        return None
