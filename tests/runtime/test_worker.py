"""The embedded worker thread: a failed step is retried within a second, not a sweep interval later;
the counts of refused webhook requests its process holds are written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.inbox import rejections
from calendly_sync.models import WebhookDelivery, WebhookRejection
from calendly_sync.runtime import worker as worker_module
from calendly_sync.views import idempotency_key
from tests.test_tasks import signed_booking, wait_until


@pytest.mark.django_db(transaction=True)
def test_a_failed_sweep_is_retried_soon(connection, sims, event_types, monkeypatch):
    calendly_sim, brevo_sim = sims
    body, _ = signed_booking(calendly_sim, event_types, "retry@example.com")
    envelope = json.loads(body)
    WebhookDelivery.objects.create(
        connection=connection,
        event="invitee.created",
        idempotency_key=idempotency_key(connection.pk, envelope),
        payload=envelope,
        invitee_uri=envelope["payload"]["uri"],
        email="retry@example.com",
    )
    real_sweep = worker_module.sweep
    calls: list[int] = []

    def flaky_sweep(**kwargs: Any) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database table is locked")  # what SQLite says under load
        return real_sweep(**kwargs)

    monkeypatch.setattr(worker_module, "sweep", flaky_sweep)
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()
    try:
        wait_until(
            lambda: WebhookDelivery.objects.filter(status="processed").exists(),
            timeout=15.0,
            what="the delivery, after the failed sweep was retried",
        )
    finally:
        worker.stop()
    assert len(calls) >= 2 and brevo_sim.get_contact("retry@example.com")


@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_the_refused_requests_its_process_holds(connection, sims, monkeypatch):
    """Counts held back (less than an interval after the last write) do not wait for the next
    request to the endpoint: the worker's loop writes them once the interval is over."""
    clock = {"now": 1000.0}
    counter = rejections.RejectionCounter(clock=lambda: clock["now"])
    monkeypatch.setattr(rejections, "counter", counter)
    counter.record(connection.pk, RejectionKind.BAD_SIGNATURE, "signature mismatch")  # written at once
    counter.record(connection.pk, RejectionKind.BAD_SIGNATURE, "signature mismatch")  # held
    assert counter.pending() == 1
    clock["now"] += rejections.FLUSH_INTERVAL
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)  # its first sweep is at start-up
    worker.start()
    try:
        wait_until(
            lambda: WebhookRejection.objects.filter(count=2).exists(),
            timeout=15.0,
            what="the worker to write the refused request it held",
        )
    finally:
        worker.stop()
    assert counter.pending() == 0
