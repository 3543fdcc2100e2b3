"""Automation events: accepted, validated, batched (sandbox/brevo/events.py)."""

from __future__ import annotations

import pytest

from tests.sandbox.brevo.helpers import call


def test_event_accepted_and_queryable(brevo_sim):
    cid = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"}).json()["id"]
    r = call(
        brevo_sim,
        "POST",
        "/events",
        {
            "event_name": "calendly_booking_created",
            "identifiers": {"email_id": "a@example.com"},
            "event_date": "2025-03-14T10:00:00Z",
            "contact_properties": {"FIRSTNAME": "A"},
            "event_properties": {"event_type": "intro", "nested": {"x": [1, 2]}},
        },
    )
    assert r.status_code == 204 and r.content == b""
    assert brevo_sim.events[0]["contact_id"] == cid
    assert brevo_sim.get_contact("a@example.com")["attributes"]["FIRSTNAME"] == "A"
    listed = call(
        brevo_sim, "GET", "/events", params={"event_name": "calendly_booking_created", "contact_id": cid}
    ).json()
    assert listed["count"] == 1 and listed["events"][0]["identifiers"] == {"email_id": "a@example.com"}


@pytest.mark.parametrize(
    "body",
    [
        {"identifiers": {"email_id": "a@example.com"}},
        {"event_name": "has space", "identifiers": {"email_id": "a@example.com"}},
        {"event_name": "x" * 256, "identifiers": {"email_id": "a@example.com"}},
        {"event_name": "ok"},
        {"event_name": "ok", "identifiers": {}},
        {"event_name": "ok", "identifiers": {"twitter": "x"}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_date": "yesterday"},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_properties": {"bad.key": 1}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_properties": {"big": "x" * 52000}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "contact_properties": {"X": 1.5}},
    ],
)
def test_event_validation(brevo_sim, body):
    r = call(brevo_sim, "POST", "/events", body)
    assert r.status_code == 400 and set(r.json()) == {"code", "message"}
    assert brevo_sim.events == []


def test_events_batch(brevo_sim):
    ok = {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}}
    bad = {"event_name": "not ok", "identifiers": {"email_id": "a@example.com"}}
    r = call(brevo_sim, "POST", "/events/batch", {"events": [ok, ok]})
    assert r.status_code == 202 and r.json()["count"] == 2
    r = call(brevo_sim, "POST", "/events/batch", {"events": [bad, ok, bad]})
    assert r.status_code == 207
    assert (
        r.json()["successful_events"] == 1
        and r.json()["failed_events"] == 2
        and r.json()["errors"][0]["eventIndex"] == [0, 2]
    )
    assert call(brevo_sim, "POST", "/events/batch", {"events": [bad]}).status_code == 400
    assert len(brevo_sim.events) == 3
