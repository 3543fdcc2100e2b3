"""The /_sim/ control API: book, reschedule, no-show, cancel, state (sandbox/calendly/control.py)."""

from __future__ import annotations

import requests

from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import future


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
