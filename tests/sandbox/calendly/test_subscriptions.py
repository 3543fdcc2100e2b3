"""Webhook subscription routes: round trip, validation and role rules (sandbox/calendly/subscriptions.py)."""

from __future__ import annotations

import requests

from calendly_sync.sandbox.calendly import CalendlySim
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import AUTH, get, post


def test_webhook_subscription_round_trip_and_validation(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    ctx = admin_context(sim)
    body = {
        "url": "https://hooks.example/calendly",
        "events": ["invitee.created", "invitee.canceled"],
        "organization": ctx["organization"],
        "scope": "organization",
        "signing_key": "k" * 32,
    }
    resp = post(sim, "/webhook_subscriptions", body)
    assert resp.status_code == 201
    sub = resp.json()["resource"]
    assert resp.headers["Location"] == sub["uri"]
    assert "signing_key" not in sub
    assert sub["state"] == "active" and sub["retry_started_at"] is None and sub["creator"] == ctx["user"]
    dup = post(sim, "/webhook_subscriptions", body)
    assert dup.status_code == 409
    assert dup.json() == {"title": "Already Exists", "message": "Hook with this url already exists"}
    listed = get(sim, "/webhook_subscriptions", organization=ctx["organization"], scope="organization").json()
    assert [s["uri"] for s in listed["collection"]] == [sub["uri"]]
    assert get(sim, "/webhook_subscriptions", scope="organization").status_code == 400
    assert get(sim, sub["uri"]).json()["resource"] == sub
    assert requests.delete(sub["uri"], headers=AUTH, timeout=5).status_code == 204
    assert get(sim, sub["uri"]).status_code == 404

    http = post(sim, "/webhook_subscriptions", {**body, "url": "http://insecure.example/h"})
    assert http.status_code == 400 and http.json()["details"][0]["parameter"] == "url"
    assert post(sim, "/webhook_subscriptions", {**body, "scope": "user"}).status_code == 400  # user missing
    assert post(sim, "/webhook_subscriptions", {**body, "events": ["invitee.exploded"]}).status_code == 400
    member = sim.add_user("Mo Member", "mo@acme-sales.example", role="user")
    sim.add_token("member-token", member["uri"])
    assert post(sim, "/webhook_subscriptions", body, "member-token").status_code == 403
    own = post(sim, "/webhook_subscriptions", {**body, "scope": "user", "user": member["uri"]}, "member-token")
    assert own.status_code == 201
    other = post(
        sim,
        "/webhook_subscriptions",
        {**body, "url": "https://h.example/2", "scope": "user", "user": ctx["user"]},
        "member-token",
    )
    assert other.status_code == 403
