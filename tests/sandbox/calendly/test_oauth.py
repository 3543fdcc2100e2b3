"""The Calendly simulator follows the documented API behaviour (raw HTTP, no connector code)."""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from calendly_sync.calendly.signatures import verify_signature
from calendly_sync.sandbox.calendly import seeding as calendly_data
from calendly_sync.sandbox.calendly.server import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TOKEN,
    CalendlySim,
)
from tests.fixtures_calendly import WebhookReceiver, admin_context

AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
INVITEE_KEYS = {
    "uri", "email", "first_name", "last_name", "name", "status", "questions_and_answers", "timezone", "event",
    "created_at", "updated_at", "tracking", "text_reminder_number", "rescheduled", "old_invitee", "new_invitee",
    "cancel_url", "reschedule_url", "routing_form_submission", "payment", "no_show", "reconfirmation",
    "scheduling_method", "invitee_scheduled_by",
}
CALENDLY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def future(days: int = 3, hour: int = 10) -> datetime:
    """A whole hour ``days`` ahead (any weekday: the Python booking API does not check availability)."""
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def weekday_future(days: int = 3, hour: int = 10) -> datetime:
    """A bookable slot for the Scheduling API (weekdays 09:00–17:00 UTC)."""
    day = future(days, hour)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def get(sim: CalendlySim, path: str, token: str = SANDBOX_TOKEN, **params: Any) -> requests.Response:
    url = path if path.startswith("http") else sim.url + path
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def post(sim: CalendlySim, path: str, body: Any, token: str = SANDBOX_TOKEN) -> requests.Response:
    return requests.post(sim.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)


