"""Brevo fixtures (pytest plugin registered by tests/conftest.py).

Every test gets a fresh :class:`BrevoSim` on an ephemeral port and a :class:`BrevoClient` bound to
it. The client runs on a :class:`FakeClock`: sleeps (pacing, 429 waits, backoff) are recorded and
advance fake time instead of blocking, so tests stay fast and can assert on the waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from calendly_sync.brevo.client import BrevoClient
from calendly_sync.http import RetryPolicy
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY, BrevoSim


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)

    __call__ = sleep


@pytest.fixture
def brevo_sim() -> Iterator[BrevoSim]:
    """A fresh Brevo simulator with the default settings, stopped after the test."""
    sim = BrevoSim()
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def make_brevo_sim() -> Iterator[Callable[..., BrevoSim]]:
    """Factory for simulators with non-default options (rate limits, lenient dates…)."""
    started: list[BrevoSim] = []

    def make(**kwargs: Any) -> BrevoSim:
        sim = BrevoSim(**kwargs)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def brevo_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_brevo_client(brevo_sim: BrevoSim, brevo_clock: FakeClock) -> Callable[..., BrevoClient]:
    """Factory for clients bound to ``brevo_sim`` (override any constructor kwarg)."""

    def make(**overrides: Any) -> BrevoClient:
        kwargs: dict[str, Any] = dict(
            api_key=SANDBOX_API_KEY,
            base_url=f"{brevo_sim.url}/v3",
            sleep=brevo_clock.sleep,
            clock=brevo_clock.monotonic,
            retry=RetryPolicy(max_retries=3, base_delay=0.1, max_delay=1.0),
            timeout=(2.0, 5.0),
        )
        kwargs.update(overrides)
        return BrevoClient(**kwargs)

    return make


@pytest.fixture
def brevo_client(make_brevo_client: Callable[..., BrevoClient]) -> BrevoClient:
    """Client for ``brevo_sim`` with the sandbox key, default pacing and a recording fake sleep."""
    return make_brevo_client()
