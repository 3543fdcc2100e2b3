"""One invitee's story in Calendly's own payloads (book, reschedule, cancel, no-show), for the pure tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calendly_sync.sync.observations import Observation, observe_invitee

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


def observations(deliveries: list[tuple[str, dict[str, Any], datetime]]) -> list[Observation]:
    return [
        observe_invitee(body, event_name=name, envelope_created_at=iso(at).replace(iso(at)[19:26], ".000000"))
        for name, body, at in deliveries
    ]
