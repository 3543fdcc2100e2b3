"""Calendly's documented per-endpoint limits for scheduling, and the pure decision built on them.

Why a module of its own, at the bottom: the limits are facts about Calendly (like the webhook
vocabulary in ``events.py``), read by the ``Connection`` model (its plan choices), by the
scheduling service (its own pacing, so a booking past the plan's quota is refused before Calendly
is called) and by the doctor. Declared once, here.

Sources (checked November 2026):

* ``POST /invitees`` (Create Event Invitee) quotas per user and billing tier:
  https://developer.calendly.com/api-docs/overview/rate-limits and the release note of
  2026-04-15 (https://developer.calendly.com/release-notes/2026/4/15): trial 5 a day; paid
  non-Enterprise 10 a minute, 50 an hour and 100 a day; Enterprise 500 a minute. Since 2026-11-03
  the endpoint is on every plan, Free included, "subject to endpoint-specific rate limits"
  (https://developer.calendly.com/release-notes/2026/11/3), but the table has no Free row: a Free
  account is paced like a paid non-Enterprise one, and Calendly's own ``429`` says the rest.
* ``GET /event_type_available_times`` accepts at most 31 days per request since 2026-07-09
  (https://developer.calendly.com/release-notes/2026/7/9), 7 before.
* ``POST /invitees`` takes at most 10 ``event_guests`` (Scheduling API reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Days one ``GET /event_type_available_times`` may span.
AVAILABLE_TIMES_MAX_DAYS = 31

#: Guests one booking may add.
EVENT_GUESTS_MAX = 10


@dataclass(frozen=True)
class Window:
    """At most ``limit`` calls in any ``seconds``-long sliding window."""

    seconds: int
    limit: int

    def describe(self) -> str:
        unit = {60: "minute", 3600: "hour", 86400: "day"}.get(self.seconds, f"{self.seconds} s")
        return f"{self.limit} per {unit}"


@dataclass(frozen=True)
class Plan:
    """A Calendly billing tier as far as the booking quotas go."""

    label: str
    windows: tuple[Window, ...]

    def describe(self) -> str:
        return ", ".join(w.describe() for w in self.windows)

    @property
    def horizon(self) -> int:
        """Seconds of history the longest window needs."""
        return max(w.seconds for w in self.windows)


#: ``POST /invitees`` quotas by tier; the keys are the values of ``Connection.scheduling_plan``.
PLANS: dict[str, Plan] = {
    "paid": Plan(
        "Paid, non-Enterprise (also Free, which has no published quota)",
        (Window(60, 10), Window(3600, 50), Window(86400, 100)),
    ),
    "trial": Plan("Trial", (Window(86400, 5),)),
    "enterprise": Plan("Enterprise", (Window(60, 500),)),
}
DEFAULT_PLAN = "paid"


def wait_seconds(stamps: Sequence[float], now: float, windows: Sequence[Window]) -> int:
    """Seconds until one more call fits in every window (0: it fits now).

    ``stamps`` are the times of the calls already counted, in any order. A full window frees a
    place when its oldest call that still counts leaves it; the answer is rounded up to whole
    seconds (it becomes a ``Retry-After``), and is at least 1 when a window is full.
    """
    ordered = sorted(stamps)
    wait = 0.0
    for window in windows:
        recent = [t for t in ordered if t > now - window.seconds]
        if len(recent) >= window.limit:
            frees_at = recent[len(recent) - window.limit] + window.seconds
            wait = max(wait, frees_at - now, 1.0)
    return math.ceil(wait)
