"""Event type routes (sandbox/calendly/event_types.py); available times are in test_scheduling."""

from __future__ import annotations

from calendly_sync.sandbox.calendly import CalendlySim
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import get


def test_event_types_require_owner_and_sort_by_name(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    for name in ("Zeta", "Alpha", "Mid"):
        sim.add_event_type(name, ["Company name"])
    resp = get(sim, "/event_types")
    assert resp.status_code == 400
    assert resp.json()["title"] == "Invalid Argument"
    data = get(sim, "/event_types", user=admin_context(sim)["user"]).json()
    assert [e["name"] for e in data["collection"]] == ["Alpha", "Mid", "Zeta"]
    q = data["collection"][0]["custom_questions"][0]
    assert q == {
        "name": "Company name",
        "type": "string",
        "position": 0,
        "enabled": True,
        "required": False,
        "answer_choices": [],
        "include_other": False,
    }
    desc = get(sim, "/event_types", organization=admin_context(sim)["organization"], sort="name:desc").json()
    assert [e["name"] for e in desc["collection"]] == ["Zeta", "Mid", "Alpha"]
