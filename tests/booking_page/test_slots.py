"""The booking page's time decisions (pure: no database, no request)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from calendly_sync.booking_page.slots import (
    DAYS_PER_PAGE,
    MAX_DAYS_AHEAD,
    field_for_error,
    group_by_day,
    meeting_label,
    page_window,
    parse_start,
    resolve_timezone,
    timezone_choices,
)


def slot(value: str, status: str = "available") -> dict[str, object]:
    return {"start_time": value, "status": status, "invitees_remaining": 1}


# -- the zone ---------------------------------------------------------------------------------
def test_a_known_zone_is_used() -> None:
    zone = resolve_timezone(" Asia/Kolkata ")
    assert (zone.name, zone.given, zone.message) == ("Asia/Kolkata", True, "")
    assert resolve_timezone("Asia/Calcutta").name == "Asia/Calcutta"  # old names browsers still report


def test_no_zone_is_utc_without_a_message() -> None:
    for raw in (None, "", "   "):
        zone = resolve_timezone(raw)
        assert (zone.name, zone.given, zone.message) == ("UTC", False, "")


@pytest.mark.parametrize("raw", ["Mars/Olympus", "../../etc/passwd", "Europe/London\x00", "x" * 500, "utc"])
def test_an_unknown_zone_is_utc_with_a_message(raw: str) -> None:
    zone = resolve_timezone(raw)
    assert zone.name == "UTC" and zone.given and "is not a time zone we know" in zone.message
    assert len(zone.message) < 200


def test_the_zone_choices_start_with_utc_and_hold_real_zones() -> None:
    choices = timezone_choices()
    assert choices[0] == "UTC" and "Europe/London" in choices and "America/New_York" in choices
    assert list(choices[1:]) == sorted(choices[1:]) and not [c for c in choices if c.startswith(("Etc/", "posix/"))]


# -- start times --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-07T09:00:00Z", datetime(2026, 12, 7, 9, tzinfo=UTC)),
        ("2026-12-07T10:00:00+01:00", datetime(2026, 12, 7, 9, tzinfo=UTC)),
        ("2026-12-07T09:00:00.000000Z", datetime(2026, 12, 7, 9, tzinfo=UTC)),
        ("2026-12-07T09:00:00", None),  # no zone: ambiguous
        ("soon", None),
        ("", None),
        (None, None),
        ("9" * 100, None),
        ("0001-01-01T00:00:00+01:00", None),
    ],
)
def test_parse_start(raw: object, expected: datetime | None) -> None:
    assert parse_start(raw) == expected


# -- grouping by local day ----------------------------------------------------------------------
def test_times_are_grouped_by_the_local_day_in_order() -> None:
    slots = [
        slot("2026-12-08T09:00:00Z"),
        slot("2026-12-07T23:30:00Z"),
        slot("2026-12-07T15:00:00Z"),
        slot("2026-12-07T15:00:00Z"),  # listed twice (a window boundary)
        slot("2026-12-07T16:00:00Z", status="unavailable"),
        slot("not a time"),
        {"status": "available"},
    ]
    london = group_by_day(slots, "Europe/London")
    assert [(d.label, [s.label for s in d.slots]) for d in london] == [
        ("Monday 7 December 2026", ["15:00", "23:30"]),
        ("Tuesday 8 December 2026", ["09:00"]),
    ]
    # in New York 23:30 UTC is still Monday; in Tokyo Monday 15:00 UTC is already Tuesday
    new_york = group_by_day(slots, "America/New_York")
    assert [(d.date, [s.label for s in d.slots]) for d in new_york] == [
        (date(2026, 12, 7), ["10:00", "18:30"]),
        (date(2026, 12, 8), ["04:00"]),
    ]
    tokyo = group_by_day(slots, "Asia/Tokyo")
    assert [(d.date, [s.label for s in d.slots]) for d in tokyo] == [
        (date(2026, 12, 8), ["00:00", "08:30", "18:00"]),
    ]
    # the form value stays UTC whatever the zone; the long label says the day for screen readers
    assert [s.value for s in tokyo[0].slots] == ["2026-12-07T15:00:00Z", "2026-12-07T23:30:00Z", "2026-12-08T09:00:00Z"]
    assert tokyo[0].slots[0].long_label == "Tuesday 8 December 2026, 00:00"


def test_a_daylight_saving_change_keeps_local_times_right() -> None:
    # Europe/Berlin leaves summer time on 25 October 2026 at 01:00 UTC
    days = group_by_day([slot("2026-10-24T08:00:00Z"), slot("2026-10-26T08:00:00Z")], "Europe/Berlin")
    assert [(d.label, d.slots[0].label) for d in days] == [
        ("Saturday 24 October 2026", "10:00"),
        ("Monday 26 October 2026", "09:00"),
    ]


def test_no_times_no_days() -> None:
    assert group_by_day([], "UTC") == []


# -- the window of dates ------------------------------------------------------------------------
NOW = datetime(2026, 12, 3, 18, 30, tzinfo=UTC)


def test_the_first_page_starts_now_and_shows_whole_local_days() -> None:
    window = page_window(None, NOW, "Asia/Tokyo")  # already 4 December in Tokyo
    assert window.first_day == date(2026, 12, 4) and window.start == NOW
    assert window.end == datetime(2026, 12, 18, tzinfo=UTC) - timedelta(hours=9)
    assert window.last_day == date(2026, 12, 17) and window.previous is None
    assert window.next == date(2026, 12, 18)


def test_a_later_page_starts_at_local_midnight_and_links_back() -> None:
    window = page_window("2026-12-17", NOW, "America/New_York")
    assert window.first_day == date(2026, 12, 17)
    assert window.start == datetime(2026, 12, 17, 5, tzinfo=UTC)
    assert window.previous == date(2026, 12, 3) and window.next == date(2026, 12, 31)
    assert page_window("2026-12-10", NOW, "UTC").previous == date(2026, 12, 3)  # never before today


@pytest.mark.parametrize("raw", ["", "tomorrow", "2026-13-01", "2026-12-01", "2099-01-01", "x" * 1000])
def test_unreadable_past_or_far_dates_show_the_first_page(raw: str) -> None:
    assert page_window(raw, NOW, "UTC").first_day == date(2026, 12, 3)


def test_paging_stops_a_year_ahead() -> None:
    last = (NOW + timedelta(days=MAX_DAYS_AHEAD)).date()
    assert page_window(last.isoformat(), NOW, "UTC").next is None
    assert page_window((last - timedelta(days=DAYS_PER_PAGE)).isoformat(), NOW, "UTC").next == last


# -- labels and errors --------------------------------------------------------------------------
def test_the_meeting_label_names_the_zone_and_a_second_day_when_it_ends_on_one() -> None:
    start = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert meeting_label(start, start + timedelta(minutes=30), "Europe/London") == (
        "Monday 7 December 2026, 09:30–10:00 (Europe/London)"
    )
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    assert meeting_label(late, late + timedelta(hours=1), "UTC") == (
        "Monday 7 December 2026, 23:30–Tuesday 8 December 2026, 00:30 (UTC)"
    )


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("invitee.name", "name"),
        ("invitee.email", "email"),
        ("start_time", "start_time"),
        ("location.kind", "location"),
        ("answers.Company name", "q0"),
        ("answers.company  NAME", "q0"),
        ("answers.Phone", "q2"),
        ("answers.Budget", None),
        ("guests", None),
        ("request", None),
    ],
)
def test_a_service_error_goes_next_to_its_field(path: str, field: str | None) -> None:
    assert field_for_error(path, ["Company name", "Team size", "Phone"]) == field
