"""Turn one Calendly booking into the Brevo contact attributes it should set.

Everything here is a pure function of its arguments: no database, no Django, no network. The sync
code (webhooks, backfill, admin previews, tests) can therefore call it freely and compare results.

Why the rules look the way they do (see ``shared/reference/calendly-api.md`` §5, §13.9–10 and
``brevo-api.md`` §4, §10):

* Calendly custom questions have no ids and hosts rename them, so questions are matched by text,
  leniently but never by guesswork: an ambiguous key produces a warning, not a value.
* Brevo rejects a whole upsert for one bad phone number ("Invalid phone number") and may reject or
  silently ignore badly typed values. A bad value is therefore dropped *with a warning* so the rest
  of the contact still syncs; nothing in here raises for bad data.
* An empty string would erase what Brevo already holds, so empty values are omitted, never sent.
* ``EMAIL`` is the contact's identifier; sending it as an attribute equal to the current address
  gives a 400, so it never appears in the attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calendly_sync.sync.phones import normalize_phone, region_for_timezone

__all__ = [
    "ATTRIBUTE_TYPES",
    "DEFAULT_RULES",
    "KNOWN_SOURCES",
    "QUESTION_PREFIX",
    "FieldRule",
    "MappingResult",
    "format_date",
    "infer_type",
    "map_fields",
    "match_question",
    "split_name",
]

AttributeValue = str | int | float | bool

ATTRIBUTE_TYPES = ("text", "date", "float", "boolean", "phone")

#: Brevo's phone-typed identifier attributes: Brevo validates them as phone numbers whatever the
#: declared type, so they are always normalised to E.164.
PHONE_ATTRIBUTES = frozenset({"SMS", "WHATSAPP", "LANDLINE_NUMBER"})

QUESTION_PREFIX = "question:"


@dataclass(frozen=True)
class FieldRule:
    """One mapping line: where a value comes from and which Brevo attribute receives it.

    ``attribute_type`` defaults to ``"text"``; :func:`map_fields` treats that default as "not
    declared" and lets :func:`infer_type` pick ``date``/``phone`` from well-known attribute names,
    so the product page's ``scheduled_at: MEETING_DATE`` works without a type annotation.
    """

    source: str
    attribute: str
    attribute_type: str = "text"


@dataclass
class MappingResult:
    """The attributes to send, and why some configured ones were not (shown to the admin/logs)."""

    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


DEFAULT_RULES: tuple[FieldRule, ...] = (
    FieldRule("name", "FIRSTNAME"),
    FieldRule("event_type_name", "CALENDLY_EVENT_TYPE"),
    FieldRule("scheduled_at", "MEETING_DATE", "date"),
    FieldRule("status", "BOOKING_STATUS"),
)

# -- sources ---------------------------------------------------------------------------------------

#: Public source name → booking attribute it reads. Names are part of the config format.
_SIMPLE_SOURCES: dict[str, str] = {
    # invitee
    "first_name": "first_name",  # handled specially (falls back to splitting ``name``)
    "last_name": "last_name",  # idem
    "timezone": "timezone",
    "text_reminder_number": "text_reminder_number",
    "created_at": "invitee_created_at",
    "cancel_reason": "cancel_reason",
    # event
    "event_type_name": "event_type_name",
    "event_type_uri": "event_type_uri",
    "scheduled_at": "start_time",
    "start_time": "start_time",
    "start": "start_time",
    "end_time": "end_time",
    "end": "end_time",
    "location": "location",
    "host": "host_name",
    "host_name": "host_name",
    "host_email": "host_email",
}
_TRACKING_KEYS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")

#: Every accepted source name except ``question:<key>`` (for admin forms and config validation).
KNOWN_SOURCES: frozenset[str] = frozenset(
    {"email", "name", "status", *_SIMPLE_SOURCES, *(f"tracking.{k}" for k in _TRACKING_KEYS)}
)


# -- small pure helpers ---------------------------------------------------------------------------


def infer_type(attribute: str, declared: str | None = None) -> str:
    """The Brevo type to coerce a value to: the declared one if any, else guessed from the name.

    Guessing matters because the YAML config has no type column: ``MEETING_DATE`` must be sent as
    ``YYYY-MM-DD`` and ``SMS`` as E.164, or Brevo rejects/ignores the value.
    """
    if declared:
        declared = declared.strip().lower()
        if declared in ATTRIBUTE_TYPES:
            return declared
    name = (attribute or "").strip().upper()
    if name in PHONE_ATTRIBUTES:
        return "phone"
    if name == "MEETING_DATE" or name.endswith("_DATE"):
        return "date"
    return "text"


def brevo_attribute_types(rules: Sequence[FieldRule]) -> dict[str, str]:
    """The Brevo attributes these rules write, with the type each must be created with in Brevo."""
    wanted: dict[str, str] = {}
    for rule in rules:
        kind = infer_type(rule.attribute, rule.attribute_type)
        if rule.source == "email" or rule.attribute.upper() == "EMAIL":
            continue
        wanted[rule.attribute] = {"date": "date", "float": "float", "boolean": "boolean"}.get(kind, "text")
        if rule.source == "name" and rule.attribute == "FIRSTNAME":
            wanted.setdefault("LASTNAME", "text")
    return wanted


def split_name(full: str) -> tuple[str, str]:
    """Split a single-field name: first token → first name, the rest → last name.

    Calendly sends ``first_name``/``last_name`` as null unless the event type asks for them
    separately, so this is the usual source of Brevo's FIRSTNAME/LASTNAME. A single word yields an
    empty last name (which the caller omits rather than sending "").
    """
    parts = (full or "").split()
    if not parts:
        return "", ""
    return parts[0], " ".join(parts[1:])


def _zone(tz: str | None) -> ZoneInfo | None:
    """A ZoneInfo for an IANA name, tolerating the "America/New York" spelling; None if unknown."""
    if not tz or not isinstance(tz, str):
        return None
    for candidate in (tz.strip(), tz.strip().replace(" ", "_")):
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    return None


def format_date(value: datetime, tz: str | None) -> str:
    """``YYYY-MM-DD`` as the invitee saw it (their time zone), else in UTC.

    A 20:00 Chicago meeting is 01:00 UTC the next day; the contact expects the date they booked.
    Naive datetimes are taken as UTC (Calendly timestamps are UTC).
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = _zone(tz)
    return value.astimezone(zone or UTC).date().isoformat()


