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


@pytest.mark.django_db(transaction=True)
def test_the_gap_backfill_runs_in_the_job_thread_while_the_drain_goes_on(
    connection, sims, book, event_types, settings, monkeypatch, job_thread, calendly_held
):
    """The hourly subscription check runs in the drain's thread; the backfill it asks for does not."""
    from calendly_sync.inbox.subscriptions import ensure_subscription
    from calendly_sync.models import SyncRun

    calendly_sim, brevo_sim = sims
    settings.SITE_URL = "https://connector.example.com"
    ensure_subscription(connection)
    book("missed@example.com", days=2)  # while Calendly had disabled the subscription
    calendly_sim.disable_subscription(next(iter(calendly_sim.subscriptions.values()))["uri"])
    monkeypatch.setattr(worker_module, "FIRST_SUBSCRIPTION_CHECK", 0.0)
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()
    try:
        wait_until(lambda: calendly_sim.count(r"^GET /scheduled_events$") == 1, what="the gap backfill to start")
        gap = SyncRun.objects.get()
        assert (gap.trigger, gap.status) == ("gap-backfill", "running")
        assert "thread calendly-sync-jobs" in gap.runner and "calendly-sync-worker" not in gap.runner

        # Calendly holds the backfill's page; a webhook arriving meanwhile is applied all the same.
        body, _ = signed_booking(calendly_sim, event_types, "live@example.com")
        envelope = json.loads(body)
        delivery = WebhookDelivery.objects.create(
            connection=connection,
            event="invitee.created",
            idempotency_key=idempotency_key(connection.pk, envelope),
            payload=envelope,
            invitee_uri=envelope["payload"]["uri"],
            email="live@example.com",
        )
        worker.submit(delivery.pk)
        wait_until(
            lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "processed",
            timeout=10.0,
            what="the drain to apply a delivery while the gap backfill waits on Calendly",
        )
        assert SyncRun.objects.get().status == "running" and brevo_sim.get_contact("live@example.com")
    finally:
        calendly_held.set()
        wait_until(lambda: SyncRun.objects.get().status != "running", what="the gap backfill to end")
        worker.stop()
    assert SyncRun.objects.get().status == "completed"
    assert brevo_sim.get_contact("missed@example.com") is not None