# -- auth -----------------------------------------------------------------------------------------
def test_unauthenticated_variants(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    assert requests.get(sim.url + "/users/me", timeout=5).json() == {
        "title": "Unauthenticated", "message": "The access token is invalid"}
    sim.add_token("old", sim.admin["uri"], expired=True)
    sim.add_token("gone", sim.admin["uri"], revoked=True)
    for token, message in (("nope", "The access token is invalid"), ("old", "The access token expired"),
                           ("gone", "The access token was revoked")):
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
    resp = post(sim, "/webhook_subscriptions", {"url": "https://x.example/h", "events": ["invitee.created"],
                                                 "organization": ctx["organization"], "scope": "organization"}, "narrow")
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


# -- event types / pagination ---------------------------------------------------------------------
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
    assert q == {"name": "Company name", "type": "string", "position": 0, "enabled": True, "required": False,
                 "answer_choices": [], "include_other": False}
    desc = get(sim, "/event_types", organization=admin_context(sim)["organization"], sort="name:desc").json()
    assert [e["name"] for e in desc["collection"]] == ["Zeta", "Mid", "Alpha"]


def test_pagination_shape_tokens_and_count_bounds(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    calendly_data.bulk_events(sim, 45, et["uri"])
    ctx = admin_context(sim)
    for bad in ("0", "101", "x"):
        assert get(sim, "/scheduled_events", user=ctx["user"], count=bad).status_code == 400
    first = get(sim, "/scheduled_events", user=ctx["user"], status="active").json()
    assert len(first["collection"]) == 20  # default count
    pag = first["pagination"]
    assert set(pag) == {"count", "next_page", "previous_page", "next_page_token", "previous_page_token"}
    assert pag["previous_page"] is None and pag["previous_page_token"] is None
    next_q = parse_qs(urlsplit(pag["next_page"]).query)
    assert next_q["user"] == [ctx["user"]] and next_q["status"] == ["active"]  # filters kept
    assert pag["next_page"].startswith(sim.url + "/scheduled_events?")
    seen = [e["uri"] for e in first["collection"]]
    url: str | None = pag["next_page"]
    while url:
        page = get(sim, url).json()
        seen += [e["uri"] for e in page["collection"]]
        url = page["pagination"]["next_page"]
    assert len(seen) == len(set(seen)) == 45
    assert page["pagination"]["next_page_token"] is None and page["pagination"]["next_page"] is None
    # previous page goes back
    prev = get(sim, page["pagination"]["previous_page"]).json()
    assert [e["uri"] for e in prev["collection"]] == seen[20:40]
    # a token reused with different filters is rejected
    resp = get(sim, "/scheduled_events", user=ctx["user"], page_token=pag["next_page_token"])
    assert resp.status_code == 400
    starts = [e["start_time"] for e in first["collection"]]
    assert starts == sorted(starts)


def test_keyset_pagination_is_stable_under_inserts(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    calendly_data.bulk_events(sim, 30, et["uri"], start=future(10))
    ctx = admin_context(sim)
    first = get(sim, "/scheduled_events", user=ctx["user"], count=10).json()
    sim.book(et["uri"], "early@example.com", "Early Bird", future(2))  # sorts before the cursor
    rest = []
    token = first["pagination"]["next_page_token"]
    while token:
        page = get(sim, "/scheduled_events", user=ctx["user"], count=10, page_token=token).json()
        rest += page["collection"]
        token = page["pagination"]["next_page_token"]
    assert len(rest) == 20  # nothing skipped or repeated


# -- scheduled events: roles, filters -------------------------------------------------------------
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
    assert resp.json()["message"] == "Please also specify organization when requesting events for a user within your organization."
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
    window = get(sim, "/scheduled_events", user=ctx["user"], min_start_time=(future(3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 sort="start_time:desc").json()["collection"]
    assert [e["uri"] for e in window] == [b["event"]]
    missing = get(sim, "/scheduled_events/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Resource Not Found"


def test_invitee_has_every_documented_key(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Discovery", ["Company name"], split_name=True)
    inv = sim.book(et["uri"], "levi@example.com", "Levi Duncan", future(),
                   questions_and_answers=[{"question": "Company name", "answer": "Acme", "position": 0}],
                   tracking={"utm_source": "newsletter"})
    assert set(inv) == INVITEE_KEYS
    assert inv["first_name"] == "Levi" and inv["last_name"] == "Duncan"
    assert set(inv["tracking"]) == {"utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid"}
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


# -- webhook subscriptions ------------------------------------------------------------------------
def test_webhook_subscription_round_trip_and_validation(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    ctx = admin_context(sim)
    body = {"url": "https://hooks.example/calendly", "events": ["invitee.created", "invitee.canceled"],
            "organization": ctx["organization"], "scope": "organization", "signing_key": "k" * 32}
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
    other = post(sim, "/webhook_subscriptions", {**body, "url": "https://h.example/2", "scope": "user",
                                                 "user": ctx["user"]}, "member-token")
    assert other.status_code == 403


def _subscribe(sim: CalendlySim, url: str, key: str | None, events: list[str] | None = None) -> dict[str, Any]:
    ctx = admin_context(sim)
    body = {"url": url, "events": events or ["invitee.created", "invitee.canceled", "invitee_no_show.created",
                                             "invitee_no_show.deleted"],
            "organization": ctx["organization"], "scope": "organization"}
    if key:
        body["signing_key"] = key
    resp = post(sim, "/webhook_subscriptions", body)
    assert resp.status_code == 201, resp.text
    return resp.json()["resource"]


def test_signed_webhook_is_delivered_and_verifies(calendly_sim: CalendlySim,
                                                  calendly_webhook_receiver: WebhookReceiver) -> None:
    sim, receiver = calendly_sim, calendly_webhook_receiver
    sim.allow_http_callbacks = True
    key = secrets.token_urlsafe(32)
    _subscribe(sim, receiver.hook_url, key)
    et = sim.add_event_type("Discovery", ["Company name"])
    inv = sim.book(et["uri"], "w@example.com", "Wes Hook", future(),
                   questions_and_answers=[{"question": "Company name", "answer": "Acme"}])
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


def test_reschedule_fires_both_events_and_no_show_events(calendly_sim: CalendlySim,
                                                         calendly_webhook_receiver: WebhookReceiver) -> None:
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
    assert [e for e, _ in events] == ["invitee.created", "invitee.canceled", "invitee.created",
                                      "invitee_no_show.created", "invitee_no_show.deleted"]
    canceled, created = events[1][1], events[2][1]
    assert canceled["rescheduled"] is True and canceled["new_invitee"] == new["uri"]
    assert created["old_invitee"] == inv["uri"] and created["scheduled_event"]["uri"] != inv["event"]
    assert events[3][1]["no_show"]["uri"] == ns["uri"] and events[4][1]["no_show"] is None


def test_failed_deliveries_are_retried_then_hook_disabled(calendly_webhook_receiver: WebhookReceiver) -> None:
    receiver = calendly_webhook_receiver
    receiver.status = 500
    sim = CalendlySim(default_token=True, allow_http_callbacks=True, deliver_sync=True, delivery_retries=2,
                      delivery_backoff=0.0, disable_after_failures=3)
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


# -- scheduling API -------------------------------------------------------------------------------
def test_scheduling_api_and_available_times(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Discovery", [{"name": "Company name", "required": True}], split_name=True)
    start = weekday_future(3, hour=10)
    end = start + timedelta(days=1)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    assert get(sim, "/event_type_available_times", event_type=et["uri"]).status_code == 400
    too_long = get(sim, "/event_type_available_times", event_type=et["uri"], start_time=start.strftime(fmt),
                   end_time=(start + timedelta(days=32)).strftime(fmt))
    assert too_long.status_code == 400
    times = get(sim, "/event_type_available_times", event_type=et["uri"], start_time=start.strftime(fmt),
                end_time=end.strftime(fmt)).json()
    assert set(times) == {"collection"}
    slot = times["collection"][0]["start_time"]
    assert slot == start.strftime(fmt)
    body = {"event_type": et["uri"], "start_time": slot,
            "invitee": {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"},
            "questions_and_answers": [{"question": "company name", "answer": "x", "position": 0}]}
    bad = post(sim, "/invitees", body)
    assert bad.status_code == 400  # question text must match exactly (case-sensitive)
    body["questions_and_answers"][0]["question"] = "Company name"
    ok = post(sim, "/invitees", body)
    assert ok.status_code == 201, ok.text
    inv = ok.json()["resource"]
    assert inv["scheduling_method"] == "api"
    assert (inv["first_name"], inv["last_name"]) == ("Ada", "Lovelace")  # split-name event type
    assert post(sim, "/invitees", body).status_code == 400  # the slot is taken now
    link = post(sim, "/scheduling_links", {"max_event_count": 1, "owner": et["uri"], "owner_type": "EventType"})
    assert link.status_code == 201 and link.json()["resource"]["booking_url"].startswith("https://calendly.com/d/")


# -- OAuth ----------------------------------------------------------------------------------------
def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize(sim: CalendlySim, challenge: str | None, decision: str = "approve", scope: str = "users:read scheduled_events:read") -> dict[str, list[str]]:
    params = {"client_id": SANDBOX_CLIENT_ID, "response_type": "code", "redirect_uri": "http://localhost:8000/cb",
              "scope": scope, "state": "st4te"}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(sim.url + "/oauth/authorize", params=params, timeout=5)
    assert page.status_code == 200
    assert "users:read" in page.text and "Approve" in page.text and "Deny" in page.text
    resp = requests.post(sim.url + "/oauth/authorize", data={**params, "decision": decision}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("http://localhost:8000/cb?")
    return parse_qs(urlsplit(location).query)


def _token(sim: CalendlySim, **form: str) -> requests.Response:
    return requests.post(sim.url + "/oauth/token", data=form, auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET), timeout=5)


def test_oauth_code_exchange_with_pkce_and_basic_auth(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    verifier, challenge = _pkce()
    q = _authorize(sim, challenge)
    assert q["state"] == ["st4te"]
    code = q["code"][0]
    wrong = _token(sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:8000/cb",
                   code_verifier="not-the-verifier")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    q = _authorize(sim, challenge)  # the code is single-use even after a failed exchange
    code = q["code"][0]
    ok = _token(sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:8000/cb",
                code_verifier=verifier)
    assert ok.status_code == 200, ok.text
    tok = ok.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 7200
    assert tok["owner"] == admin_context(sim)["user"] and tok["organization"] == admin_context(sim)["organization"]
    assert tok["scope"] == "users:read scheduled_events:read" and isinstance(tok["created_at"], int)
    assert get(sim, "/users/me", tok["access_token"]).status_code == 200
    assert get(sim, "/event_types", tok["access_token"], user=tok["owner"]).status_code == 403  # not granted
    reuse = _token(sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:8000/cb",
                   code_verifier=verifier)
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    bad_client = requests.post(sim.url + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x"},
                               auth=(SANDBOX_CLIENT_ID, "wrong"), timeout=5)
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    intro = requests.post(sim.url + "/oauth/introspect", data={"client_id": SANDBOX_CLIENT_ID,
                                                               "client_secret": SANDBOX_CLIENT_SECRET,
                                                               "token": tok["access_token"]}, timeout=5).json()
    assert intro["active"] is True and intro["owner"] == tok["owner"]
    revoke = requests.post(sim.url + "/oauth/revoke", data={"client_id": SANDBOX_CLIENT_ID,
                                                            "client_secret": SANDBOX_CLIENT_SECRET,
                                                            "token": tok["access_token"]}, timeout=5)
    assert revoke.status_code == 200 and revoke.json() == {}
    assert get(sim, "/users/me", tok["access_token"]).json()["message"] == "The access token was revoked"


def test_oauth_deny_and_redirect_mismatch(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None, decision="deny")
    assert q == {"error": ["access_denied"], "state": ["st4te"]}
    q = _authorize(sim, None)
    resp = _token(sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://evil.example/cb")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_oauth_access_token_expires_after_ttl() -> None:
    now = [1_800_000_000.0]
    with CalendlySim(clock=lambda: now[0], access_token_ttl=60) as sim:
        q = _authorize(sim, None)
        tok = _token(sim, grant_type="authorization_code", code=q["code"][0],
                     redirect_uri="http://localhost:8000/cb").json()
        assert tok["expires_in"] == 60
        assert get(sim, "/users/me", tok["access_token"]).status_code == 200
        now[0] += 61
        assert get(sim, "/users/me", tok["access_token"]).json()["message"] == "The access token expired"


def test_refresh_tokens_rotate_and_are_single_use(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None)
    first = _token(sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://localhost:8000/cb").json()
    second = _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"] and pair["access_token"] != first["access_token"]
    reuse = _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "invalid, expired, revoked" in reuse.json()["error_description"]
    assert _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 200
    assert sim.token_grants["refresh_token"] == 2 and sim.token_requests["refresh_token"] == 3


def test_concurrent_refresh_with_same_token_exactly_one_wins(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None)
    refresh = _token(sim, grant_type="authorization_code", code=q["code"][0],
                     redirect_uri="http://localhost:8000/cb").json()["refresh_token"]
    barrier = threading.Barrier(4)
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        status = _token(sim, grant_type="refresh_token", refresh_token=refresh).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == [200, 400, 400, 400]
    assert sim.token_grants["refresh_token"] == 1


# -- seed data + control API ----------------------------------------------------------------------
def test_seeded_data_is_realistic_and_deterministic() -> None:
    now = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)
    a = CalendlySim(seed=7, clock=lambda: now)
    b = CalendlySim(seed=7, clock=lambda: now)
    assert a.render(list(a.invitees.values())) == b.render(list(b.invitees.values()))
    names = {et["name"] for et in a.event_types.values()}
    assert {"Discovery Call", "Product Demo", "Onboarding Session"} <= names and 3 <= len(names) <= 5
    originals = [e for e in a.events.values()]
    assert len(originals) >= 40
    invs = list(a.invitees.values())
    assert any(i["status"] == "canceled" and not i["rescheduled"] for i in invs)
    assert any(i["rescheduled"] and i["new_invitee"] for i in invs)
    assert all(CALENDLY_TIME.match(i["created_at"]) for i in invs)
    assert any(i["tracking"]["utm_source"] for i in invs)
    assert any(i["first_name"] for i in invs) and any(i["first_name"] is None for i in invs)
    phones = [qa["answer"] for i in invs for qa in i["questions_and_answers"] if qa["question"] == "Phone number"]
    phones += [i["text_reminder_number"] for i in invs if i["text_reminder_number"]]
    assert any(p.startswith("+") for p in phones) and any(not p.startswith("+") for p in phones)
    starts = [e["_start"] for e in a.events.values()]
    assert min(starts) < now.timestamp() < max(starts)
    assert all(to <= now.timestamp() for to in (i["_created"] for i in invs))


def test_sim_control_api(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    sim.add_event_type("Call")
    booked = requests.post(sim.url + "/_sim/book", json={"email": "s@example.com", "name": "Sim User"}, timeout=5)
    assert booked.status_code == 201
    inv = booked.json()["resource"]
    resched = requests.post(sim.url + "/_sim/reschedule", json={"invitee": inv["uri"], "start_time": future(9).isoformat()}, timeout=5)
    assert resched.status_code == 201
    new = resched.json()["resource"]
    assert requests.post(sim.url + "/_sim/no_show", json={"invitee": new["uri"]}, timeout=5).status_code == 201
    assert requests.post(sim.url + "/_sim/cancel", json={"invitee": new["uri"]}, timeout=5).status_code == 200
    state = requests.get(sim.url + "/_sim/state", timeout=5).json()
    assert state["invitees"] == 2 and state["scheduled_events"] == 2 and state["no_shows"] == 1


def test_event_type_webhooks_and_sample_data(calendly_sim: CalendlySim,
                                             calendly_webhook_receiver: WebhookReceiver) -> None:
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
    sample = get(sim, "/sample_webhook_data", event="invitee.created", organization=ctx["organization"],
                 scope="organization")
    assert sample.status_code == 200
    assert sample.json()["payload"]["email"] == "x@example.com"
    assert "calendly-webhook-signature" not in {k.lower() for k in sample.headers}


def test_native_oauth_client_requires_pkce(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    sim.register_oauth_client("native-app", None, ["http://localhost:8000/cb"], kind="native")
    verifier, challenge = _pkce()
    params = {"client_id": "native-app", "response_type": "code", "redirect_uri": "http://localhost:8000/cb",
              "code_challenge": challenge, "code_challenge_method": "S256", "decision": "approve"}
    loc = requests.post(sim.url + "/oauth/authorize", data=params, allow_redirects=False, timeout=5).headers["Location"]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    resp = requests.post(sim.url + "/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                         "client_id": "native-app", "code_verifier": verifier,
                                                         "redirect_uri": "http://localhost:8000/cb"}, timeout=5)
    assert resp.status_code == 200, resp.text
    bad_redirect = requests.get(sim.url + "/oauth/authorize", params={**params, "redirect_uri": "http://evil.example/"}, timeout=5)
    assert bad_redirect.status_code == 400
