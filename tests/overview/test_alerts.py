"""Alerts: each condition fires once, never repeats while it holds, and resolves once.

Email goes through Django's in-memory backend (``mail.outbox``); the webhook is a real HTTP server
in this test process that records what it is sent (and can be told to fail).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from calendly_sync.inbox.subscriptions import ensure_subscription
from calendly_sync.models import Alert, Connection, SyncRun, WebhookDelivery
from calendly_sync.overview import alerts


class Receiver:
    """A local incoming-webhook endpoint: records JSON bodies, answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.status < 300:
                    receiver.posts.append({"content_type": self.headers.get("Content-Type"), **json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-path"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def alerting(settings: Any, receiver: Receiver) -> Receiver:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.SITE_URL = "https://connector.example.com"
    return receiver


def healthy(**fields: Any) -> Connection:
    now = timezone.now()
    defaults: dict[str, Any] = dict(
        name="sales",
        access_token="pat",
        brevo_api_key="key",
        status="active",
        webhook_subscription_uri="https://api.calendly.com/webhook_subscriptions/S",
        webhook_subscription_state="active",
        webhook_checked_at=now,
        last_delivery_at=now,
    )
    defaults.update(fields)
    conn = Connection.objects.create(**defaults)
    SyncRun.objects.create(connection=conn, status="completed", finished_at=now)
    return conn


def _break_subscription(conn: Connection) -> Callable[[], None]:
    Connection.objects.filter(pk=conn.pk).update(webhook_subscription_state="disabled")
    return lambda: Connection.objects.filter(pk=conn.pk).update(
        webhook_subscription_state="active", webhook_checked_at=timezone.now()
    )


def _needs_reconnect(conn: Connection) -> Callable[[], None]:
    conn.record_error("Calendly refused the refresh token", Connection.Status.NEEDS_RECONNECT)
    return lambda: Connection.objects.filter(pk=conn.pk).update(status="active", last_error="")


def _brevo_rejects(conn: Connection) -> Callable[[], None]:
    conn.record_error("Brevo rejected the API key: Key not found", Connection.Status.ERROR)
    return lambda: conn.record_working(brevo=True)


def _deliveries_fail(conn: Connection) -> Callable[[], None]:
    WebhookDelivery.objects.create(
        connection=conn, event="invitee.created", idempotency_key=f"f{uuid4()}", status="failed"
    )
    return lambda: WebhookDelivery.objects.filter(connection=conn).update(status="processed")


def _backlog(conn: Connection) -> Callable[[], None]:
    WebhookDelivery.objects.create(
        connection=conn,
        event="invitee.created",
        idempotency_key=f"old{uuid4()}",
        received_at=timezone.now() - timedelta(minutes=61),
    )
    return lambda: WebhookDelivery.objects.filter(connection=conn).update(status="processed")


CONDITIONS = {
    "subscription": (_break_subscription, "Calendly webhook subscription disabled or missing", "Repair webhook"),
    "reconnect": (_needs_reconnect, "Calendly connection needs reconnecting", "Reconnect Calendly"),
    "brevo_key": (_brevo_rejects, "Brevo rejects the API key", "Enter a new Brevo API key"),
    "deliveries_failing": (_deliveries_fail, "Deliveries keep failing", "Retry failed deliveries"),
    "backlog": (_backlog, "Backlog older than the threshold", "See what waits"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("key", sorted(CONDITIONS))
def test_each_condition_fires_once_repeats_never_and_resolves_once(key, alerting):
    receiver = alerting
    breaks, title, fix = CONDITIONS[key]
    conn = healthy(auth_kind="oauth", refresh_token="r") if key == "reconnect" else healthy()
    alerts.evaluate()
    assert not mail.outbox and not receiver.posts and not Alert.objects.exists()  # healthy: silent

    clear = breaks(conn)
    report = alerts.evaluate()
    assert len(report.opened) == 1 and report.sent == 2
    [email] = mail.outbox
    assert email.subject == f"[calendly-sync] PROBLEM on sales: {title}"
    assert email.to == ["ops@example.com", "oncall@example.com"]
    assert f"Fix: {fix}" in email.body
    assert "Overview: https://connector.example.com/admin/calendly_sync/" in email.body
    [post] = receiver.posts
    assert post["content_type"] == "application/json"
    assert post["text"].startswith(f"[calendly-sync] PROBLEM on sales: {title}\n")
    alert = Alert.objects.get()
    assert (alert.key, alert.is_open, alert.pending, sorted(alert.opened_sent)) == (
        key,
        True,
        False,
        ["email", "webhook"],
    )

    for _ in range(3):  # the condition holds: nothing new, whatever the number of evaluations
        report = alerts.evaluate()
        assert not report.opened and report.sent == 0
    assert len(mail.outbox) == 1 and len(receiver.posts) == 1

    clear()
    report = alerts.evaluate()
    assert len(report.resolved) == 1 and report.sent == 2
    assert mail.outbox[1].subject == f"[calendly-sync] RESOLVED on sales: {title}"
    assert receiver.texts()[1].startswith(f"[calendly-sync] RESOLVED on sales: {title}")
    for _ in range(2):
        alerts.evaluate()
    assert len(mail.outbox) == 2 and len(receiver.posts) == 2
    alert.refresh_from_db()
    assert alert.resolved_at is not None and not alert.pending and Alert.objects.count() == 1

    breaks(conn)  # it comes back: a new alert, announced again
    alerts.evaluate()
    assert len(mail.outbox) == 3 and Alert.objects.filter(resolved_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_a_failing_receiver_does_not_lose_the_alert_and_email_is_not_sent_twice(alerting, caplog):
    receiver = alerting
    conn = healthy()
    _deliveries_fail(conn)
    receiver.status = 500
    report = alerts.evaluate()  # never raises
    assert report.sent == 1 and report.failed == 1
    assert len(mail.outbox) == 1 and not receiver.posts
    alert = Alert.objects.get()
    assert alert.pending and alert.opened_sent == ["email"]
    assert "127.0.0.1 answered 500" in alert.last_send_error
    assert "secret-path" not in alert.last_send_error and "secret-path" not in caplog.text
    assert "retried at the next evaluation" in caplog.text

    receiver.status = 200
    alerts.evaluate()
    assert len(receiver.posts) == 1 and "PROBLEM on sales: Deliveries keep failing" in receiver.texts()[0]
    assert len(mail.outbox) == 1  # the email had gone: not again
    alert.refresh_from_db()
    assert not alert.pending and sorted(alert.opened_sent) == ["email", "webhook"] and not alert.last_send_error
    alerts.evaluate()
    assert len(receiver.posts) == 1


@pytest.mark.django_db
def test_an_unreachable_receiver_and_a_failing_mail_server_are_retried(alerting, settings, receiver):
    conn = healthy()
    _brevo_rejects(conn)
    receiver.close()  # nothing listens on that port any more
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", receiver.server.server_address[1], 2
    report = alerts.evaluate()
    assert report.sent == 0 and report.failed == 2
    alert = Alert.objects.get()
    assert alert.pending and alert.opened_sent == [] and "unreachable" in alert.last_send_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    fresh = Receiver()
    try:
        settings.ALERT_WEBHOOK_URL = fresh.url
        alerts.evaluate()
        assert len(mail.outbox) == 1 and len(fresh.posts) == 1
    finally:
        fresh.close()


@pytest.mark.django_db
def test_without_channels_alerts_are_still_recorded_for_the_dashboard(settings):
    settings.ALERT_EMAILS = []
    settings.ALERT_WEBHOOK_URL = ""
    conn = healthy()
    _deliveries_fail(conn)
    alerts.evaluate()
    assert Alert.objects.get().is_open and not mail.outbox


@pytest.mark.django_db
def test_an_alert_being_sent_by_another_evaluation_is_left_to_it(alerting):
    conn = healthy()
    _deliveries_fail(conn)
    assert alerts.channels() == ["email", "webhook"]
    Alert.objects.create(
        connection=conn,
        key="deliveries_failing",
        title="Deliveries keep failing",
        claimed_until=timezone.now() + timedelta(minutes=1),
    )
    alerts.evaluate()
    assert not mail.outbox and not alerting.posts  # claimed: the other evaluation sends it


@pytest.mark.django_db(transaction=True)
def test_a_disabled_subscription_that_cannot_be_recreated_alerts_after_the_check(connection, sims, alerting, settings):
    """The subscription check evaluates the alerts at once; a repair that fails leaves it red."""
    calendly_sim, _ = sims
    ensure_subscription(connection)
    Connection.objects.filter(pk=connection.pk).update(last_delivery_at=timezone.now())
    SyncRun.objects.create(connection=connection, status="completed", finished_at=timezone.now())
    uri = connection.webhook_subscription_uri
    calendly_sim.disable_subscription(uri)
    calendly_sim.fail(status=500, times=None, route=r"^POST /webhook_subscriptions")
    lines = alerts.check_subscriptions()
    assert "check failed" in lines[0]
    assert [a.key for a in Alert.objects.all()] == ["subscription"]
    assert (
        mail.outbox[0].subject
        == "[calendly-sync] PROBLEM on default: Calendly webhook subscription disabled or missing"
    )
    assert "python manage.py calendly_webhooks ensure --connection default" in mail.outbox[0].body


@pytest.mark.django_db(transaction=True)
def test_a_recreated_subscription_with_its_gap_backfilled_is_announced_once(connection, sims, book, alerting):
    calendly_sim, _ = sims
    receiver = alerting
    ensure_subscription(connection)
    Connection.objects.filter(pk=connection.pk).update(last_delivery_at=timezone.now())
    book("missed@example.com", days=2)
    calendly_sim.disable_subscription(Connection.objects.get().webhook_subscription_uri)
    alerts.check_subscriptions()  # recreated at once; the gap backfill is queued, not run yet
    assert not mail.outbox
    call_command("sync_calendly", "--run-queued", stdout=io.StringIO())
    run = SyncRun.objects.get(trigger="gap-backfill")
    assert run.status == "completed"
    alerts.evaluate()
    [email] = mail.outbox
    assert email.subject == "[calendly-sync] INFO on default: Webhook subscription recreated and the gap backfilled"
    assert f"run #{run.pk}" in email.body
    alerts.evaluate()
    assert len(mail.outbox) == 1 and len(receiver.posts) == 1
    # A day later the notice closes silently: news, not a problem, has no "resolved".
    SyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=2))
    report = alerts.evaluate()
    assert len(report.resolved) == 1 and report.sent == 0 and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_evaluates_the_alerts(alerting, monkeypatch):
    from calendly_sync.runtime import worker as worker_module
    from tests.test_tasks import wait_until

    monkeypatch.setattr(worker_module, "ALERTS_DELAY", 0.0)
    monkeypatch.setattr(worker_module, "FIRST_SUBSCRIPTION_CHECK", 3600.0)  # the periodic evaluation alone
    conn = healthy()
    _deliveries_fail(conn)
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()
    try:
        wait_until(lambda: len(alerting.posts) == 1, timeout=15.0, what="the alert's webhook")
    finally:
        worker.stop()
    assert Alert.objects.get().key == "deliveries_failing" and len(mail.outbox) == 1


@pytest.mark.django_db
def test_celery_beat_evaluates_the_alerts(alerting, settings):
    from django.conf import settings as django_settings

    from calendly_sync import tasks
    from connector_site.celery import app

    [entry] = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "calendly_sync.evaluate_alerts"]
    assert entry["schedule"] == 300.0
    assert "calendly_sync.evaluate_alerts" in app.tasks
    conn = healthy()
    _deliveries_fail(conn)
    assert tasks.evaluate_alerts_task.apply().get() == {"opened": 1, "resolved": 0, "sent": 2, "failed": 0}
    assert tasks.evaluate_alerts_task.apply().get() == {"opened": 0, "resolved": 0, "sent": 0, "failed": 0}


@pytest.mark.django_db
def test_disabling_a_connection_resolves_its_alerts_and_says_why(alerting):
    conn = healthy()
    _deliveries_fail(conn)
    alerts.evaluate()
    Connection.objects.filter(pk=conn.pk).update(enabled=False)
    report = alerts.evaluate()
    assert len(report.resolved) == 1
    assert mail.outbox[-1].subject == "[calendly-sync] RESOLVED on sales: Deliveries keep failing"
    assert "The connection was disabled" in mail.outbox[-1].body
