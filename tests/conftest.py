"""Shared fixtures. Simulator fixtures live in their own plugin modules (tests/fixtures_*.py).

Connector-level tests point the settings at the per-test simulators, so every Calendly and Brevo
call in them is real HTTP to a real (simulated) server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest_plugins = [
    "tests.fixtures_calendly",
    "tests.fixtures_brevo",
    "tests.fixtures_webhooks",
    "tests.fixtures_servers",
]

from calendly_sync.sync.mapping import PRODUCT_PAGE_MAPPING  # noqa: E402

PAGE_FIELD_MAPPING = PRODUCT_PAGE_MAPPING


class Sleeps:
    """Records the waits the clients ask for instead of sleeping (fast, and assertable)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def _isolated_connector(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sleeps]:
    """No background thread unless a test asks for it; fresh rate limiters and caches, and no
    refused-request counts carried over from another test."""
    from calendly_sync.calendly import ratelimit
    from calendly_sync.credentials import clients, signing
    from calendly_sync.http import RetryPolicy
    from calendly_sync.inbox import rejections
    from calendly_sync.push import attributes

    settings.CONNECTOR_EMBEDDED_WORKER = False
    sleeps = Sleeps()
    fast = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05, max_rate_limit_wait=5)
    monkeypatch.setattr(
        clients,
        "CLIENT_OPTIONS",
        {
            "brevo": {"sleep": sleeps, "retry": fast, "requests_per_second": None},
            "calendly": {"sleep": sleeps, "retry": fast},
        },
    )
    ratelimit.reset_registry()
    attributes._attribute_cache.clear()
    clients.reset_cache()
    signing.reset_cache()
    rejections.counter.reset()
    yield sleeps
    clients.reset_cache()
    signing.reset_cache()
    rejections.counter.reset()


@pytest.fixture
def client_sleeps(_isolated_connector: Sleeps) -> Sleeps:
    return _isolated_connector


@pytest.fixture
def sims(calendly_sim: Any, brevo_sim: Any, settings: Any) -> tuple[Any, Any]:
    """Both simulators, with the connector's settings pointing at them.

    The simulated Calendly grants this test account 100,000 requests a minute (and says so in its
    X-RateLimit-* headers, which the client follows): Calendly's real 500/min would make a
    1,000-event test take minutes. The limiter is tested on its own and in bench/backfill.py.
    """
    calendly_sim.rate_limit_per_minute = 100_000
    settings.CALENDLY_API_URL = calendly_sim.url
    settings.CALENDLY_AUTH_URL = calendly_sim.url
    settings.BREVO_API_URL = f"{brevo_sim.url}/v3"
    return calendly_sim, brevo_sim


@pytest.fixture
def event_types(sims: tuple[Any, Any]) -> dict[str, dict[str, Any]]:
    calendly_sim, _ = sims
    return {
        "discovery": calendly_sim.add_event_type(
            "Discovery Call", ["Company name", "Your role", "Phone number"], fire_webhooks=False
        ),
        "demo": calendly_sim.add_event_type("Product Demo", ["Company", "Team size"], fire_webhooks=False),
        "other": calendly_sim.add_event_type("Coffee Chat", [], fire_webhooks=False),
    }


def create_connection(event_types: dict[str, dict[str, Any]], using: str = "default") -> Any:
    """A PAT connection with the product page's mapping (discovery → list 10, demo → list 11) in ``using``."""
    from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
    from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    conn = Connection.objects.using(using).create(
        name="default",
        access_token=SANDBOX_TOKEN,
        brevo_api_key=SANDBOX_API_KEY,
        webhook_signing_key="test-signing-key",
    )
    EventTypeMapping.objects.using(using).create(
        connection=conn,
        key="discovery_call",
        event_type_uri=event_types["discovery"]["uri"],
        event_type_name="Discovery Call",
        list_ids=[10],
    )
    EventTypeMapping.objects.using(using).create(
        connection=conn,
        key="demo",
        event_type_uri=event_types["demo"]["uri"],
        event_type_name="Product Demo",
        list_ids=[11],
    )
    for i, (source, attribute, kind) in enumerate(PAGE_FIELD_MAPPING):
        FieldMapping.objects.using(using).create(
            connection=conn, source=source, attribute=attribute, attribute_type=kind, position=i
        )
    return conn


@pytest.fixture
def connection(db: Any, sims: tuple[Any, Any], event_types: dict[str, dict[str, Any]]) -> Any:
    """A PAT connection with the product page's mapping: discovery → list 10, demo → list 11."""
    return create_connection(event_types)


def in_days(days: float, hour: int = 15) -> datetime:
    base = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days)


@pytest.fixture
def book(sims: tuple[Any, Any], event_types: dict[str, dict[str, Any]]):  # type: ignore[no-untyped-def]
    """Book a meeting in the simulated Calendly (no webhook unless asked)."""
    calendly_sim, _ = sims

    def _book(
        email: str,
        *,
        kind: str = "discovery",
        days: float = 3,
        name: str = "Levi Duncan",
        answers: dict[str, str] | None = None,
        fire_webhooks: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        answers = (
            answers
            if answers is not None
            else {"Company name": "Acme Inc", "Your role": "CTO", "Phone number": "+1 404-555-1234"}
        )
        qas = [{"question": q, "answer": a, "position": i} for i, (q, a) in enumerate(answers.items())]
        return calendly_sim.book(
            event_types[kind]["uri"],
            email,
            name,
            in_days(days),
            questions_and_answers=qas,
            timezone=kwargs.pop("timezone", "America/Chicago"),
            fire_webhooks=fire_webhooks,
            **kwargs,
        )

    return _book


@pytest.fixture
def job_thread(settings: Any) -> Iterator[Any]:
    """This process's sync-job thread, as a server without a broker runs it (stopped after the test)."""
    from calendly_sync.runtime.jobs import job_runner

    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    runner = job_runner()
    yield runner
    assert runner.stop(timeout=60.0), "the job thread was still running a job after the test"


@pytest.fixture
def calendly_held(sims: tuple[Any, Any]) -> Iterator[Any]:
    """Calendly's ``GET /scheduled_events`` waits until the test sets the event it gets (set at the end regardless)."""
    import threading

    from calendly_sync.sandbox.httpbase import Fault

    calendly_sim, _ = sims
    release = threading.Event()
    calendly_sim.inject(Fault("hold", route=r"^GET /scheduled_events$", release=release, times=None))
    yield release
    release.set()
