"""The Python API shapes records like Calendly: invitee keys, split names, reschedule pairs.

Mirrors sandbox/calendly/account.py."""

from __future__ import annotations

from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import INVITEE_KEYS, future, get


def test_invitee_has_every_documented_key(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Discovery", ["Company name"], split_name=True)
    inv = sim.book(
        et["uri"],
        "levi@example.com",
        "Levi Duncan",
        future(),
        questions_and_answers=[{"question": "Company name", "answer": "Acme", "position": 0}],
        tracking={"utm_source": "newsletter"},
    )
    assert set(inv) == INVITEE_KEYS
    assert inv["first_name"] == "Levi" and inv["last_name"] == "Duncan"
    assert set(inv["tracking"]) == {
        "utm_campaign",
        "utm_source",
        "utm_medium",
        "utm_content",
        "utm_term",
        "salesforce_uuid",
    }
    fetched = get(sim, inv["uri"]).json()["resource"]
    assert fetched == inv
    listed = get(sim, inv["event"] + "/invitees").json()
    assert listed["collection"] == [inv]
    ev = get(sim, inv["event"]).json()["resource"]
    assert ev["invitees_counter"] == {"total": 1, "active": 1, "limit": 1}
    assert ev["location"]["type"] == "zoom" and ev["location"]["join_url"].startswith("https://")
    single = sim.add_event_type("Single name")
    plain = sim.book(single["uri"], "x@example.com", "Xavier Plain", future())
    assert plain["first_name"] is None and plain["last_name"] is None


def test_reschedule_produces_documented_pair(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    old = sim.book(et["uri"], "r@example.com", "Rae Resched", future(2))
    new = sim.reschedule(old["uri"], future(5))
    old_now = get(sim, old["uri"]).json()["resource"]
    assert old_now["status"] == "canceled" and old_now["rescheduled"] is True
    assert old_now["new_invitee"] == new["uri"]
    assert old_now["cancellation"]["canceler_type"] == "invitee"
    assert new["old_invitee"] == old["uri"] and new["status"] == "active" and new["rescheduled"] is False
    assert new["event"] != old["event"]
    assert get(sim, old["event"]).json()["resource"]["status"] == "canceled"
    assert get(sim, new["event"]).json()["resource"]["status"] == "active"
