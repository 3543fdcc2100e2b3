"""The embedded worker thread: a failed step is retried within a second, not a sweep interval later."""

from __future__ import annotations

import json
from typing import Any

import pytest

from calendly_sync.models import WebhookDelivery
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
