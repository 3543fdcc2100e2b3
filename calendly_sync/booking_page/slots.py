"""The booking page's decisions about time, as pure functions: the visitor's time zone, the dates
the page shows, and Calendly's open times grouped by the visitor's local day.

Why here and not in the view or the template: a time that is Monday 23:30 in New York is Tuesday
in London, so the grouping depends on the zone, and the edges (a zone name from a browser that
this server does not know, a date typed into the URL, daylight-saving days) are easier to get
right, and to test, without a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

#: Where times are shown when the visitor's zone is unknown (no JavaScript) or not one we know.
DEFAULT_TZ = "UTC"
#: How many days one page shows (one call to Calendly: it accepts 31 days per call).
DAYS_PER_PAGE = 14
#: How far ahead a visitor may page.
MAX_DAYS_AHEAD = 365


@cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names this server can convert to (the system's or ``tzdata``'s database)."""
    return frozenset(available_timezones())


@cache
def timezone_choices() -> tuple[str, ...]:
    """The zones a visitor can pick: ``UTC`` first, then the others in alphabetical order."""
    names = sorted(n for n in known_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/", "posix/")))
    return (DEFAULT_TZ, *names)


@dataclass(frozen=True)
class Zone:
    """The zone times are shown in, where it came from, and what to tell the visitor about it."""

    name: str
    given: bool  # the request named a zone (the detected one, or one picked)
    message: str = ""  # why the zone asked for is not the one used


def resolve_timezone(raw: str | None) -> Zone:
    """The zone named by ``raw`` (a ``tz`` parameter), or UTC with a message when it is not a known zone."""
    text = (raw or "").strip()
    if not text:
        return Zone(DEFAULT_TZ, given=False)
    if len(text) <= 64 and text in known_timezones():
        return Zone(text, given=True)
    shown = text if len(text) <= 64 else text[:61] + "…"
    return Zone(
        DEFAULT_TZ,
        given=True,
        message=f"“{shown}” is not a time zone we know, so times are shown in UTC. Pick your time zone below.",
    )


def parse_start(value: object) -> datetime | None:
    """An ISO 8601 start time (``2026-12-07T09:00:00Z``) as an aware UTC datetime, or None."""
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def utc_value(moment: datetime) -> str:
    """The form value of a start time: ISO 8601 in UTC with a ``Z`` (what Calendly returns)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_label(day: date) -> str:
    """``Monday 7 December 2026``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def time_label(moment: datetime) -> str:
    """``09:30``: 24-hour local time, unambiguous in every language."""
    return f"{moment:%H:%M}"


@dataclass(frozen=True)
class Slot:
    """One open time: its form value (UTC), and how the visitor reads it (local)."""

    value: str
    start: datetime  # local, in the page's zone
    label: str
    long_label: str  # for screen readers and the summary: "Monday 7 December 2026, 09:30"


@dataclass(frozen=True)
class Day:
    """The open times of one local day, in order."""

    date: date
    label: str
    slots: tuple[Slot, ...]


def group_by_day(slots: Iterable[Mapping[str, Any]], tz: str) -> list[Day]:
    """Calendly's open times (``{"start_time", "status"}``) grouped by the visitor's local day, in order.

    Times that are not ``available``, unreadable, or listed twice are left out.
    """
    zone = ZoneInfo(tz)
    seen: set[datetime] = set()
    starts: list[datetime] = []
    for slot in slots:
        if slot.get("status", "available") != "available":
            continue
        start = parse_start(slot.get("start_time"))
        if start is None or start in seen:
            continue
        seen.add(start)
        starts.append(start)
    days: dict[date, list[Slot]] = {}
    for start in sorted(starts):
        local = start.astimezone(zone)
        days.setdefault(local.date(), []).append(
            Slot(utc_value(start), local, time_label(local), moment_label(start, tz))
        )
    return [Day(day, day_label(day), tuple(items)) for day, items in days.items()]


@dataclass(frozen=True)
class Window:
    """The range of dates one page shows, with the dates of the pages before and after it."""

    first_day: date
    start: datetime  # aware; never before now
    end: datetime  # aware; the end of the last day shown
    previous: date | None  # None on the first page
    next: date | None  # None past MAX_DAYS_AHEAD

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=DAYS_PER_PAGE - 1)


def page_window(raw_from: str | None, now: datetime, tz: str) -> Window:
    """The dates to show: ``DAYS_PER_PAGE`` local days from ``?from=YYYY-MM-DD`` (today when absent,
    unreadable, past, or too far ahead)."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = today
    if raw_from:
        try:
            asked = date.fromisoformat(raw_from.strip()[:10])
        except ValueError:
            asked = today
        if today < asked <= today + timedelta(days=MAX_DAYS_AHEAD):
            first = asked
    start = max(datetime.combine(first, time.min, zone), now)
    end = datetime.combine(first + timedelta(days=DAYS_PER_PAGE), time.min, zone)
    previous = None
    if first > today:
        previous = max(today, first - timedelta(days=DAYS_PER_PAGE))
    following = first + timedelta(days=DAYS_PER_PAGE)
    return Window(
        first_day=first,
        start=start,
        end=end,
        previous=previous,
        next=following if following <= today + timedelta(days=MAX_DAYS_AHEAD) else None,
    )


def moment_label(moment: datetime, tz: str) -> str:
    """``Monday 7 December 2026, 09:30`` in the zone ``tz``."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{day_label(local.date())}, {time_label(local)}"


def meeting_label(start: datetime, end: datetime, tz: str) -> str:
    """``Monday 7 December 2026, 09:30–10:00 (Europe/London)`` for the confirmation."""
    zone = ZoneInfo(tz)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    until = time_label(local_end)
    if local_end.date() != local_start.date():
        until = f"{day_label(local_end.date())}, {until}"
    return f"{day_label(local_start.date())}, {time_label(local_start)}–{until} ({tz})"


def field_for_error(path: str, question_names: Sequence[str]) -> str | None:
    """The form field a scheduling error's path belongs to (``answers.Company name`` → ``q0``), or None.

    Questions are matched like the service matches answers: the exact text, else the same text
    ignoring case and spaces.
    """
    fixed = {
        "invitee.name": "name",
        "invitee.first_name": "name",
        "invitee.email": "email",
        "invitee.timezone": "tz",
        "start_time": "start_time",
        "location": "location",
        "location.kind": "location",
    }
    if path in fixed:
        return fixed[path]
    if path.startswith("answers."):
        asked = path[len("answers.") :]
        for i, name in enumerate(question_names):
            if name == asked:
                return question_field(i)
        folded = " ".join(asked.split()).casefold()
        for i, name in enumerate(question_names):
            if " ".join(name.split()).casefold() == folded:
                return question_field(i)
    return None


def question_field(index: int) -> str:
    """The form field name of the event type's ``index``-th question (question texts are not names)."""
    return f"q{index}"
