"""The /_sim/ control API: book, reschedule, no-show, cancel, state (sandbox/calendly/control.py)."""

from __future__ import annotations

from datetime import timedelta

import requests

from calendly_sync.sandbox.calendly import CalendlySim
from calendly_sync.sandbox.calendly.records import to_ts
from tests.sandbox.calendly.helpers import AUTH, future


def test_sim_control_api(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    sim.add_event_type("Call")
    booked = requests.post(sim.url + "/_sim/book", json={"email": "s@example.com", "name": "Sim User"}, timeout=5)
    assert booked.status_code == 201
    inv = booked.json()["resource"]
    resched = requests.post(
        sim.url + "/_sim/reschedule", json={"invitee": inv["uri"], "start_time": future(9).isoformat()}, timeout=5
    )
    assert resched.status_code == 201
    new = resched.json()["resource"]
    assert requests.post(sim.url + "/_sim/no_show", json={"invitee": new["uri"]}, timeout=5).status_code == 201
    assert requests.post(sim.url + "/_sim/cancel", json={"invitee": new["uri"]}, timeout=5).status_code == 200
    state = requests.get(sim.url + "/_sim/state", timeout=5).json()
    assert state["invitees"] == 2 and state["scheduled_events"] == 2 and state["no_shows"] == 1


def test_reschedule_without_start_time_moves_to_the_same_time_next_day(calendly_sim: CalendlySim) -> None:
    """The README's example sends only the invitee: it answered 400 ``'start_time'``."""
    sim = calendly_sim
    sim.add_event_type("Call")
    start = future(4)
    booked = requests.post(
        sim.url + "/_sim/book",
        json={"email": "s@example.com", "name": "Sim User", "start_time": start.isoformat()},
        timeout=5,
    )
    inv = booked.json()["resource"]
    resp = requests.post(sim.url + "/_sim/reschedule", json={"invitee": inv["uri"]}, timeout=5)
    assert resp.status_code == 201, resp.text
    new = resp.json()["resource"]
    event = requests.get(new["event"], headers=AUTH, timeout=5).json()["resource"]
    assert to_ts(event["start_time"]) == (start + timedelta(days=1)).timestamp()
    assert new["old_invitee"] == inv["uri"]


def test_control_errors_are_sentences(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    for route in ("cancel", "reschedule", "no_show"):
        resp = requests.post(f"{sim.url}/_sim/{route}", json={}, timeout=5)
        assert resp.status_code == 400
        assert resp.json()["message"].startswith("invitee is required: an invitee URI")
    unknown = requests.post(f"{sim.url}/_sim/cancel", json={"invitee": "nope"}, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["message"] == "unknown invitee nope"
    sim.add_event_type("Call")
    inv = requests.post(sim.url + "/_sim/book", json={"email": "s@example.com", "name": "S"}, timeout=5).json()
    bad = requests.post(
        f"{sim.url}/_sim/reschedule", json={"invitee": inv["resource"]["uri"], "start_time": {"x": 1}}, timeout=5
    )
    assert bad.status_code == 400 and "start_time must be an ISO 8601 time" in bad.json()["message"]
