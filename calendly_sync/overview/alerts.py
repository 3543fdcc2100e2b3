"""Alerts: tell someone when a connection's health turns red, once, and once more when it clears.

The conditions are not declared here: each health item (:mod:`calendly_sync.overview.status`)
declares the alert it raises (:attr:`~calendly_sync.overview.status.Item.alert`), so the dashboard
and the alerts cannot disagree. Here:

* :func:`evaluate` judges every connection, opens an :class:`~calendly_sync.models.Alert` for a
  condition that holds and has none open (the database allows one open alert per connection and
  condition), and resolves the open ones whose condition cleared;
* :func:`deliver` sends what is pending: an email to ``ALERT_EMAILS`` (Django's mail settings) and,
  with ``ALERT_WEBHOOK_URL`` set, a JSON POST ``{"text": ...}`` (Slack-compatible). Each channel's
  success is stored, so a restart never sends a message twice, and a channel that failed is
  retried at the next evaluation (logged, never raised: the worker goes on).

Evaluated every ``ALERT_CHECK_INTERVAL`` seconds by the embedded worker or Celery beat, and right
after each subscription health check (:func:`check_subscriptions`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from calendly_sync.conf import app_settings
from calendly_sync.inbox.subscriptions import check_all
from calendly_sync.models import Alert
from calendly_sync.overview import status
from calendly_sync.overview.status import Condition, Item

log = logging.getLogger(__name__)

#: Each condition's one-line title, by the key's prefix (``subscription_recreated:<run id>``).
TITLES: dict[str, str] = {
    "subscription": "Calendly webhook subscription disabled or missing",
    "subscription_recreated": "Webhook subscription recreated and the gap backfilled",
    "reconnect": "Calendly connection needs reconnecting",
    "brevo_key": "Brevo rejects the API key",
    "deliveries_failing": "Deliveries keep failing",
    "backlog": "Backlog older than the threshold",
}
EMAIL, WEBHOOK = "email", "webhook"
CLAIM = timedelta(minutes=2)  # one evaluation sends an alert's messages; a crashed one's claim expires
GIVE_UP_AFTER = timedelta(days=7)  # a message no channel took for this long is dropped (logged)
PREFIX = "[calendly-sync]"


@dataclass
class Report:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0


def title_of(key: str) -> str:
    return TITLES.get(key.split(":", 1)[0], key)


def channels() -> list[str]:
    """Where alerts go, as configured now."""
    out = []
    if list(app_settings.ALERT_EMAILS or []):
        out.append(EMAIL)
    if app_settings.ALERT_WEBHOOK_URL:
        out.append(WEBHOOK)
    return out


def evaluate(now: datetime | None = None) -> Report:
    """Open, update and resolve alerts from every connection's health; then send what is pending."""
    now = now or timezone.now()
    report = Report()
    holding: dict[tuple[int, str], tuple[Condition, list[Item]]] = {}
    for health in status.evaluate(now=now):
        for condition, item in health.conditions:
            entry = holding.setdefault((health.facts.connection_id, condition.key), (condition, []))
            entry[1].append(item)
    open_alerts = {(a.connection_id, a.key): a for a in Alert.objects.filter(resolved_at__isnull=True)}
    for (connection_id, key), (condition, items) in holding.items():
        detail = "; ".join(f"{item.label}: {item.detail}" for item in items)
        existing = open_alerts.get((connection_id, key))
        if existing is not None:
            Alert.objects.filter(pk=existing.pk).update(detail=detail, last_seen_at=now)
            continue
        action = next((item.action for item in items if item.action is not None), None)
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    connection_id=connection_id,
                    key=key,
                    severity=condition.severity,
                    title=title_of(key),
                    detail=detail,
                    action=action.label if action else "",
                    action_url=action.url if action else "",
                    action_command=action.command if action else "",
                    opened_at=now,
                    last_seen_at=now,
                )
        except IntegrityError:  # another evaluation opened it a moment ago: that one announces it
            continue
        report.opened.append(str(alert))
        log.warning("alert opened: %s: %s", alert, detail)
    for (connection_id, key), alert in open_alerts.items():
        if (connection_id, key) in holding:
            continue
        problem = alert.severity == Alert.Severity.PROBLEM
        changed = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=now, **({"pending": True, "resolved_sent": []} if problem else {})
        )
        if changed:
            report.resolved.append(f"{alert.connection_id}: {alert.title}")
            log.info("alert resolved: connection %s: %s", alert.connection_id, alert.title)
    deliver(now, report)
    return report