# -- questions -------------------------------------------------------------------------------------


def _norm_text(value: Any) -> str:
    return " ".join(str(value or "").split()).casefold()


def match_question(key: str, questions_and_answers: Iterable[object]) -> tuple[dict[str, Any] | None, str | None]:
    """Find the answer a ``question:<key>`` rule refers to: ``(qa, None)``, ``(None, warning)`` or ``(None, None)``.

    Calendly questions have no ids and hosts reword them, so a short key like ``company`` may stand
    for "Company name". An exact (trimmed, case-insensitive) text match wins; otherwise the key must
    occur as whole words in exactly ONE question. Several candidates give a warning naming them:
    picking one could silently put a company size into COMPANY. No match is not an error (questions
    are often absent; the attribute is simply left alone).
    """
    wanted = _norm_text(key)
    if not wanted:
        return None, None
    qas = [qa for qa in (questions_and_answers or []) if isinstance(qa, Mapping) and qa.get("question")]
    phrase = " ".join(re.sub(r"[_\-]+", " ", wanted).split())

    exact = [qa for qa in qas if _norm_text(qa["question"]) in (wanted, phrase)]
    if len(exact) == 1:
        return dict(exact[0]), None
    if len(exact) > 1:
        return None, _ambiguous(key, exact)

    if not phrase:
        return None, None
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?!\w)")
    partial = [qa for qa in qas if pattern.search(_norm_text(qa["question"]))]
    if len(partial) == 1:
        return dict(partial[0]), None
    if len(partial) > 1:
        return None, _ambiguous(key, partial)
    return None, None


def _ambiguous(key: str, candidates: Iterable[Mapping[str, Any]]) -> str:
    names = ", ".join(repr(str(qa["question"]).strip()) for qa in candidates)
    return (
        f"question key {key!r} matches several questions ({names}); not mapped — use the full question text as the key"
    )


# -- value coercion --------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _to_text(value: Any, *, multi_select: bool) -> str | None:
    if isinstance(value, datetime):
        return _iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value if not _is_blank(v)]
        return ", ".join(parts) or None
    if isinstance(value, Mapping):
        return None
    text = str(value)
    if multi_select and "\n" in text:
        # Calendly joins checkbox answers with "\n"; a text attribute reads better as a list.
        return ", ".join(p.strip() for p in text.splitlines() if p.strip()) or None
    return text.strip() or None


def _to_date(value: Any, tz: str | None) -> str | None:
    if isinstance(value, datetime):
        return format_date(value, tz)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    return format_date(parsed, tz)


