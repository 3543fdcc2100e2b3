"""Scheduling through a connection: its event types, their open times, bookings and single-use links.

Why one service under the doors: the REST API, a booking page and a command that writes booking
links into Brevo all need the same steps (pick the connection, resolve the event type, check the
request against it, count the booking against the plan, call Calendly, explain its refusal), so
they live here once and each door only translates the result.

Calls made while a person waits never wait out a ``429``: they raise :class:`QuotaExceeded` with
Calendly's reset as the time to retry (``wait_on_rate_limit=False``). A booking is sent once: a
``POST /invitees`` retried after a ``5xx`` could have booked the first time and would then be
refused as "slot taken", so a failure is reported instead.

A booking made here is not written to the database: it reaches Brevo like any other booking,
through Calendly's ``invitee.created`` webhook or the next ``sync_calendly``, which sends exactly
one ``calendly_booking_created`` event for it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from calendly_sync.calendly.client import CalendlyClient, uuid_from_uri
from calendly_sync.calendly.errors import (
    CalendlyAuthError,
    CalendlyError,
    CalendlyNotFound,
    CalendlyPermissionError,
    CalendlyRateLimited,
    CalendlyValidationError,
)
from calendly_sync.calendly.limits import AVAILABLE_TIMES_MAX_DAYS, EVENT_GUESTS_MAX
from calendly_sync.credentials.clients import MissingCredentials, calendly_client_for, identify
from calendly_sync.credentials.tokens import ReconnectRequired, TokenRefreshError
from calendly_sync.http import RetryPolicy
from calendly_sync.models import Connection
from calendly_sync.scheduling.answers import AnswerErrors, questions_of, validate_answers
from calendly_sync.scheduling.errors import (
    CalendlyUnavailable,
    ConnectionUnusable,
    Forbidden,
    InvalidRequest,
    MissingScope,
    NotFound,
    QuotaExceeded,
    SlotUnavailable,
)
from calendly_sync.scheduling.links import prefilled_url
from calendly_sync.scheduling.pacing import reserve_booking
from calendly_sync.scheduling.windows import merge_slots, split_range, window_limit
from calendly_sync.storable import text_problem, unstorable
from calendly_sync.sync.phones import normalize_phone

#: Reads while a person waits: a few quick retries of a 5xx, never a wait for a 429.
INTERACTIVE = RetryPolicy(max_retries=2, base_delay=0.2, max_delay=2.0, wait_on_rate_limit=False)
#: The booking itself: sent once (see the module docstring).
ONCE = RetryPolicy(max_retries=0, wait_on_rate_limit=False)

#: Longest range of open times one request may ask for (12 calls to Calendly at 31 days each).
MAX_RANGE_DAYS = 366

_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

log = logging.getLogger(__name__)


# -- the connection ---------------------------------------------------------------------------
def choose_connection(name: str | None) -> Connection:
    """The connection named, or the only enabled one; an unknown name or a choice to make is an error."""
    enabled = Connection.objects.filter(enabled=True).order_by("name")
    if name:
        problem = text_problem(name)
        if problem:  # a NUL from ?connection=%00: PostgreSQL would refuse the query (a 500)
            raise InvalidRequest.field("connection", f"the name {problem}")
        conn = Connection.objects.filter(name=name).first()
        if conn is None:
            known = ", ".join(enabled.values_list("name", flat=True)[:20]) or "none"
            raise InvalidRequest.field("connection", f"no connection is named {name!r} (enabled: {known})")
        if not conn.enabled:
            raise InvalidRequest.field("connection", f"the connection {name!r} is disabled")
        return conn
    names = list(enabled.values_list("name", flat=True)[:21])
    if not names:
        raise InvalidRequest.field("connection", "no connection is enabled")
    if len(names) > 1:
        listed = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
        raise InvalidRequest.field(
            "connection",
            f'several connections are enabled ({listed}): name one with ?connection=<name> or "connection" in the body',
        )
    return enabled.get()


def _client(connection: Connection, retry: RetryPolicy = INTERACTIVE) -> CalendlyClient:
    with calendly_errors("reach Calendly"):
        return calendly_client_for(connection, retry=retry)


@contextmanager
def calendly_errors(action: str) -> Iterator[None]:
    """Turn a failed Calendly call (or an unusable connection) into the scheduling error it means."""
    try:
        yield
    except (ReconnectRequired, MissingCredentials) as exc:
        raise ConnectionUnusable(str(exc)) from None
    except CalendlyAuthError as exc:
        raise ConnectionUnusable(f"Calendly rejected the connection's token, so it cannot {action}: {exc}") from None
    except CalendlyPermissionError as exc:
        if exc.missing_scopes:
            scopes = ", ".join(exc.missing_scopes)
            raise MissingScope(
                f"The connection's Calendly token lacks the scope {scopes}, needed to {action}. Reconnect "
                f"Calendly with it (OAuth: set CALENDLY_SCHEDULING_FEATURES=true first) or use a Personal Access "
                f"Token that has it.",
                exc.missing_scopes,
            ) from None
        raise Forbidden(f"Calendly refused to {action}: {exc.message or exc.title or 'permission denied'}") from None
    except CalendlyRateLimited as exc:
        wait = math.ceil(exc.reset_seconds) if exc.reset_seconds is not None else 60
        raise QuotaExceeded(
            f"Calendly's rate limit is reached ({exc.message or 'Too Many Requests'}); retry in {wait} s.",
            wait,
            "calendly",
        ) from None
    except (CalendlyError, TokenRefreshError) as exc:
        raise CalendlyUnavailable(f"Calendly could not {action} now: {exc}") from None


# -- event types ------------------------------------------------------------------------------
def describe_event_type(et: Mapping[str, Any]) -> dict[str, Any]:
    """An event type as the API shows it: what a booking form needs, nothing more."""
    locations = [dict(loc) for loc in et.get("locations") or [] if isinstance(loc, Mapping)]
    uri = str(et.get("uri") or "")
    return {
        "uri": uri,
        "uuid": uuid_from_uri(uri) if uri else "",
        "name": str(et.get("name") or ""),
        "slug": str(et.get("slug") or ""),
        "duration": et.get("duration") if isinstance(et.get("duration"), int) else None,
        "scheduling_url": str(et.get("scheduling_url") or ""),
        "locations": locations,
        "custom_questions": [q.as_dict() for q in questions_of(et)],
    }


def list_event_types(connection: Connection) -> list[dict[str, Any]]:
    """The connection's active event types (the organization's for an admin's token, else the user's)."""
    client = _client(connection)
    with calendly_errors("list the event types"):
        identify(connection, client)
        org, user = connection.calendly_organization_uri, connection.calendly_user_uri
        try:
            items = list(client.list_event_types(organization=org or None, user=None if org else user, active=True))
        except CalendlyPermissionError as exc:
            if exc.missing_scopes or not user:
                raise
            items = list(client.list_event_types(user=user, active=True))  # members may not list the org's
    records = []
    for et in items:
        if not et.get("uri") or not et.get("active", True):
            continue
        problem = unstorable(et)
        if problem:  # it could be neither shown (a lone surrogate fails the UTF-8 answer) nor booked
            log.warning("event type %r left out: its data from Calendly %s", et.get("uri"), problem)
            continue
        records.append(describe_event_type(et))
    return sorted(records, key=lambda r: (r["name"].casefold(), r["uri"]))


def event_type_id(ref: str, field_name: str = "event_type") -> str:
    """The UUID in an event type reference (a UUID or ``…/event_types/<uuid>``), or an error naming ``field_name``."""
    ref = (ref or "").strip()
    if "/" in ref:
        parts = [p for p in urlsplit(ref).path.split("/") if p]
        if len(parts) == 2 and parts[0] == "event_types" and _ID.match(parts[1]):
            return parts[1]
    elif _ID.match(ref):
        return ref
    raise InvalidRequest.field(
        field_name, "expected an event type UUID or URI (https://api.calendly.com/event_types/…)"
    )


def resolve_event_type(
    connection: Connection, ref: str, *, client: CalendlyClient | None = None, field_name: str = "event_type"
) -> dict[str, Any]:
    """Calendly's event type for ``ref`` (UUID or URI): it must exist and be active."""
    uuid = event_type_id(ref, field_name)
    client = client or _client(connection)
    with calendly_errors("read the event type"):
        try:
            et = client.get_event_type(uuid)
        except CalendlyNotFound:
            raise NotFound(f"Calendly has no event type {uuid}", {field_name: "not found"}) from None
    if not et.get("uri") or et.get("deleted_at"):
        raise NotFound(f"Calendly has no event type {uuid}", {field_name: "not found"})
    problem = unstorable(et)
    if problem:  # no page or answer could show it (a lone surrogate fails the UTF-8 encoding)
        raise NotFound(f"Calendly's event type {uuid} cannot be used: its data {problem}", {field_name: "unusable"})
    if et.get("active") is False:
        raise InvalidRequest.field(field_name, f"the event type {et.get('name') or uuid} is not active")
    return et


