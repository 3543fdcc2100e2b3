"""The reducer decides by Calendly's timestamps, never by arrival order (pure, no DB)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from calendly_sync.sync import mapping, reducer
from calendly_sync.sync.automation import BOOKING_CANCELED, BOOKING_CREATED, BOOKING_RESCHEDULED, NO_SHOW, facts_for
from calendly_sync.sync.observations import MalformedPayload, observe_invitee

T0 = datetime(2026, 8, 22, 17, 13, 17, 150860, tzinfo=UTC)
API = "https://api.calendly.com"
ET = f"{API}/event_types/et-discovery"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invitee(
    uid: str,
    ev: str,
    *,
    created: datetime,
    updated: datetime | None = None,
    status: str = "active",
    start: datetime,
    rescheduled: bool = False,
    old: str | None = None,
    new: str | None = None,
    no_show: dict | None = None,
    cancellation: dict | None = None,
    email: str = "Levi@Example.com",
    answers: list | None = None,
) -> dict:
    body = {
        "uri": f"{API}/scheduled_events/{ev}/invitees/{uid}",
        "email": email,
        "name": "Levi Duncan",
        "first_name": None,
        "last_name": None,
        "status": status,
        "timezone": "America/Chicago",
        "created_at": iso(created),
        "updated_at": iso(updated or created),
        "event": f"{API}/scheduled_events/{ev}",
        "rescheduled": rescheduled,
        "old_invitee": old,
        "new_invitee": new,
        "no_show": no_show,
        "questions_and_answers": answers or [{"question": "Company name", "answer": "Acme", "position": 0}],
        "tracking": {"utm_source": "newsletter"},
        "text_reminder_number": None,
        "scheduled_event": {
            "uri": f"{API}/scheduled_events/{ev}",
            "name": "Discovery Call",
            "event_type": ET,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=30)),
            "location": {"type": "zoom", "join_url": "https://zoom.example/j/1"},
            "event_memberships": [{"user_name": "Host", "user_email": "host@example.com"}],
        },
    }
    if cancellation:
        body["cancellation"] = cancellation
    return body


A = f"{API}/scheduled_events/ev1/invitees/inv-a"
B = f"{API}/scheduled_events/ev2/invitees/inv-b"
START_A = datetime(2026, 9, 1, 15, 0, tzinfo=UTC)
START_B = datetime(2026, 9, 3, 15, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)  # reschedule
T2 = T0 + timedelta(hours=5)  # cancel or no-show
T3 = T0 + timedelta(hours=6)

a_created = ("invitee.created", invitee("inv-a", "ev1", created=T0, start=START_A), T0)
a_resched = (
    "invitee.canceled",
    invitee(
        "inv-a",
        "ev1",
        created=T0,
        updated=T1,
        status="canceled",
        start=START_A,
        rescheduled=True,
        new=B,
        cancellation={"canceled_by": "Levi", "reason": None, "canceler_type": "invitee", "created_at": iso(T1)},
    ),
    T1,
)
b_created = ("invitee.created", invitee("inv-b", "ev2", created=T1, start=START_B, old=A), T1)
b_canceled = (
    "invitee.canceled",
    invitee(
        "inv-b",
        "ev2",
        created=T1,
        updated=T2,
        status="canceled",
        start=START_B,
        old=A,
        cancellation={"canceled_by": "Levi", "reason": "Conflict", "canceler_type": "invitee", "created_at": iso(T2)},
    ),
    T2,
)
b_no_show = (
    "invitee_no_show.created",
    invitee(
        "inv-b",
        "ev2",
        created=T1,
        start=START_B,
        old=A,
        no_show={"uri": f"{API}/invitee_no_shows/ns1", "created_at": iso(T2)},
    ),
    T2,
)
b_no_show_removed = ("invitee_no_show.deleted", invitee("inv-b", "ev2", created=T1, start=START_B, old=A), T3)


def observations(deliveries):
    return [
        observe_invitee(body, event_name=name, envelope_created_at=iso(at).replace(iso(at)[19:26], ".000000"))
        for name, body, at in deliveries
    ]


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


def test_email_is_lower_cased_and_payload_validated():
    obs = observations([a_created])[0]
    assert obs.email == "levi@example.com"
    with pytest.raises(MalformedPayload):
        observe_invitee({"email": "x@example.com"})
    with pytest.raises(MalformedPayload):
        observe_invitee({"uri": A})


def test_reschedule_halves_name_the_same_automation_fact():
    obs = {o.invitee_uri + str(o.status): o for o in observations([a_resched, b_created])}
    from_cancel = facts_for(obs[A + "canceled"], "invitee.canceled")
    from_create = facts_for(obs[B + "active"], "invitee.created")
    assert [f.event_name for f in from_cancel] == [BOOKING_RESCHEDULED]
    assert [f.event_name for f in from_create] == [BOOKING_RESCHEDULED]
    assert from_cancel[0].fact_id == from_create[0].fact_id == B


def test_backfill_snapshot_proves_each_visible_fact():
    created, canceled, no_show = observations([a_created, b_canceled, b_no_show])
    assert [f.event_name for f in facts_for(created)] == [BOOKING_CREATED]
    assert [f.event_name for f in facts_for(canceled)] == [BOOKING_RESCHEDULED, BOOKING_CANCELED]
    assert NO_SHOW in [f.event_name for f in facts_for(no_show)]