def _to_float(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    text = str(value).strip()
    if not _NUMBER_RE.match(text):
        return None
    if "." in text:
        return float(text)
    return int(text)


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _location_text(value: Any) -> Any:
    """Calendly's location is an object; the Booking model flattens it, a raw dict is tolerated."""
    if isinstance(value, Mapping):
        for key in ("location", "join_url", "type"):
            if value.get(key):
                return value[key]
        return None
    return value


# -- the mapping -----------------------------------------------------------------------------------


def _get(booking: Any, name: str) -> Any:
    return getattr(booking, name, None)


def _clean(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def map_fields(booking: Any, rules: Sequence[FieldRule], *, booking_status: str) -> MappingResult:
    """Brevo attributes for one booking, following ``rules`` in order; never raises for bad data.

    ``booking`` is a :class:`~calendly_sync.models.Booking` or any object with the same attribute
    names. ``booking_status`` is the connector's own status (booked | cancelled | no_show), which is
    what automations segment on, rather than Calendly's raw active/canceled.

    When two rules target the same attribute, the later one with a value wins; a rule whose value is
    empty or invalid never erases a value another rule produced.
    """
    result = MappingResult()
    tz = _clean(_get(booking, "timezone")) or None
    explicit_targets = {(r.attribute or "").strip().upper() for r in rules}
    warned_tz = False

    for rule in rules:
        source = (rule.source or "").strip()
        attribute = (rule.attribute or "").strip().upper()
        if not attribute:
            result.warnings.append(f"source {source!r} has no Brevo attribute; skipped")
            continue
        source_key = source.casefold()

        # The email is the contact's identifier, not an attribute (Brevo 400s on EMAIL == current).
        if source_key == "email":
            continue
        if attribute == "EMAIL":
            result.warnings.append(
                f"{attribute}: the contact's email is its identifier and cannot be mapped from {source!r}; skipped"
            )
            continue

        declared = rule.attribute_type if rule.attribute_type and rule.attribute_type != "text" else None
        if declared and declared.strip().lower() not in ATTRIBUTE_TYPES:
            result.warnings.append(
                f"{attribute}: unknown attribute type {rule.attribute_type!r}; treated as {infer_type(attribute)}"
            )
            declared = None
        kind = infer_type(attribute, declared)

        multi_select = False
        if source_key.startswith(QUESTION_PREFIX):
            key = source[len(QUESTION_PREFIX) :].strip()
            qa, warning = match_question(key, _get(booking, "questions_and_answers") or [])
            if warning:
                result.warnings.append(f"{attribute}: {warning}")
            value = qa.get("answer") if qa else None
            multi_select = True
        elif source_key == "status":
            value = booking_status
        elif source_key == "name":
            if attribute == "FIRSTNAME" and kind == "text":
                first, last = _names(booking)
                if first:
                    result.attributes["FIRSTNAME"] = first
                if last and "LASTNAME" not in explicit_targets:
                    result.attributes["LASTNAME"] = last
                continue
            value = " ".join(_clean(_get(booking, "name")).split()) or " ".join(p for p in _names(booking) if p)
        elif source_key == "first_name":
            value = _names(booking)[0]
        elif source_key == "last_name":
            value = _names(booking)[1]
        elif source_key.startswith("tracking.") and source_key[len("tracking.") :] in _TRACKING_KEYS:
            tracking = _get(booking, "tracking")
            value = tracking.get(source_key[len("tracking.") :]) if isinstance(tracking, Mapping) else None
        elif source_key in _SIMPLE_SOURCES:
            value = _get(booking, _SIMPLE_SOURCES[source_key])
            if source_key == "location":
                value = _location_text(value)
        else:
            result.warnings.append(f"{attribute}: unknown source {source!r}; skipped")
            continue

        if _is_blank(value):
            continue  # never send "" (it would erase what Brevo holds)

        coerced: AttributeValue | None
        if kind == "phone":
            raw = _to_text(value, multi_select=False) or ""
            coerced = normalize_phone(raw, timezone=tz)
            if coerced is None:
                hint = (
                    ""
                    if raw.lstrip().startswith(("+", "00")) or region_for_timezone(tz)
                    else (" (no country code, and the invitee's time zone gives no country)")
                )
                result.warnings.append(f"{attribute}: {raw!r} is not a valid phone number{hint}; dropped")
                continue
        elif kind == "date":
            coerced = _to_date(value, tz)
            if coerced is None:
                result.warnings.append(f"{attribute}: {_show(value)} is not a date; dropped")
                continue
            has_time = isinstance(value, datetime) or (
                isinstance(value, str) and not re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", value)
            )
            if tz and has_time and not warned_tz and _zone(tz) is None:
                warned_tz = True
                result.warnings.append(f"time zone {tz!r} is unknown; dates are given in UTC")
        elif kind == "float":
            coerced = _to_float(value)
            if coerced is None:
                result.warnings.append(f"{attribute}: {_show(value)} is not a number; dropped")
                continue
        elif kind == "boolean":
            coerced = _to_bool(value)
            if coerced is None:
                result.warnings.append(f"{attribute}: {_show(value)} is not a yes/no value; dropped")
                continue
        else:
            coerced = _to_text(value, multi_select=multi_select)
            if coerced is None:
                continue
        result.attributes[attribute] = coerced

    return result


def _show(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _names(booking: Any) -> tuple[str, str]:
    """(first, last): Calendly's split fields when present, else the full name split on whitespace."""
    first = _clean(_get(booking, "first_name"))
    last = _clean(_get(booking, "last_name"))
    if first:
        return first, last
    split_first, split_last = split_name(_clean(_get(booking, "name")))
    return split_first, last or split_last


#: The product page's example mapping as (source, attribute, type) rows: the sandbox's default.
PRODUCT_PAGE_MAPPING: tuple[tuple[str, str, str], ...] = (
    ("name", "FIRSTNAME", "text"),
    ("question:company", "COMPANY", "text"),
    ("question:role", "JOB_TITLE", "text"),
    ("question:phone", "SMS", "phone"),
    ("event_type_name", "CALENDLY_EVENT_TYPE", "text"),
    ("scheduled_at", "MEETING_DATE", "date"),
    ("status", "BOOKING_STATUS", "text"),
)
