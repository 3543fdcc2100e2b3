"""The embedded worker thread: a failed step is retried within a second, not a sweep interval later;
the counts of refused webhook requests its process holds are written; one server process owns the
work, finds what the others stored, and another takes over when it stops."""

from __future__ import annotations

import json
from typing import Any

import pytest

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.inbox import rejections
from calendly_sync.models import WebhookDelivery, WebhookRejection
from calendly_sync.runtime import worker as worker_module
from calendly_sync.runtime.locks import FileOwnership
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


def store(connection, calendly_sim, event_types, email: str) -> WebhookDelivery:
    """A delivery as another server process stores it: committed, never handed to this worker."""
    body, _ = signed_booking(calendly_sim, event_types, email)
    envelope = json.loads(body)
    return WebhookDelivery.objects.create(
        connection=connection,
        event="invitee.created",
        idempotency_key=idempotency_key(connection.pk, envelope),
        payload=envelope,
        invitee_uri=envelope["payload"]["uri"],
        email=email,
    )


def processed(email: str) -> bool:
    return WebhookDelivery.objects.filter(email=email, status="processed").exists()


@pytest.mark.django_db(transaction=True)
def test_the_owner_applies_what_another_server_process_acknowledged(connection, sims, event_types):
    """Only one process runs the worker: the deliveries the others stored reach it by polling, within
    about ``POLL_INTERVAL`` seconds, not at the next sweep."""
    calendly_sim, brevo_sim = sims
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()
    try:
        wait_until(worker.owner.is_set, timeout=10.0, what="ownership")
        wait_until(worker.idle.is_set, timeout=10.0, what="the start-up sweep")
        store(connection, calendly_sim, event_types, "elsewhere@example.com")
        wait_until(lambda: processed("elsewhere@example.com"), timeout=5.0, what="the polled delivery")
    finally:
        worker.stop()
    assert brevo_sim.get_contact("elsewhere@example.com")


@pytest.mark.django_db(transaction=True)
def test_a_worker_stands_by_while_another_owns_the_work_and_takes_over(
    connection, sims, event_types, tmp_path, monkeypatch
):
    """Two workers on one file lock (two open files: as two processes). The second only stands by
    (what it is handed, the owner polls), and takes over when the owner stops."""
    calendly_sim, _ = sims
    monkeypatch.setattr(worker_module, "OWNER_RETRY", 0.2)
    lock = tmp_path / "db.sqlite3-worker.lock"
    first = worker_module.EmbeddedWorker(sweep_interval=300.0, ownership=lambda: FileOwnership(lock))
    second = worker_module.EmbeddedWorker(sweep_interval=300.0, ownership=lambda: FileOwnership(lock))
    try:
        first.start()
        wait_until(first.owner.is_set, timeout=10.0, what="the first worker's ownership")
        second.submit(store(connection, calendly_sim, event_types, "handed@example.com").pk)
        wait_until(second.standing_by.is_set, timeout=10.0, what="the second worker standing by")
        wait_until(lambda: processed("handed@example.com"), timeout=5.0, what="the owner applying it")
        assert not second.owner.is_set()

        first.stop()
        wait_until(second.owner.is_set, timeout=10.0, what="the second worker taking over")
        store(connection, calendly_sim, event_types, "later@example.com")
        wait_until(lambda: processed("later@example.com"), timeout=5.0, what="the new owner applying it")
    finally:
        first.stop()
        second.stop()


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
