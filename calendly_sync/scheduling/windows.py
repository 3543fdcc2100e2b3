"""Splitting a range of open times into the windows Calendly accepts, and merging the answers. Pure.

Why: ``GET /event_type_available_times`` spans at most 31 days per call (7 before July 2026, and a
stale account or proxy may still say 7). A caller asking for a longer range gets it split into
consecutive windows, fetched in order and merged into one list ordered by start time; a time on the
boundary of two windows is listed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

_LIMIT = re.compile(r"no (?:greater|longer|more) than (\d+) days?", re.IGNORECASE)


def split_range(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Consecutive ``(start, end)`` windows of at most ``days`` covering ``start``–``end`` (none if empty)."""
    if days < 1:
        raise ValueError("a window is at least one day")
    step = timedelta(days=days)
    windows = []
    cursor = start
    while cursor < end:
        stop = end if end - cursor <= step else cursor + step  # never past ``end``: no overflow near year 9999
        windows.append((cursor, stop))
        cursor = stop
    return windows


def merge_slots(pages: Iterable[Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """One list of open times from several windows' answers: ordered by start time, each time once."""
    seen: dict[str, dict[str, Any]] = {}
    for page in pages:
        for slot in page:
            start = slot.get("start_time")
            if isinstance(start, str) and start not in seen:
                seen[start] = {
                    "start_time": start,
                    "status": slot.get("status") or "available",
                    "invitees_remaining": slot.get("invitees_remaining"),
                }
    return sorted(seen.values(), key=lambda slot: _instant(slot["start_time"]))


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=None)  # unreadable: last, still listed


def window_limit(message: str) -> int | None:
    """The span Calendly says it accepts ("date range can be no greater than 7 days" → 7), if it says one."""
    match = _LIMIT.search(message or "")
    return int(match.group(1)) if match and int(match.group(1)) >= 1 else None
