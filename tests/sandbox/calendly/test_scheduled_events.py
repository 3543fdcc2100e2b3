"""Scheduled events: role rules, filters, 404s, host cancellation and no-shows.

Mirrors sandbox/calendly/scheduled_events.py."""

from __future__ import annotations

import requests

from calendly_sync.sandbox.calendly import CalendlySim
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import AUTH, future, get, post


def test_scheduled_events_role_rules(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    member = sim.add_user("Mo Member", "mo@acme-sales.example", role="user")
    sim.add_token("member-token", member["uri"])
    ctx = admin_context(sim)
    resp = get(sim, "/scheduled_events", "member-token", organization=ctx["organization"])
    assert resp.status_code == 403
    assert resp.json()["title"] == "Permission Denied"
    resp = get(sim, "/scheduled_events", user=member["uri"])  # admin asks for another user without org
    assert resp.status_code == 403
    assert (
        resp.json()["message"]
        == "Please also specify organization when requesting events for a user within your organization."
    )
    assert get(sim, "/scheduled_events", user=member["uri"], organization=ctx["organization"]).status_code == 200
    assert get(sim, "/scheduled_events", "member-token", user=member["uri"]).status_code == 200
    assert get(sim, "/scheduled_events").status_code == 400


def test_scheduled_event_filters_and_404(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    a = sim.book(et["uri"], "a@example.com", "Ann A", future(2))
    b = sim.book(et["uri"], "b@example.com", "Bob B", future(4))
    sim.cancel(b["uri"], "conflict")
    ctx = admin_context(sim)
    active = get(sim, "/scheduled_events", organization=ctx["organization"], status="active").json()["collection"]
    assert [e["uri"] for e in active] == [a["event"]]
    by_email = get(sim, "/scheduled_events", user=ctx["user"], invitee_email="b@example.com").json()["collection"]
    assert [e["uri"] for e in by_email] == [b["event"]]
    assert by_email[0]["cancellation"]["reason"] == "conflict"
    window = get(
        sim,
        "/scheduled_events",
        user=ctx["user"],
        min_start_time=(future(3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        sort="start_time:desc",
    ).json()["collection"]
    assert [e["uri"] for e in window] == [b["event"]]
    missing = get(sim, "/scheduled_events/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Resource Not Found"


def test_cancellation_endpoint(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    inv = sim.book(et["uri"], "c@example.com", "Cy Cancel", future())
    uuid = inv["event"].rsplit("/", 1)[1]
    resp = post(sim, f"/scheduled_events/{uuid}/cancellation", {"reason": "Host sick"})
    assert resp.status_code == 201
    assert resp.json()["resource"]["canceler_type"] == "host"
    again = post(sim, f"/scheduled_events/{uuid}/cancellation", {"reason": "again"})
    assert again.status_code == 403 and again.json()["message"] == "Event is already canceled"
    assert get(sim, inv["uri"]).json()["resource"]["cancellation"]["reason"] == "Host sick"


def test_no_show_create_get_delete(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    inv = sim.book(et["uri"], "n@example.com", "Nia Noshow", future())
    resp = post(sim, "/invitee_no_shows", {"invitee": inv["uri"]})
    assert resp.status_code == 201
    ns = resp.json()["resource"]
    assert ns["invitee"] == inv["uri"]
    assert get(sim, ns["uri"]).json()["resource"] == ns
    assert get(sim, inv["uri"]).json()["resource"]["no_show"] == {"uri": ns["uri"], "created_at": ns["created_at"]}
    deleted = requests.delete(ns["uri"], headers=AUTH, timeout=5)
    assert deleted.status_code == 204 and deleted.content == b""
    assert get(sim, ns["uri"]).status_code == 404
    assert get(sim, inv["uri"]).json()["resource"]["no_show"] is None
