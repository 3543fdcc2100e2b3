"""What a visitor is told when the scheduling service refuses (pure: no database, no request)."""

from __future__ import annotations

import pytest

from calendly_sync.booking_page.notices import notice_for, wait_text
from calendly_sync.scheduling.errors import (
    CalendlyUnavailable,
    ConnectionUnusable,
    Forbidden,
    InvalidRequest,
    MissingScope,
    NotFound,
    QuotaExceeded,
    SchedulingError,
    SlotUnavailable,
)


@pytest.mark.parametrize(
    ("error", "status", "retry", "words"),
    [
        (SlotUnavailable("2026-12-07T09:00:00Z is no longer available"), 409, None, "that time was just taken"),
        (QuotaExceeded("Booking quota reached", 42, "connector"), 429, 42, "try again in 42 seconds"),
        (QuotaExceeded("Calendly's rate limit", 3600, "calendly"), 429, 3600, "try again in 60 minutes"),
        (MissingScope("lacks", ["scheduled_events:write"]), 403, None, "permission scheduled_events:write"),
        (Forbidden("Calendly refused to book: role"), 403, None, "did not allow this booking"),
        (NotFound("Calendly has no event type x"), 404, None, "no longer available"),
        (ConnectionUnusable("no Personal Access Token"), 503, 60, "temporarily unavailable"),
        (CalendlyUnavailable("Calendly could not book now: 500"), 503, 60, "temporarily unavailable"),
        (InvalidRequest.field("answers.Phone", "not a valid phone number"), 400, None, "highlighted fields"),
        (SchedulingError("anything else"), 400, None, "highlighted fields"),
    ],
)
def test_each_refusal_has_a_sentence_a_status_and_when_to_retry(
    error: SchedulingError, status: int, retry: int | None, words: str
) -> None:
    notice = notice_for(error)
    assert (notice.status, notice.retry_after) == (status, retry)
    assert words in notice.message
    assert "Personal Access Token" not in notice.message and "500" not in notice.message  # not for visitors


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1 second"), (59, "59 seconds"), (89, "89 seconds"), (90, "2 minutes"), (86400, "24 hours")],
)
def test_wait_text(seconds: int, text: str) -> None:
    assert wait_text(seconds) == text
