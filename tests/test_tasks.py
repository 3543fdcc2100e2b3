"""Both ways to run: the embedded worker thread (no broker) and Celery with a real broker.

These tests commit for real (transactional DB), because work is handed over after the commit.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from django.db import OperationalError, close_old_connections

from calendly_sync.models import WebhookDelivery
from calendly_sync.sandbox.signing import build_delivery, sign

KEY = "test-signing-key"


def wait_until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll a condition with a deadline (the work happens in another thread or process).

    The test database on SQLite is an in-memory one with a shared cache, where a read of a table
    another thread is writing fails at once ("database table is locked") instead of waiting: that
    is a "not yet", polled again.
    """
    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        try:
            met = predicate()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            met = False
        if met:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def signed_booking(calendly_sim: Any, event_types: dict, email: str) -> tuple[bytes, str]:
    from tests.conftest import in_days

    inv = calendly_sim.book(event_types["discovery"]["uri"], email, "Levi Duncan", in_days(3), fire_webhooks=False)
    payload = calendly_sim.render(calendly_sim._invitee_payload(calendly_sim.invitees[inv["uri"].rsplit("/", 1)[-1]]))
    body, _ = build_delivery("invitee.created", payload, calendly_sim.admin["uri"], None)
    return body, sign(body, KEY)


@pytest.fixture
def embedded_worker(settings):
    from calendly_sync.runtime.worker import embedded_worker

    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    worker = embedded_worker()
    yield worker
    worker.stop()


@pytest.mark.django_db(transaction=True)
def test_embedded_worker_applies_a_delivery_after_the_response(client, connection, sims, event_types, embedded_worker):
    calendly_sim, brevo_sim = sims
    body, signature = signed_booking(calendly_sim, event_types, "levi@example.com")
    resp = client.post(
        f"/webhooks/calendly/{connection.pk}/",
        data=body,
        content_type="application/json",
        HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature,
    )
    assert resp.status_code == 200
    wait_until(lambda: WebhookDelivery.objects.filter(status="processed").exists(), what="the delivery to be processed")
    assert brevo_sim.get_contact("levi@example.com")["attributes"]["BOOKING_STATUS"] == "booked"
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]


@pytest.mark.django_db(transaction=True)
def test_embedded_worker_picks_up_what_a_crash_left_pending(connection, sims, event_types, embedded_worker):
    from datetime import timedelta

    from django.utils import timezone

    from calendly_sync.views import idempotency_key

    calendly_sim, brevo_sim = sims
    for email, status, claimed in (
        ("pending@example.com", "pending", None),
        ("stale@example.com", "processing", timezone.now() - timedelta(hours=1)),
    ):
        body, _ = signed_booking(calendly_sim, event_types, email)
        import json

        envelope = json.loads(body)
        WebhookDelivery.objects.create(
            connection=connection,
            event="invitee.created",
            status=status,
            idempotency_key=idempotency_key(connection.pk, envelope),
            payload=envelope,
            invitee_uri=envelope["payload"]["uri"],
            email=email,
            next_attempt_at=claimed,
        )
    embedded_worker.start()  # as when the server process starts again
    wait_until(lambda: WebhookDelivery.objects.filter(status="processed").count() == 2, what="both deliveries")
    assert brevo_sim.get_contact("pending@example.com") and brevo_sim.get_contact("stale@example.com")


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_celery_worker_processes_deliveries_through_the_broker(client, connection, sims, event_types, settings):
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.skip("CELERY_BROKER_URL is not set (CI's second run sets it to the Redis broker)")
    from celery.contrib.testing.worker import start_worker

    from connector_site.celery import app

    settings.CELERY_BROKER_URL = broker
    app.conf.broker_url = broker
    with app.connection_for_write() as conn:  # a clean queue: nothing left by an earlier run
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    calendly_sim, brevo_sim = sims
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        for email in ("a@example.com", "b@example.com", "c@example.com"):
            body, signature = signed_booking(calendly_sim, event_types, email)
            resp = client.post(
                f"/webhooks/calendly/{connection.pk}/",
                data=body,
                content_type="application/json",
                HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature,
            )
            assert resp.status_code == 200
        wait_until(
            lambda: WebhookDelivery.objects.filter(status="processed").count() == 3,
            timeout=60,
            what="Celery to process three deliveries",
        )
    assert {c["email"] for c in brevo_sim.contacts.values()} == {"a@example.com", "b@example.com", "c@example.com"}
    assert sorted(e["event_name"] for e in brevo_sim.events) == ["calendly_booking_created"] * 3


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_never_turns_a_stored_delivery_into_a_5xx(
    client, connection, sims, event_types, settings, monkeypatch
):
    """The delivery is stored and acknowledged; Calendly's retry of it hands it over again."""
    from kombu.exceptions import OperationalError

    from calendly_sync import tasks

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    calls: list[int] = []

    def broker_down(args: tuple[int], countdown: float) -> None:
        calls.append(args[0])
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.process_delivery_task, "apply_async", broker_down)
    monkeypatch.setattr(tasks, "_task_runs_at", 0.0)
    calendly_sim, _ = sims
    body, signature = signed_booking(calendly_sim, event_types, "broker-down@example.com")
    url = f"/webhooks/calendly/{connection.pk}/"
    resp = client.post(url, data=body, content_type="application/json", HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature)
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and calls == [delivery.pk]

    # Calendly retries (it may not have seen the first answer): still pending, so handed over again
    resp = client.post(url, data=body, content_type="application/json", HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature)
    assert resp.status_code == 200 and resp.json()["status"] == "duplicate"
    assert calls == [delivery.pk, delivery.pk]


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_celery_runs_sync_now_as_a_task(admin_client, connection, sims, book, settings, calendly_held):
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.skip("CELERY_BROKER_URL is not set (CI's second run sets it to the Redis broker)")
    from celery.contrib.testing.worker import start_worker
    from django.urls import reverse

    from calendly_sync.models import SyncRun
    from connector_site.celery import app

    settings.CELERY_BROKER_URL = broker
    app.conf.broker_url = broker
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    calendly_sim, brevo_sim = sims
    for email in ("a@example.com", "b@example.com"):
        book(email)
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        resp = admin_client.post(
            reverse("admin:calendly_sync_connection_changelist"),
            {"action": "sync_now", "_selected_action": [connection.pk]},
        )
        assert resp.status_code == 302
        wait_until(lambda: calendly_sim.count(r"^GET /scheduled_events$") == 1, timeout=60, what="the task to start")
        run = SyncRun.objects.get()
        assert run.status == "running" and run.runner.startswith("celery task ")
        calendly_held.set()
        wait_until(lambda: SyncRun.objects.get().status == "completed", timeout=60, what="the task to complete")
    assert SyncRun.objects.get().counts["contacts_created"] == 2
    assert {c["email"] for c in brevo_sim.contacts.values()} == {"a@example.com", "b@example.com"}
