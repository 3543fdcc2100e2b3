"""CalendlyClient against the simulator over real HTTP: pagination, retries, typed errors."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from calendly_sync.calendly import (
    CalendlyAuthError,
    CalendlyClient,
    CalendlyConflict,
    CalendlyNotFound,
    CalendlyPermissionError,
    CalendlyRateLimited,
    CalendlyServerError,
    CalendlyTransportError,
    CalendlyValidationError,
    RateLimiter,
    limiter_for,
    ratelimit,
)
from calendly_sync.calendly.client import format_time, uuid_from_uri
from calendly_sync.http import RetryPolicy
from calendly_sync.sandbox.calendly import seeding as calendly_data
from calendly_sync.sandbox.calendly.server import CalendlySim
from calendly_sync.sandbox.httpbase import Fault
from tests.fixtures_calendly import RecordingSleep, admin_context

SECRET = "pat-very-secret-0123456789abcdef"


def future(days: int = 3, hour: int = 10) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class FakeClock:
    """Monotonic fake time; ``sleep`` advances it (shared by limiter and simulator)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


# -- pagination -----------------------------------------------------------------------------------
def test_pagination_collects_250_events_in_exactly_3_pages(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient
) -> None:
    et = calendly_sim.add_event_type("Bulk")
    created = calendly_data.bulk_events(calendly_sim, 250, et["uri"])
    calendly_sim.reset_counters()
    events = list(calendly_client.list_scheduled_events(user=admin_context(calendly_sim)["user"], status="active"))
    assert len(events) == 250
    assert {e["uri"] for e in events} == set(created)
    assert calendly_sim.count(r"^GET /scheduled_events$") == 3
    pages = [r for r in calendly_sim.requests if r.path == "/scheduled_events"]
    assert all(r.q("count") == "100" and r.q("status") == "active" for r in pages)  # filters kept on every page
    assert [r.q("page_token") is None for r in pages] == [True, False, False]


