"""What the booking page tells a visitor when the scheduling service refuses, and with which status. Pure.

Why not the service's own message: it is written for a developer or the site owner ("Calendly's
rate limit is reached (…); retry in 42 s", Calendly's field paths), while the visitor needs a
sentence and what to do next. The status and ``Retry-After`` match the API's for the same refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from calendly_sync.scheduling.errors import (
    CalendlyUnavailable,
    ConnectionUnusable,
    Forbidden,
    MissingScope,
    NotFound,
    QuotaExceeded,
    SchedulingError,
    SlotUnavailable,
)


@dataclass(frozen=True)
class Notice:
    """A message for the visitor, and the HTTP status and headers that go with it."""

    message: str
    status: int
    retry_after: int | None = None


def wait_text(seconds: int) -> str:
    """``42 seconds``, ``5 minutes``, ``3 hours``: how long to wait, rounded as a person says it."""
    if seconds < 90:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    if seconds < 5400:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def notice_for(exc: SchedulingError) -> Notice:
    """What the visitor reads when the service refuses; field reasons are shown next to their fields."""
    if isinstance(exc, SlotUnavailable):
        return Notice("Sorry, that time was just taken. Please pick another time.", 409)
    if isinstance(exc, QuotaExceeded):
        return Notice(
            f"Too many bookings are being made right now. Please try again in {wait_text(exc.retry_after)}.",
            429,
            exc.retry_after,
        )
    if isinstance(exc, MissingScope):
        return Notice(
            "Booking is not possible on this page right now: the calendar's connection is missing the "
            f"permission {', '.join(exc.scopes)}. Please let the site owner know.",
            403,
        )
    if isinstance(exc, Forbidden):
        return Notice("Calendly did not allow this booking. Please let the site owner know.", 403)
    if isinstance(exc, NotFound):
        return Notice("This meeting type is no longer available.", 404)
    if isinstance(exc, (ConnectionUnusable, CalendlyUnavailable)):
        return Notice("Booking is temporarily unavailable. Please try again in a few minutes.", 503, 60)
    return Notice("Please check the highlighted fields.", 400)
