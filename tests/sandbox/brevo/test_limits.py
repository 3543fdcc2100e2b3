"""Per-bucket rate limits and forced faults in Brevo's shape (sandbox/brevo/limits.py)."""

from __future__ import annotations

from tests.sandbox.brevo.helpers import call


def test_rate_limit_per_bucket_with_headers(make_brevo_sim):
    now = [100.0]
    sim = make_brevo_sim(rate_limit_per_second=3, clock=lambda: now[0])
    for _ in range(3):
        r = call(sim, "GET", "/contacts/lists")
        assert r.status_code == 200 and "x-sib-ratelimit-remaining" in r.headers
    limited = call(sim, "GET", "/contacts/attributes")
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_requests"
    assert limited.headers["x-sib-ratelimit-limit"] == "3"
    assert limited.headers["x-sib-ratelimit-remaining"] == "0"
    assert limited.headers["x-sib-ratelimit-reset"] == "1"
    assert "Retry-After" not in limited.headers
    # other buckets are separate
    assert call(sim, "POST", "/events", {"event_name": "x", "identifiers": {"ext_id": "1"}}).status_code == 204
    now[0] += 1.01
    assert call(sim, "GET", "/contacts/lists").status_code == 200


def test_forced_faults(brevo_sim):
    brevo_sim.force_429(times=1, reset=7)
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert (
        r.status_code == 429
        and r.headers["x-sib-ratelimit-reset"] == "7"
        and r.headers["x-sib-ratelimit-remaining"] == "0"
    )
    assert r.json()["code"] == "too_many_requests"
    brevo_sim.fail_next(502, b"", route=r"GET /v3/contacts/lists")
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert r.status_code == 502 and r.content == b""
    brevo_sim.too_early()
    assert call(brevo_sim, "GET", "/contacts/lists").json()["code"] == "account_in_process"
    assert call(brevo_sim, "GET", "/contacts/lists").status_code == 200
