"""Tokens, scopes, per-user rate limits and forced faults (sandbox/calendly/auth.py, via the router)."""

from __future__ import annotations

import requests

from calendly_sync.sandbox.calendly import CalendlySim
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import CALENDLY_TIME, get, post


def test_unauthenticated_variants(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    assert requests.get(sim.url + "/users/me", timeout=5).json() == {
        "title": "Unauthenticated",
        "message": "The access token is invalid",
    }
    sim.add_token("old", sim.admin["uri"], expired=True)
    sim.add_token("gone", sim.admin["uri"], revoked=True)
    for token, message in (
        ("nope", "The access token is invalid"),
        ("old", "The access token expired"),
        ("gone", "The access token was revoked"),
    ):
        resp = get(sim, "/users/me", token)
        assert resp.status_code == 401
        assert resp.json() == {"title": "Unauthenticated", "message": message}


def test_users_me_and_rate_limit_headers(calendly_sim: CalendlySim) -> None:
    resp = get(calendly_sim, "/users/me")
    assert resp.status_code == 200
    me = resp.json()["resource"]
    assert me["uri"].startswith(calendly_sim.url + "/users/")
    assert me["current_organization"].startswith(calendly_sim.url + "/organizations/")
    assert CALENDLY_TIME.match(me["created_at"])
    assert resp.headers["X-RateLimit-Limit"] == "500"
    assert resp.headers["X-RateLimit-Remaining"] == "499"
    assert int(resp.headers["X-RateLimit-Reset"]) > 0


def test_missing_scope_is_403_naming_the_scope(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    sim.add_token("narrow", sim.admin["uri"], scopes={"users:read", "scheduled_events:write"})
    assert get(sim, "/users/me", "narrow").status_code == 200
    ctx = admin_context(sim)
    # :write implies :read
    assert get(sim, "/scheduled_events", "narrow", user=ctx["user"]).status_code == 200
    resp = post(
        sim,
        "/webhook_subscriptions",
        {
            "url": "https://x.example/h",
            "events": ["invitee.created"],
            "organization": ctx["organization"],
            "scope": "organization",
        },
        "narrow",
    )
    assert resp.status_code == 403
    body = resp.json()
    assert body["title"] == "Permission Denied"
    assert "webhooks:write" in body["message"]
    assert body["details"] == [{"parameter": "scope", "message": "Missing required scope: webhooks:write"}]


def test_per_user_rate_limit_sliding_window() -> None:
    now = [1_800_000_000.0]
    sim = CalendlySim(default_token=True, rate_limit_per_minute=3, clock=lambda: now[0])
    with sim:
        for expected_remaining in ("2", "1", "0"):
            resp = get(sim, "/users/me")
            assert resp.status_code == 200
            assert resp.headers["X-RateLimit-Remaining"] == expected_remaining
        now[0] += 20
        limited = get(sim, "/users/me")
        assert limited.status_code == 429
        assert limited.json()["title"] == "Too Many Requests"
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        assert limited.headers["X-RateLimit-Reset"] == "40"
        now[0] += 40
        assert get(sim, "/users/me").status_code == 200


def test_force_429_has_headers(calendly_sim: CalendlySim) -> None:
    calendly_sim.force_429(times=1, reset=9)
    resp = get(calendly_sim, "/users/me")
    assert resp.status_code == 429
    assert resp.headers["X-RateLimit-Reset"] == "9"
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert get(calendly_sim, "/users/me").status_code == 200