def deliver(now: datetime | None = None, report: Report | None = None) -> Report:
    """Send every pending message on every configured channel that has not taken it yet."""
    now = now or timezone.now()
    report = report or Report()
    wanted = channels()
    if not wanted:
        return report
    waiting = Alert.objects.filter(pending=True).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    for alert in waiting.select_related("connection").order_by("opened_at", "pk"):
        claimed = (
            Alert.objects.filter(pk=alert.pk, pending=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + CLAIM)
        )
        if not claimed:
            continue
        _send_pending(alert, wanted, now, report)
    return report


def _send_pending(alert: Alert, wanted: list[str], now: datetime, report: Report) -> None:
    resolving = alert.resolved_at is not None and alert.severity == Alert.Severity.PROBLEM
    done = list(alert.resolved_sent if resolving else alert.opened_sent)
    happened = alert.resolved_at if resolving else alert.opened_at
    errors: list[str] = []
    if happened is not None and now - happened > GIVE_UP_AFTER:
        log.error("alert message dropped after %s without a channel taking it: %s", GIVE_UP_AFTER, alert)
        remaining: list[str] = []
    else:
        subject, body = message(alert, resolving)
        for channel in wanted:
            if channel in done:
                continue
            try:
                if channel == EMAIL:
                    send_mail(subject, body, None, list(app_settings.ALERT_EMAILS), fail_silently=False)
                else:
                    post_webhook(f"{subject}\n{body}")
            except Exception as exc:  # noqa: BLE001 - any failure of one channel: logged, retried next time
                errors.append(f"{channel}: {type(exc).__name__}: {exc}"[:500])
                report.failed += 1
                log.warning("alert %s not sent by %s (retried at the next evaluation): %s", alert.pk, channel, exc)
                continue
            done.append(channel)
            report.sent += 1
        remaining = [c for c in wanted if c not in done]
    # Resolved while its opening message still waited: the resolved one says it all.
    fields = {"resolved_sent": done} if resolving else {"opened_sent": done}
    Alert.objects.filter(pk=alert.pk).update(
        **fields,
        pending=bool(remaining),
        claimed_until=None,
        send_attempts=alert.send_attempts + 1,
        last_send_error="; ".join(errors),
    )


def dashboard_url() -> str:
    """The overview's absolute URL (the app's index in the admin, which the project routes to it)."""
    return app_settings.SITE_URL + reverse("admin:app_list", kwargs={"app_label": "calendly_sync"})


def message(alert: Alert, resolving: bool) -> tuple[str, str]:
    """(subject, body) of an alert's opening or resolved message: plain text, no personal data."""
    name = alert.connection.name
    if resolving:
        lasted = (alert.resolved_at or timezone.now()) - alert.opened_at
        minutes = max(1, int(lasted.total_seconds() // 60))
        subject = f"{PREFIX} RESOLVED on {name}: {alert.title}"
        lines = [f"Cleared after {minutes} min (opened {alert.opened_at:%Y-%m-%d %H:%M} UTC)."]
        if not alert.connection.enabled:
            lines.append("The connection was disabled: nothing of it is watched until it is enabled again.")
    else:
        word = "INFO" if alert.severity == Alert.Severity.INFO else "PROBLEM"
        subject = f"{PREFIX} {word} on {name}: {alert.title}"
        lines = [alert.detail]
        if alert.action:
            url = alert.action_url
            url = app_settings.SITE_URL + url if url.startswith("/") else url
            lines.append(f"Fix: {alert.action}" + (f": {url}" if url else ""))
            if alert.action_command:
                lines.append(f"Or run: {alert.action_command}")
    lines.append(f"Overview: {dashboard_url()}")
    return subject, "\n".join(lines)


def post_webhook(text: str) -> None:
    """POST ``{"text": text}`` to ``ALERT_WEBHOOK_URL``; anything but a 2xx raises."""
    url = app_settings.ALERT_WEBHOOK_URL
    host = urlsplit(url).hostname  # the URL is a secret (a Slack hook's path): errors name only its host
    try:
        response = requests.post(url, json={"text": text}, timeout=float(app_settings.ALERT_WEBHOOK_TIMEOUT))
    except requests.RequestException as exc:
        raise RuntimeError(f"{host} unreachable ({type(exc).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{host} answered {response.status_code}")


def check_subscriptions() -> list[str]:
    """The subscription health check, then the alerts at once (a problem found is announced now)."""
    lines = check_all()
    evaluate()
    return lines
