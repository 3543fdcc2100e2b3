"""Pytest plugin: a fresh Calendly simulator, a client bound to it, and a webhook receiver.

Why function-scoped: every test gets clean state (counters, faults, tokens), and the simulator
starts in milliseconds on an ephemeral port. Sleeps are recorded instead of slept so retry tests
are fast and can assert the exact waits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from calendly_sync.calendly.client import CalendlyClient
from calendly_sync.http import RetryPolicy
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN, CalendlySim
from calendly_sync.sandbox.httpbase import Request, Response, SimServer, fast_stop, quiet_disconnects


class RecordingSleep:
    """A ``sleep`` stand-in that records the requested seconds and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


class WebhookReceiver(SimServer):
    """A tiny HTTP endpoint that records webhook deliveries (raw bytes + headers).

    ``statuses`` is a list of status codes to answer with, one per delivery (then ``status``).
    """

    name = "webhook-receiver"

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.statuses: list[int] = []
        self.received: list[Request] = []
        self._queue: queue.Queue[Request] = queue.Queue()
        self.route("POST", "/hooks/{name}", self._receive)

    def _receive(self, req: Request) -> Response:
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else self.status
            self.received.append(req)
        self._queue.put(req)
        return Response(status, {"ok": status < 300})

    def start(self) -> WebhookReceiver:
        super().start()
        quiet_disconnects(self)
        return self

    def stop(self) -> None:
        fast_stop(self)

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/calendly"

    def next(self, timeout: float = 5.0) -> Request:
        """The next delivery, waiting up to ``timeout`` seconds (raises ``queue.Empty``)."""
        return self._queue.get(timeout=timeout)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"received {len(self.received)} of {n} deliveries")
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=max(0.01, deadline - time.monotonic()))


@pytest.fixture
def calendly_sim() -> Iterator[CalendlySim]:
    """Empty simulator (default org, admin user, ``SANDBOX_TOKEN``), started on port 0.

    Like Calendly it rejects http:// webhook URLs; set ``allow_http_callbacks = True`` for a local receiver.
    """
    sim = CalendlySim(default_token=True)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def calendly_sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def calendly_client(calendly_sim: CalendlySim, calendly_sleep: RecordingSleep) -> Iterator[CalendlyClient]:
    """Client with the sandbox PAT; sleeps are recorded in ``calendly_sleep.calls``."""
    client = CalendlyClient(
        SANDBOX_TOKEN, calendly_sim.url, sleep=calendly_sleep, retry=RetryPolicy(), timeout=(2.0, 5.0)
    )
    try:
        yield client
    finally:
        client.session.close()


@pytest.fixture
def calendly_webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def admin_context(sim: CalendlySim) -> dict[str, Any]:
    """URIs tests often need, rendered with the running simulator's URL."""
    admin = sim.admin
    return {"user": admin["uri"], "organization": admin["current_organization"]}
