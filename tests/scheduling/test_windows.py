"""Splitting a range of open times into Calendly's windows and merging them (scheduling/windows.py): pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calendly_sync.scheduling.windows import merge_slots, split_range, window_limit

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)


def test_a_range_is_cut_into_consecutive_windows_of_at_most_n_days() -> None:
    windows = split_range(T0, T0 + timedelta(days=70), 31)
    assert windows == [
        (T0, T0 + timedelta(days=31)),
        (T0 + timedelta(days=31), T0 + timedelta(days=62)),
        (T0 + timedelta(days=62), T0 + timedelta(days=70)),
    ]
    assert split_range(T0, T0 + timedelta(days=31), 31) == [(T0, T0 + timedelta(days=31))]
    assert split_range(T0, T0, 31) == []
    last = datetime.max.replace(tzinfo=UTC)
    assert split_range(last - timedelta(days=2), last, 31) == [(last - timedelta(days=2), last)]
    with pytest.raises(ValueError, match="at least one day"):
        split_range(T0, T0 + timedelta(days=1), 0)


def test_merged_times_are_ordered_and_listed_once() -> None:
    first = [
        {"start_time": "2027-01-05T10:00:00.000000Z", "status": "available", "invitees_remaining": 1},
        {"start_time": "2027-02-04T09:00:00.000000Z", "status": "available", "invitees_remaining": 1},  # boundary
    ]
    second = [
        {"start_time": "2027-02-04T09:00:00.000000Z", "status": "available", "invitees_remaining": 1},
        {"start_time": "2027-02-04T09:30:00.000000Z", "status": "available", "invitees_remaining": 3, "x": 1},
    ]
    merged = merge_slots([second, first])
    assert [s["start_time"] for s in merged] == [
        "2027-01-05T10:00:00.000000Z",
        "2027-02-04T09:00:00.000000Z",
        "2027-02-04T09:30:00.000000Z",
    ]
    assert merged[-1] == {"start_time": "2027-02-04T09:30:00.000000Z", "status": "available", "invitees_remaining": 3}


def test_a_time_without_a_start_is_dropped() -> None:
    assert merge_slots([[{"status": "available"}, {"start_time": None}]]) == []


@pytest.mark.parametrize(
    ("message", "days"),
    [
        ("end_time: date range can be no greater than 7 days", 7),
        ("The date range can be no longer than 31 days.", 31),
        ("end_time: must be after start_time", None),
        ("no greater than 0 days", None),
        ("", None),
    ],
)
def test_the_window_calendly_accepts_is_read_from_its_refusal(message: str, days: int | None) -> None:
    assert window_limit(message) == days
