"""Calendly's documented booking quotas and the pure wait decision (calendly/limits.py)."""

from __future__ import annotations

from calendly_sync.calendly.limits import AVAILABLE_TIMES_MAX_DAYS, PLANS, Window, wait_seconds


def test_the_documented_quotas() -> None:
    assert PLANS["trial"].windows == (Window(86400, 5),)
    assert PLANS["paid"].windows == (Window(60, 10), Window(3600, 50), Window(86400, 100))
    assert PLANS["enterprise"].windows == (Window(60, 500),)
    assert PLANS["paid"].describe() == "10 per minute, 50 per hour, 100 per day"
    assert AVAILABLE_TIMES_MAX_DAYS == 31


def test_a_call_fits_until_a_window_is_full() -> None:
    windows = PLANS["paid"].windows
    assert wait_seconds([], 1000.0, windows) == 0
    assert wait_seconds([1000.0 - i for i in range(9)], 1000.0, windows) == 0


def test_a_full_window_waits_until_its_oldest_counted_call_leaves_it() -> None:
    windows = PLANS["paid"].windows
    stamps = [940.5 + i for i in range(10)]  # 10 calls in the last minute, the oldest 59.5 s ago
    assert wait_seconds(stamps, 1000.0, windows) == 1  # 0.5 s, rounded up
    hour = [1000.0 - 3000 + i * 60 for i in range(50)]  # 50 in the hour, oldest 3000 s ago
    assert wait_seconds(hour, 1000.0, windows) == 600


def test_the_longest_wait_wins_and_the_order_of_stamps_does_not_matter() -> None:
    day = [1000.0 - 80000 + i for i in range(5)]
    assert wait_seconds(list(reversed(day)), 1000.0, PLANS["trial"].windows) == 86400 - 80000