# -- open times -------------------------------------------------------------------------------
def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def available_times(
    connection: Connection, ref: str, start: datetime, end: datetime, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Open times of the event type between ``start`` and ``end``, fetched window by window, in order.

    A start in the past begins now. The windows are Calendly's 31 days; when Calendly says it accepts
    fewer ("no greater than 7 days"), the rest of the range is fetched in windows of that size.
    """
    now = now or timezone.now()
    start, end = max(_aware(start), now + timedelta(minutes=1)), _aware(end)
    if end <= start:
        raise InvalidRequest.field("end_time", "must be after start_time and in the future")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidRequest.field("end_time", f"the range may span at most {MAX_RANGE_DAYS} days")
    client = _client(connection)
    et = resolve_event_type(connection, ref, client=client, field_name="uuid")
    pages: list[list[dict[str, Any]]] = []
    days = AVAILABLE_TIMES_MAX_DAYS
    windows = split_range(start, end, days)
    with calendly_errors("list open times"):
        while windows:
            window_start, window_end = windows[0]
            try:
                pages.append(client.list_available_times(et["uri"], window_start, window_end))
            except CalendlyValidationError as exc:
                limit = window_limit(str(exc))
                if limit is not None and limit < days:
                    days = limit
                    windows = split_range(window_start, end, days)
                    continue
                errors = _calendly_fields(exc)
                text = "; ".join(f"{path}: {reason}" for path, reason in errors.items())
                raise InvalidRequest(f"Calendly refused the range: {text}", errors) from None
            windows.pop(0)
    return merge_slots(pages)


# -- bookings ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Invitee:
    """Who books: Calendly needs an email, an IANA time zone, and a name (or a first name)."""

    email: str
    timezone: str
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    text_reminder_number: str = ""


@dataclass(frozen=True)
class BookingRequest:
    """One booking, as a caller asks for it: answers keyed by question text."""

    event_type: str
    start_time: datetime
    invitee: Invitee
    answers: Mapping[str, Any] = field(default_factory=dict)
    location: Mapping[str, Any] | None = None  # {"kind": …, "location": …}
    tracking: Mapping[str, str | None] | None = None
    guests: Sequence[str] = ()


@dataclass(frozen=True)
class Booking:
    """What Calendly booked."""

    invitee_uri: str
    event_uri: str
    start_time: datetime
    end_time: datetime
    cancel_url: str
    reschedule_url: str


#: Calendly's parameter names → the request's field names, for its 400s.
_FIELDS = {"questions_and_answers": "answers", "event_guests": "guests"}


def _check_invitee(request: BookingRequest, now: datetime) -> dict[str, Any]:
    """Calendly's ``invitee`` object, or an error naming the field."""
    inv = request.invitee
    try:
        ZoneInfo(inv.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest.field("invitee.timezone", f"{inv.timezone!r} is not an IANA time zone") from None
    if not (inv.name.strip() or inv.first_name.strip()):
        raise InvalidRequest.field("invitee.name", "a name (or a first name) is required")
    if _aware(request.start_time) <= now:
        raise InvalidRequest.field("start_time", "must be in the future")
    if len(request.guests) > EVENT_GUESTS_MAX:
        raise InvalidRequest.field("guests", f"at most {EVENT_GUESTS_MAX} guests")
    body: dict[str, Any] = {"email": inv.email, "timezone": inv.timezone}
    name = inv.name.strip() or " ".join(p for p in (inv.first_name.strip(), inv.last_name.strip()) if p)
    body["name"] = name
    if inv.first_name.strip():
        body["first_name"] = inv.first_name.strip()
    if inv.last_name.strip():
        body["last_name"] = inv.last_name.strip()
    if inv.text_reminder_number.strip():
        phone = normalize_phone(inv.text_reminder_number, timezone=inv.timezone)
        if phone is None:
            raise InvalidRequest.field("invitee.text_reminder_number", "not a valid phone number")
        body["text_reminder_number"] = phone
    return body


def _check_location(et: Mapping[str, Any], location: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if location is None:
        return None
    kinds = [str(loc.get("kind")) for loc in et.get("locations") or [] if isinstance(loc, Mapping) and loc.get("kind")]
    kind = str(location.get("kind") or "")
    if kind not in kinds:
        offered = ", ".join(kinds) or "none"
        raise InvalidRequest.field(
            "location.kind", f"{kind!r} is not a location of this event type (it offers: {offered})"
        )
    out: dict[str, Any] = {"kind": kind}
    if location.get("location"):
        out["location"] = str(location["location"])
    return out


def _calendly_fields(exc: CalendlyValidationError) -> dict[str, str]:
    """Calendly's 400 details as ``{field path: reason}``, in the request's own field names."""
    details = [d for d in exc.details if isinstance(d, dict)] or [{"parameter": "", "message": exc.message}]
    errors: dict[str, str] = {}
    for detail in details:
        param = str(detail.get("parameter") or "")
        head = param.split(".")[0]
        path = _FIELDS.get(head, head) + param[len(head) :] if param else "request"
        errors[path] = str(detail.get("message") or exc.message or "refused")
    return errors


def _refusal(exc: CalendlyValidationError, start: datetime) -> InvalidRequest | SlotUnavailable:
    """Calendly's 400 on a booking, as the error it means (the start time: the slot is gone)."""
    errors = _calendly_fields(exc)
    if "start_time" in errors:
        when = _aware(start).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return SlotUnavailable(
            f"{when} is no longer available for this event type ({errors['start_time']}): pick another time.",
            {"start_time": errors["start_time"]},
        )
    text = "; ".join(f"{path}: {reason}" for path, reason in errors.items())
    return InvalidRequest(f"Calendly refused the booking: {text}", errors)


def book(connection: Connection, request: BookingRequest, *, now: datetime | None = None) -> Booking:
    """Check the request against the event type, count it against the plan, and book it at Calendly."""
    now = now or timezone.now()
    invitee = _check_invitee(request, now)
    client = _client(connection)
    with calendly_errors("book"):
        identify(connection, client)  # the quota is counted per Calendly user
    et = resolve_event_type(connection, request.event_type, client=client)
    try:
        answers = validate_answers(questions_of(et), request.answers, timezone=request.invitee.timezone)
    except AnswerErrors as exc:
        raise InvalidRequest(str(exc), exc.errors) from None
    location = _check_location(et, request.location)
    reserve_booking(connection, now=now)
    once = _client(connection, ONCE)
    with calendly_errors("book"):
        try:
            inv = once.create_invitee(
                et["uri"],
                request.start_time,
                invitee,
                questions_and_answers=answers,
                location=location,
                tracking=dict(request.tracking) if request.tracking else None,
                event_guests=list(request.guests) or None,
            )
        except CalendlyValidationError as exc:
            raise _refusal(exc, request.start_time) from None
        except CalendlyNotFound:
            raise NotFound("Calendly no longer has this event type", {"event_type": "not found"}) from None
    if not inv.get("uri"):
        raise CalendlyUnavailable("Calendly answered the booking without an invitee")
    start = _aware(request.start_time)
    minutes = et.get("duration")
    try:
        end = start + timedelta(minutes=minutes if isinstance(minutes, int) and minutes > 0 else 0)
    except OverflowError:
        end = start
    return Booking(
        invitee_uri=str(inv["uri"]),
        event_uri=str(inv.get("event") or ""),
        start_time=start,
        end_time=end,
        cancel_url=str(inv.get("cancel_url") or ""),
        reschedule_url=str(inv.get("reschedule_url") or ""),
    )


# -- single-use links -------------------------------------------------------------------------
def create_link(
    connection: Connection,
    event_type: Mapping[str, Any],
    *,
    prefill: Mapping[str, str | None] | None = None,
    tracking: Mapping[str, str | None] | None = None,
    client: CalendlyClient | None = None,
) -> str:
    """A single-use booking URL (``max_event_count: 1``) for a resolved event type, pre-filled.

    For many links (one per contact), resolve the event type once and pass one ``client``.
    """
    client = client or _client(connection)
    with calendly_errors("create a scheduling link"):
        link = client.create_scheduling_link(str(event_type["uri"]), max_event_count=1)
    url = link.get("booking_url")
    if not isinstance(url, str) or not url:
        raise CalendlyUnavailable("Calendly answered the scheduling link without a booking_url")
    return prefilled_url(url, prefill=prefill, tracking=tracking)


def scheduling_link(
    connection: Connection,
    ref: str,
    *,
    prefill: Mapping[str, str | None] | None = None,
    tracking: Mapping[str, str | None] | None = None,
) -> str:
    """A single-use, pre-filled booking URL for the event type ``ref`` (UUID or URI)."""
    client = _client(connection)
    et = resolve_event_type(connection, ref, client=client)
    return create_link(connection, et, prefill=prefill, tracking=tracking, client=client)
