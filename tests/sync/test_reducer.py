"""The reducer decides by Calendly's timestamps, never by arrival order (pure, no DB)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from calendly_sync.sync import mapping, reducer
from tests.sync.invitees import (
    API,
    ET,
    START_A,
    START_B,
    T0,
    T1,
    T2,
    T3,
    B,
    a_created,
    a_resched,
    b_canceled,
    b_created,
    b_no_show,
    b_no_show_removed,
    invitee,
    iso,
    observations,
)


def project(deliveries) -> tuple:
    """Reduce per invitee, then project the contact, as the DB layer does."""
    states: dict[str, reducer.BookingState] = {}
    for obs in observations(deliveries):
        states[obs.invitee_uri] = reducer.apply(states.get(obs.invitee_uri), obs)
    bookings = list(states.values())
    current = reducer.current_booking(bookings)
    status = reducer.booking_status(current)
    attrs = mapping.map_fields(current, mapping.DEFAULT_RULES, booking_status=status).attributes
    keep, leave = reducer.desired_lists(bookings, {ET: reducer.ListRule((10, 12))}, ())
    lists = (tuple(keep), tuple(leave))
    return (
        status,
        current.invitee_uri,
        attrs.get("MEETING_DATE"),
        attrs.get("CALENDLY_EVENT_TYPE"),
        lists,
        tuple(sorted((s.invitee_uri, s.status, s.rescheduled, s.no_show_uri) for s in bookings)),
    )


@pytest.mark.parametrize(
    "scenario,expected_status",
    [
        ([a_created, a_resched, b_created, b_canceled], reducer.CANCELLED),
        ([a_created, a_resched, b_created, b_no_show], reducer.NO_SHOW),
        ([a_created, a_resched, b_created, b_no_show, b_no_show_removed], reducer.BOOKED),
        ([a_created, a_resched, b_created], reducer.BOOKED),
    ],
)
def test_every_arrival_order_gives_the_same_contact(scenario, expected_status):
    results = {project(list(order)) for order in itertools.permutations(scenario)}
    assert len(results) == 1, results
    status, current, meeting_date, event_type, lists, _ = results.pop()
    assert status == expected_status
    assert current == B  # the new half of the reschedule is the current booking
    assert meeting_date == "2026-09-03"  # from the rescheduled meeting, in the invitee's timezone
    assert event_type == "Discovery Call"
    assert lists == ((10, 12), ())


@pytest.mark.parametrize(
    "scenario",
    [
        [a_created, a_resched, b_created, b_canceled],
        [a_created, a_resched, b_created, b_no_show, b_no_show_removed],
    ],
)
def test_duplicates_change_nothing(scenario):
    once = project(scenario)
    for order in itertools.permutations(scenario):
        assert project(list(order) + list(order)) == once


def test_reschedule_alone_is_not_a_cancellation():
    # Only the cancelled half has arrived: the person still has a meeting.
    assert project([a_created, a_resched])[0] == reducer.BOOKED
    assert project([a_resched])[0] == reducer.BOOKED


def test_late_cancel_does_not_undo_a_newer_booking():
    # A plain cancel of an old booking arriving after a newer booking keeps the newer one current.
    c_created = ("invitee.created", invitee("inv-c", "ev3", created=T3, start=START_B + timedelta(days=7)), T3)
    a_cancel = (
        "invitee.canceled",
        invitee(
            "inv-a",
            "ev1",
            created=T0,
            updated=T2,
            status="canceled",
            start=START_A,
            cancellation={"canceled_by": "Levi", "reason": "x", "canceler_type": "invitee", "created_at": iso(T2)},
        ),
        T2,
    )
    for order in itertools.permutations([a_created, c_created, a_cancel]):
        status, current, *_ = project(list(order))
        assert status == reducer.BOOKED and current.endswith("inv-c")


def test_no_show_tie_at_second_precision_prefers_removal():
    # The deletion envelope has second precision; the mark has microseconds in the same second.
    mark_at = T2.replace(microsecond=900000)
    mark = (
        "invitee_no_show.created",
        invitee(
            "inv-b",
            "ev2",
            created=T1,
            start=START_B,
            no_show={"uri": f"{API}/invitee_no_shows/ns1", "created_at": iso(mark_at)},
        ),
        mark_at,
    )
    removal = ("invitee_no_show.deleted", invitee("inv-b", "ev2", created=T1, start=START_B), T2.replace(microsecond=0))
    for order in itertools.permutations([b_created, mark, removal]):
        assert project(list(order))[0] == reducer.BOOKED