def test_iter_pages_resumes_from_a_checkpoint(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    et = calendly_sim.add_event_type("Bulk")
    calendly_data.bulk_events(calendly_sim, 25, et["uri"])
    params = calendly_client.scheduled_events_params(user=admin_context(calendly_sim)["user"])
    pages = calendly_client.iter_pages("/scheduled_events", {**params, "count": 10})
    first = next(pages)
    assert len(first.items) == 10 and first.next_page_token
    resumed = list(
        calendly_client.iter_pages("/scheduled_events", {**params, "count": 10}, page_token=first.next_page_token)
    )
    assert [len(p.items) for p in resumed] == [10, 5]
    assert resumed[-1].next_page_token is None
    uris = [e["uri"] for p in [first, *resumed] for e in p.items]
    assert len(set(uris)) == 25


# -- rate limits ----------------------------------------------------------------------------------
def test_429_waits_exactly_the_reset_header_then_succeeds(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient, calendly_sleep: RecordingSleep
) -> None:
    calendly_sim.force_429(times=1, reset=7)
    me = calendly_client.get_current_user()
    assert me["email"] == "avery.admin@acme-sales.example"
    assert calendly_sleep.calls == [7.0]
    assert calendly_client.stats == {"calls": 2, "rate_limited": 1, "retries": 1}


def test_429_with_a_shared_limiter_is_waited_once(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    """The limiter (real clock) must not sleep again for a 429 the client already waited out."""
    import time

    limiter = RateLimiter(500)
    client = CalendlyClient("sandbox-calendly-token", calendly_sim.url, sleep=calendly_sleep, rate_limiter=limiter)
    calendly_sim.force_429(times=1, reset=5)
    started = time.monotonic()
    client.get_current_user()
    assert calendly_sleep.calls == [5.0]
    assert time.monotonic() - started < 2
    assert limiter.wait_time() == 0


def test_rate_limiter_block_is_shared_but_released_by_its_owner() -> None:
    clock = FakeClock()
    limiter = RateLimiter(500, clock=clock, sleep=clock.sleep)
    deadline = limiter.block_for(10)
    assert limiter.wait_time() == 10  # other threads are held
    later = limiter.block_for(20)
    limiter.release(deadline)  # someone else extended the block: it stays
    assert limiter.wait_time() == 20
    limiter.release(later)
    assert limiter.wait_time() == 0


def test_429_wait_is_capped(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    client = CalendlyClient(
        "sandbox-calendly-token", calendly_sim.url, sleep=calendly_sleep, retry=RetryPolicy(max_rate_limit_wait=30)
    )
    calendly_sim.force_429(times=1, reset=600)
    client.get_current_user()
    assert calendly_sleep.calls == [30.0]


def test_429_is_raised_at_once_when_the_caller_cannot_wait(
    calendly_sim: CalendlySim, calendly_sleep: RecordingSleep
) -> None:
    """Interactive calls (the scheduling API) answer with Retry-After instead of holding the request."""
    client = CalendlyClient(
        "sandbox-calendly-token", calendly_sim.url, sleep=calendly_sleep, retry=RetryPolicy(wait_on_rate_limit=False)
    )
    calendly_sim.force_429(times=1, reset=42)
    with pytest.raises(CalendlyRateLimited) as err:
        client.get_current_user()
    assert err.value.reset_seconds == 42 and calendly_sleep.calls == []
    assert client.stats == {"calls": 1, "rate_limited": 1, "retries": 0}


def test_429_forever_raises_rate_limited(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient, calendly_sleep: RecordingSleep
) -> None:
    calendly_sim.force_429(times=100, reset=2)
    with pytest.raises(CalendlyRateLimited) as err:
        calendly_client.get_current_user()
    assert err.value.status == 429 and err.value.reset_seconds == 2
    assert calendly_sleep.calls == [2.0] * RetryPolicy().max_retries
    assert calendly_sim.count(r"^GET /users/me$") == RetryPolicy().max_retries + 1


def test_429_without_headers_backs_off(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient, calendly_sleep: RecordingSleep
) -> None:
    calendly_sim.inject(Fault(kind="status", status=429, route="GET /users/me", times=1))
    calendly_client.get_current_user()
    policy = RetryPolicy()
    assert len(calendly_sleep.calls) == 1
    assert policy.base_delay / 2 <= calendly_sleep.calls[0] <= policy.base_delay


def test_rate_limiter_adapts_to_headers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(500, clock=clock, sleep=clock.sleep)
    limiter.update_from_headers({"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "30"})
    assert limiter.limit == 50 - ratelimit.HEADROOM  # a little headroom for calls in flight
    assert limiter.acquire() == 0 and limiter.acquire() == 0  # the server said 2 are left
    assert limiter.acquire() == 30  # then wait for the reset
    assert clock.sleeps == [30]
    limiter.update_from_headers({"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"})
    assert limiter.wait_time() == 12
    assert limiter.acquire() == 12
    limiter.update_from_headers({"X-RateLimit-Remaining": "abc"})  # garbage is ignored
    assert limiter.acquire() == 0


def test_rate_limiter_sliding_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert limiter.acquire() == 0
        clock.t += 10
    assert limiter.acquire() == 30  # first stamp leaves the 60 s window at t0+60
    assert limiter_for("user-a") is limiter_for("user-a") is not limiter_for("user-b")


def test_client_limiter_paces_requests_so_the_server_never_429s() -> None:
    clock = FakeClock()
    sim = CalendlySim(default_token=True, rate_limit_per_minute=5, clock=clock)
    with sim:
        client = CalendlyClient(
            "sandbox-calendly-token",
            sim.url,
            sleep=clock.sleep,
            rate_limiter=RateLimiter(500, clock=clock, sleep=clock.sleep),
        )
        for _ in range(12):
            client.get_current_user()
        assert client.stats["rate_limited"] == 0
        assert sim.count(r"^GET /users/me$") == 12
        assert clock.sleeps and sum(clock.sleeps) >= 120  # two full windows waited out


# -- auth -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("state,reason", [("expired", "expired"), ("revoked", "revoked"), ("unknown", "invalid")])
def test_auth_errors_are_typed_and_never_leak_the_token(
    calendly_sim: CalendlySim, calendly_sleep: RecordingSleep, caplog: pytest.LogCaptureFixture, state: str, reason: str
) -> None:
    if state != "unknown":
        calendly_sim.add_token(
            SECRET, calendly_sim.admin["uri"], expired=state == "expired", revoked=state == "revoked"
        )
    client = CalendlyClient(SECRET, calendly_sim.url, sleep=calendly_sleep)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CalendlyAuthError) as err:
        client.get_current_user()
    assert err.value.status == 401 and err.value.reason == reason
    text = str(err.value)
    assert text.startswith("Calendly rejected the access token: ")
    assert SECRET not in text and SECRET not in repr(err.value) and SECRET not in caplog.text
    if reason == "expired":
        assert text == (
            "Calendly rejected the access token: The access token expired. "
            "Refresh the OAuth token or issue a new Personal Access Token."
        )
    assert calendly_sleep.calls == []  # 401 is not retried blindly


def test_token_source_gets_one_refresh_after_401(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    calendly_sim.add_token("stale", calendly_sim.admin["uri"], expired=True)
    calendly_sim.add_token("fresh", calendly_sim.admin["uri"])

    class Source:
        def __init__(self) -> None:
            self.token, self.refreshes = "stale", 0

        def access_token(self) -> str:
            return self.token

        def refresh_after_unauthorized(self, error: Exception) -> bool:
            assert isinstance(error, CalendlyAuthError) and error.reason == "expired"
            self.refreshes += 1
            self.token = "fresh"
            return True

    source = Source()
    client = CalendlyClient(source, calendly_sim.url, sleep=calendly_sleep)
    assert client.get_current_user()["resource_type"] == "User"
    assert source.refreshes == 1
    source.token = "stale"  # a refresh that does not help is not retried again
    source.refresh_after_unauthorized = lambda error: True  # type: ignore[method-assign]
    with pytest.raises(CalendlyAuthError):
        client.get_current_user()
    assert calendly_sim.count(r"^GET /users/me$") == 4


# -- 5xx and transport ----------------------------------------------------------------------------
def test_5xx_is_retried_then_succeeds(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient, calendly_sleep: RecordingSleep
) -> None:
    calendly_sim.fail(500, times=2)
    assert calendly_client.get_current_user()["resource_type"] == "User"
    assert len(calendly_sleep.calls) == 2
    assert calendly_client.stats["retries"] == 2


def test_5xx_forever_raises_server_error_after_the_bound(
    calendly_sim: CalendlySim, calendly_client: CalendlyClient
) -> None:
    calendly_sim.fail(503, times=None)
    with pytest.raises(CalendlyServerError) as err:
        calendly_client.get_current_user()
    assert err.value.status == 503
    assert calendly_sim.count(r"^GET /users/me$") == RetryPolicy().max_retries + 1


def test_timeout_is_retried(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    client = CalendlyClient("sandbox-calendly-token", calendly_sim.url, sleep=calendly_sleep, timeout=(1.0, 0.2))
    calendly_sim.inject(Fault(kind="timeout", seconds=0.6, route="GET /users/me", times=1))
    assert client.get_current_user()["resource_type"] == "User"
    assert calendly_sim.count(r"^GET /users/me$") == 2
    assert len(calendly_sleep.calls) == 1


def test_timeouts_forever_raise_transport_error(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    client = CalendlyClient(
        "sandbox-calendly-token",
        calendly_sim.url,
        sleep=calendly_sleep,
        timeout=(1.0, 0.1),
        retry=RetryPolicy(max_retries=1),
    )
    calendly_sim.inject(Fault(kind="timeout", seconds=0.3, route="GET /users/me", times=None))
    with pytest.raises(CalendlyTransportError, match="ReadTimeout after 2 attempt"):
        client.get_current_user()


def test_read_timeout_on_post_is_not_retried(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    """A POST that timed out may have been applied (e.g. a booking): never send it twice."""
    client = CalendlyClient("sandbox-calendly-token", calendly_sim.url, sleep=calendly_sleep, timeout=(1.0, 0.1))
    calendly_sim.inject(Fault(kind="timeout", seconds=0.3, route="POST /scheduling_links", times=None))
    with pytest.raises(CalendlyTransportError, match="not retried"):
        client.create_scheduling_link("https://api.calendly.com/event_types/x")
    assert calendly_sim.count(r"^POST /scheduling_links$") == 1


def test_connection_refused_is_a_transport_error(
    calendly_sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    sim = CalendlySim(default_token=True).start()
    url = sim.url
    sim.stop()
    client = CalendlyClient("t", url, sleep=calendly_sleep, retry=RetryPolicy(max_retries=2))
    with pytest.raises(CalendlyTransportError) as err:
        client.get_current_user()
    assert err.value.status is None and len(calendly_sleep.calls) == 2
    # the message names the host: the simulator, or the real Calendly by mistake?
    assert str(err.value) == f"Could not reach {url}: ConnectionError after 3 attempt(s) (GET /users/me)"
    assert f"Calendly GET {url}/users/me failed (ConnectionError); retry 1" in caplog.text


# -- typed 4xx ------------------------------------------------------------------------------------
def test_403_missing_scope_names_the_scope(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    calendly_sim.add_token(SECRET, calendly_sim.admin["uri"], scopes={"users:read", "webhooks:read"})
    client = CalendlyClient(SECRET, calendly_sim.url, sleep=calendly_sleep)
    ctx = admin_context(calendly_sim)
    with pytest.raises(CalendlyPermissionError) as err:
        client.create_webhook_subscription(
            url="https://h.example/x",
            events=["invitee.created"],
            organization=ctx["organization"],
            scope="organization",
        )
    assert err.value.status == 403
    assert err.value.missing_scopes == ["webhooks:write"]
    assert "missing scopes: webhooks:write" in str(err.value)
    assert SECRET not in str(err.value)
    assert calendly_sleep.calls == []


def test_403_role_error_has_no_scopes(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> None:
    member = calendly_sim.add_user("Mo Member", "mo@acme-sales.example", role="user")
    calendly_sim.add_token("member", member["uri"])
    client = CalendlyClient("member", calendly_sim.url, sleep=calendly_sleep)
    with pytest.raises(CalendlyPermissionError) as err:
        list(client.list_scheduled_events(organization=admin_context(calendly_sim)["organization"]))
    assert err.value.missing_scopes == []


def test_404_and_409_are_typed(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    with pytest.raises(CalendlyNotFound) as nf:
        calendly_client.get_scheduled_event("00000000-0000-0000-0000-000000000000")
    assert nf.value.title == "Resource Not Found"
    ctx = admin_context(calendly_sim)
    kwargs: dict[str, Any] = dict(
        url="https://hooks.example/c",
        events=["invitee.created"],
        organization=ctx["organization"],
        scope="organization",
        signing_key="k",
    )
    calendly_client.create_webhook_subscription(**kwargs)
    with pytest.raises(CalendlyConflict) as conflict:
        calendly_client.create_webhook_subscription(**kwargs)
    assert conflict.value.status == 409 and conflict.value.message == "Hook with this url already exists"


def test_400_is_a_validation_error_with_details(
    calendly_client: CalendlyClient, calendly_sleep: RecordingSleep
) -> None:
    with pytest.raises(CalendlyValidationError) as err:
        list(calendly_client.list_event_types())
    assert err.value.details and "organization" in str(err.value)
    assert calendly_sleep.calls == []


# -- resources ------------------------------------------------------------------------------------
def test_webhook_subscription_round_trip(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    ctx = admin_context(calendly_sim)
    sub = calendly_client.create_webhook_subscription(
        url="https://hooks.example/calendly",
        events=["invitee.created", "invitee.canceled"],
        organization=ctx["organization"],
        scope="user",
        user=ctx["user"],
        signing_key="secret-key",
    )
    assert sub["scope"] == "user" and sub["user"] == ctx["user"]
    listed = list(
        calendly_client.list_webhook_subscriptions(organization=ctx["organization"], scope="user", user=ctx["user"])
    )
    assert [s["uri"] for s in listed] == [sub["uri"]]
    assert calendly_client.get_webhook_subscription(uuid_from_uri(sub["uri"]))["callback_url"] == sub["callback_url"]
    calendly_client.delete_webhook_subscription(sub["uri"])
    with pytest.raises(CalendlyNotFound):
        calendly_client.get_webhook_subscription(sub["uri"])
    assert (
        list(calendly_client.list_webhook_subscriptions(organization=ctx["organization"], scope="organization")) == []
    )


def test_events_invitees_and_foreign_host_uris(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    et = calendly_sim.add_event_type("Discovery Call", ["Company name"], split_name=True)
    inv = calendly_sim.book(
        et["uri"],
        "Levi@Example.com",
        "Levi Duncan",
        future(2),
        questions_and_answers=[{"question": "Company name", "answer": "Acme"}],
    )
    calendly_sim.book(et["uri"], "other@example.com", "Other Person", future(20))
    ctx = admin_context(calendly_sim)
    window = list(
        calendly_client.list_scheduled_events(
            organization=ctx["organization"],
            min_start_time=future(1),
            max_start_time=future(10),
            sort="start_time:desc",
        )
    )
    assert [e["uri"] for e in window] == [inv["event"]]
    sent = [r for r in calendly_sim.requests if r.path == "/scheduled_events"][-1]
    assert sent.q("min_start_time") == format_time(future(1))
    assert sent.q("min_start_time").endswith(".000000Z")
    # canonical api.calendly.com URIs are rebased onto base_url
    canonical = inv["event"].replace(calendly_sim.url, "https://api.calendly.com")
    assert calendly_client.get_scheduled_event(canonical)["uri"] == inv["event"]
    assert calendly_client.get_event_type(uuid_from_uri(et["uri"]))["name"] == "Discovery Call"
    assert [i["email"] for i in calendly_client.list_invitees(canonical)] == ["Levi@Example.com"]
    assert calendly_client.get_invitee(inv["uri"])["first_name"] == "Levi"
    assert [t["name"] for t in calendly_client.list_event_types(user=ctx["user"], active=True)] == ["Discovery Call"]


def test_scheduling_api_no_shows_and_cancellation(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    et = calendly_sim.add_event_type("Demo", [{"name": "Company", "required": True}])
    start = future(4, hour=9)
    slots = calendly_client.list_available_times(et["uri"], start, start + timedelta(hours=8))
    assert slots[0]["start_time"] == format_time(start)
    inv = calendly_client.create_invitee(
        et["uri"],
        slots[0]["start_time"],
        {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"},
        questions_and_answers=[{"question": "Company", "answer": "Analytical Engines"}],
        tracking={"utm_source": "partner"},
    )
    assert inv["scheduling_method"] == "api" and inv["tracking"]["utm_source"] == "partner"
    ns = calendly_client.create_invitee_no_show(inv["uri"])
    assert calendly_client.get_invitee_no_show(ns["uri"])["invitee"] == inv["uri"]
    calendly_client.delete_invitee_no_show(ns["uri"])
    with pytest.raises(CalendlyNotFound):
        calendly_client.get_invitee_no_show(ns["uri"])
    link = calendly_client.create_scheduling_link(et["uri"])
    assert link["owner_type"] == "EventType"
    cancellation = calendly_client.cancel_event(inv["event"], reason="Double booked")
    assert cancellation["canceler_type"] == "host" and cancellation["reason"] == "Double booked"
    with pytest.raises(CalendlyPermissionError, match="Event is already canceled"):
        calendly_client.cancel_event(inv["event"])


def test_format_time() -> None:
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 678123, tzinfo=UTC)) == "2026-01-02T03:04:05.678123Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 1, 2, 5, 0, tzinfo=plus_two)) == "2026-01-02T03:00:00.000000Z"
