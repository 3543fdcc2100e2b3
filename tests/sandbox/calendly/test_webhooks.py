"""Signed webhook delivery, retries, disabling, event type hooks and sample data (sandbox/calendly/webhooks.py)."""

from __future__ import annotations

import secrets
from typing import Any

from calendly_sync.calendly.signatures import verify_signature
from calendly_sync.sandbox.calendly import CalendlySim
from tests.fixtures_calendly import WebhookReceiver, admin_context
from tests.sandbox.calendly.helpers import INVITEE_KEYS, future, get, post


def _subscribe(sim: CalendlySim, url: str, key: str | None, events: list[str] | None = None) -> dict[str, Any]:
    ctx = admin_context(sim)
    body = {
        "url": url,
        "events": events
        or ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"],
        "organization": ctx["organization"],
        "scope": "organization",
    }
    if key:
        body["signing_key"] = key
    resp = post(sim, "/webhook_subscriptions", body)
    assert resp.status_code == 201, resp.text
    return resp.json()["resource"]


def test_signed_webhook_is_delivered_and_verifies(
    calendly_sim: CalendlySim, calendly_webhook_receiver: WebhookReceiver
) -> None:
    sim, receiver = calendly_sim, calendly_webhook_receiver
    sim.allow_http_callbacks = True
    key = secrets.token_urlsafe(32)
    _subscribe(sim, receiver.hook_url, key)
    et = sim.add_event_type("Discovery", ["Company name"])
    inv = sim.book(
        et["uri"],
        "w@example.com",
        "Wes Hook",
        future(),
        questions_and_answers=[{"question": "Company name", "answer": "Acme"}],
    )
    req = receiver.next(timeout=5)
    assert verify_signature(req.body, req.headers.get("calendly-webhook-signature"), [key]) == key
    envelope = req.json()
    assert set(envelope) == {"created_at", "created_by", "event", "payload"}
    assert envelope["event"] == "invitee.created"
    assert envelope["created_at"].endswith(".000000Z")
    assert envelope["created_by"] == admin_context(sim)["user"]
    payload = envelope["payload"]
    assert set(payload) == INVITEE_KEYS | {"scheduled_event"}
    assert payload["uri"] == inv["uri"]
    assert payload["scheduled_event"]["uri"] == inv["event"]
    assert "calendar_event" not in payload["scheduled_event"]
    sim.wait_for_deliveries(1, ok_only=True)
    assert sim.deliveries[0]["status"] == 200
    assert len(sim.outbox) == 1 and sim.outbox[0]["body"] == req.body


def test_reschedule_fires_both_events_and_no_show_events(
    calendly_sim: CalendlySim, calendly_webhook_receiver: WebhookReceiver
) -> None:
    sim, receiver = calendly_sim, calendly_webhook_receiver
    sim.allow_http_callbacks = True
    sim.deliver_sync = True
    _subscribe(sim, receiver.hook_url, "key")
    et = sim.add_event_type("Call")
    inv = sim.book(et["uri"], "p@example.com", "Pat Pair", future(2))
    new = sim.reschedule(inv["uri"], future(6))
    ns = sim.mark_no_show(new["uri"])
    sim.unmark_no_show(ns["uri"])
    events = [(r.json()["event"], r.json()["payload"]) for r in receiver.wait_for(5)]
    assert [e for e, _ in events] == [
        "invitee.created",
        "invitee.canceled",
        "invitee.created",
        "invitee_no_show.created",
        "invitee_no_show.deleted",
    ]
    canceled, created = events[1][1], events[2][1]
    assert canceled["rescheduled"] is True and canceled["new_invitee"] == new["uri"]
    assert created["old_invitee"] == inv["uri"] and created["scheduled_event"]["uri"] != inv["event"]
    assert events[3][1]["no_show"]["uri"] == ns["uri"] and events[4][1]["no_show"] is None


def test_failed_deliveries_are_retried_then_hook_disabled(calendly_webhook_receiver: WebhookReceiver) -> None:
    receiver = calendly_webhook_receiver
    receiver.status = 500
    sim = CalendlySim(
        default_token=True,
        allow_http_callbacks=True,
        deliver_sync=True,
        delivery_retries=2,
        delivery_backoff=0.0,
        disable_after_failures=3,
    )
    with sim:
        sub = _subscribe(sim, receiver.hook_url, "key")
        et = sim.add_event_type("Call")
        sim.book(et["uri"], "f@example.com", "Fay Fail", future())
        assert [d["status"] for d in sim.deliveries] == [500, 500, 500]
        state = get(sim, sub["uri"]).json()["resource"]
        assert state["state"] == "disabled" and state["retry_started_at"] is not None
        sim.book(et["uri"], "g@example.com", "Gus Gone", future(4))
        assert len(sim.deliveries) == 3  # disabled hooks get nothing
        assert len(receiver.received) == 3


def test_retry_then_success_clears_retry_started_at(calendly_webhook_receiver: WebhookReceiver) -> None:
    receiver = calendly_webhook_receiver
    receiver.statuses = [503, 302]  # a redirect counts as a failure too
    sim = CalendlySim(default_token=True, allow_http_callbacks=True, delivery_backoff=0.0)
    with sim:
        sub = _subscribe(sim, receiver.hook_url, "key")
        et = sim.add_event_type("Call")
        sim.book(et["uri"], "f@example.com", "Fay Flaky", future())
        sim.wait_for_deliveries(1, ok_only=True)
        assert [d["status"] for d in sim.deliveries] == [503, 302, 200]
        assert get(sim, sub["uri"]).json()["resource"]["retry_started_at"] is None


def test_event_type_webhooks_and_sample_data(
    calendly_sim: CalendlySim, calendly_webhook_receiver: WebhookReceiver
) -> None:
    sim, receiver = calendly_sim, calendly_webhook_receiver
    sim.allow_http_callbacks = True
    sim.deliver_sync = True
    _subscribe(sim, receiver.hook_url, "key", events=["event_type.created", "event_type.updated", "event_type.deleted"])
    et = sim.add_event_type("Webinar")
    sim.update_event_type(et["uri"], name="Webinar (new)")
    sim.delete_event_type(et["uri"])
    sim.book(et["uri"], "x@example.com", "Not Subscribed", future())  # invitee events not subscribed
    got = [r.json() for r in receiver.wait_for(3)]
    assert [g["event"] for g in got] == ["event_type.created", "event_type.updated", "event_type.deleted"]
    assert got[1]["payload"]["name"] == "Webinar (new)" and got[2]["payload"]["deleted_at"] is not None
    assert len(receiver.received) == 3
    ctx = admin_context(sim)
    sample = get(
        sim, "/sample_webhook_data", event="invitee.created", organization=ctx["organization"], scope="organization"
    )
    assert sample.status_code == 200
    assert sample.json()["payload"]["email"] == "x@example.com"
    assert "calendly-webhook-signature" not in {k.lower() for k in sample.headers}
