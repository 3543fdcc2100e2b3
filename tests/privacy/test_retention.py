"""Retention: the purge removes what is older than each setting and nothing else; it runs by itself."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from calendly_sync import tasks
from calendly_sync.models import AutomationEvent, Connection, ContactSyncLog, WebhookDelivery
from calendly_sync.privacy import retention
from calendly_sync.runtime import worker as worker_module
from tests.fixtures_webhooks import deliver
from tests.test_tasks import wait_until

BODY = {"event": "invitee.created", "payload": {"email": "levi@example.com"}}
MODELS = (WebhookDelivery, ContactSyncLog, AutomationEvent)


def ago(days: float, now: datetime) -> datetime:
    return now - timedelta(days=days)


def table(model: type[Any]) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in model.objects.order_by("pk").values()}


class Rows:
    """Rows of every kind and state on both sides of the cutoffs (10, 20 and 30 days)."""

    def __init__(self, now: datetime) -> None:
        plain = Connection.objects.create(name="plain")
        logged = Connection.objects.create(name="logged", log_webhooks=True)
        self.delivery: dict[str, int] = {}
        for name, conn, status, days in [
            ("processed_old", plain, "processed", 10.01),
            ("processed_new", plain, "processed", 9.99),
            ("processed_logged", logged, "processed", 9.99),
            ("processed_logged_old", logged, "processed", 10.01),
            ("ignored_old", plain, "ignored", 10.01),
            ("ignored_new", plain, "ignored", 9.99),
            ("pending_old", plain, "pending", 400),
            ("processing_old", plain, "processing", 400),
            ("failed_old", plain, "failed", 400),
        ]:
            self.delivery[name] = WebhookDelivery.objects.create(
                connection=conn,
                event="invitee.created",
                idempotency_key=name,
                status=status,
                email="levi@example.com",
                payload=BODY,
                raw_body=json.dumps(BODY),
                headers={"user-agent": "Calendly"},
                received_at=ago(days, now),
            ).pk
        self.log = {
            name: ContactSyncLog.objects.create(
                connection=plain,
                email="levi@example.com",
                action="upsert",
                status="ok",
                request={"email": "levi@example.com"},
                created_at=ago(days, now),
            ).pk
            for name, days in [("old", 20.01), ("new", 19.99)]
        }
        self.event: dict[str, int] = {}
        for name, status, created, sent in [
            ("sent_old", "sent", 400, 30.01),
            ("sent_new", "sent", 400, 29.99),
            ("skipped_old", "skipped", 30.01, None),
            ("pending_old", "pending", 400, None),
            ("sending_old", "sending", 400, None),
            ("failed_old", "failed", 400, None),
        ]:
            self.event[name] = AutomationEvent.objects.create(
                connection=plain,
                key=name,
                email="levi@example.com",
                event_name="calendly_booking_created",
                event_properties={"invitee_uri": "https://api.calendly.com/invitees/x"},
                contact_properties={"FIRSTNAME": "Levi"},
                status=status,
                created_at=ago(created, now),
                sent_at=ago(sent, now) if sent is not None else None,
            ).pk


@pytest.fixture
def periods(settings: Any) -> None:
    settings.DELIVERY_RETENTION_DAYS = 10
    settings.SYNC_LOG_RETENTION_DAYS = 20
    settings.AUTOMATION_EVENT_RETENTION_DAYS = 30


@pytest.mark.django_db
def test_the_purge_removes_what_is_older_than_each_setting_and_nothing_else(periods: None) -> None:
    now = timezone.now()
    rows = Rows(now)
    before = {model: table(model) for model in MODELS}

    counts = retention.purge(now)

    # What is expected to change, written out; everything else must be exactly as it was.
    expected = {model: dict(rows_) for model, rows_ in before.items()}
    deliveries = expected[WebhookDelivery]
    for name in ("processed_old", "processed_logged_old", "ignored_old"):
        del deliveries[rows.delivery[name]]  # resolved and past the period
    # processed, on a connection that does not log webhooks: key, event, status and times stay
    deliveries[rows.delivery["processed_new"]].update(payload={}, raw_body="", headers={})
    del expected[ContactSyncLog][rows.log["old"]]
    for name in ("sent_old", "skipped_old"):
        expected[AutomationEvent][rows.event[name]].update(
            email="", event_properties={}, contact_properties={}, booking_id=None
        )
    assert {model: table(model) for model in MODELS} == expected
    assert counts == {
        "deliveries_deleted": 3,
        "delivery_bodies_cleared": 1,
        "sync_logs_deleted": 1,
        "automation_events_cleared": 2,
    }
    assert set(retention.purge(now).values()) == {0}  # once is enough


@pytest.mark.django_db
def test_zero_days_keeps_rows_forever(settings: Any) -> None:
    settings.DELIVERY_RETENTION_DAYS = 0
    settings.SYNC_LOG_RETENTION_DAYS = 0
    settings.AUTOMATION_EVENT_RETENTION_DAYS = 0
    now = timezone.now()
    Rows(now)
    counts = retention.purge(now)
    assert counts == {
        "deliveries_deleted": 0,
        "delivery_bodies_cleared": 2,  # processed bodies go whatever the periods (processed_old, processed_new)
        "sync_logs_deleted": 0,
        "automation_events_cleared": 0,
    }
    assert WebhookDelivery.objects.count() == 9 and ContactSyncLog.objects.count() == 2


@pytest.mark.django_db
def test_a_backlog_is_purged_in_chunks(periods: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "CHUNK", 2)
    now = timezone.now()
    conn = Connection.objects.create(name="plain")
    for i in range(5):
        WebhookDelivery.objects.create(
            connection=conn,
            event="invitee.created",
            idempotency_key=f"k{i}",
            status="processed",
            received_at=ago(11, now),
        )
    assert retention.purge(now)["deliveries_deleted"] == 5
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("log_webhooks", [False, True])
def test_a_processed_delivery_keeps_its_body_only_with_log_webhooks(
    client, connection, sims, book, outbox, log_webhooks
):
    from django.core.management import call_command

    connection.log_webhooks = log_webhooks
    connection.save()
    book("levi@example.com", fire_webhooks=True)
    assert deliver(client, connection, outbox[0]).status_code == 200
    call_command("process_deliveries", "--now")
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "processed" and delivery.processed_at is not None
    assert delivery.idempotency_key and delivery.event == "invitee.created" and delivery.received_at
    if log_webhooks:
        assert delivery.payload["payload"]["email"] == "levi@example.com" and delivery.raw_body
    else:
        assert (delivery.payload, delivery.raw_body, delivery.headers) == ({}, "", {})
        # Nothing to apply again: reprocessing leaves it alone (instead of failing it as malformed).
        assert tasks.reprocess([delivery.pk]) == 0
        delivery.refresh_from_db()
        assert delivery.status == "processed"


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_purges(periods: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "PURGE_DELAY", 0.0)
    conn = Connection.objects.create(name="plain")
    old = WebhookDelivery.objects.create(
        connection=conn,
        event="invitee.created",
        idempotency_key="old",
        status="processed",
        received_at=ago(11, timezone.now()),
    )
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()
    try:
        wait_until(lambda: not WebhookDelivery.objects.filter(pk=old.pk).exists(), timeout=15.0, what="the purge")
    finally:
        worker.stop()


@pytest.mark.django_db
def test_celery_beat_runs_the_purge_hourly(periods: None) -> None:
    from connector_site.celery import app

    [entry] = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "calendly_sync.purge"]
    assert entry["schedule"] == 3600.0
    assert "calendly_sync.purge" in app.tasks and tasks.purge_task.name == "calendly_sync.purge"
    conn = Connection.objects.create(name="plain")
    WebhookDelivery.objects.create(
        connection=conn,
        event="invitee.created",
        idempotency_key="old",
        status="ignored",
        received_at=ago(11, timezone.now()),
    )
    assert tasks.purge_task.apply().get()["deliveries_deleted"] == 1
