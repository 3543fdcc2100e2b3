"""``GET /metrics``: Prometheus metrics of the connector, for a scraper the deployment trusts.

Two sources. What the database knows (deliveries by event and status, the backlog's size and age,
contacts pushed, automation events, subscription states) is computed at scrape time by
:class:`DatabaseCollector` with a few aggregate queries, so it is the same whichever server process
answers. What only a process knows (acknowledgement latency, API calls and 429s, token refreshes;
:mod:`calendly_sync.instruments`) is that process's own count since it started.

Access: with ``METRICS_TOKEN`` set, only requests with ``Authorization: Bearer <METRICS_TOKEN>``
(401 without one, 403 with a wrong one); unset, only requests from a loopback address (403
otherwise). Personal data never appears: labels are event names, statuses and connection names.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime

from django.db import DatabaseError
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from calendly_sync.conf import app_settings
from calendly_sync.models import AutomationEvent, Connection, Contact, WebhookDelivery


def _age(oldest: datetime | None, now: datetime) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


class DatabaseCollector(Collector):
    """Gauges computed from the database at each scrape (cheap aggregates over indexed columns)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()

        deliveries = GaugeMetricFamily(
            "calendly_sync_webhook_deliveries",
            "Stored webhook deliveries by event and status (received = all of them; applied: processed; "
            "processed and ignored ones are purged after DELIVERY_RETENTION_DAYS).",
            labels=["event", "status"],
        )
        rows = WebhookDelivery.objects.values_list("event", "status").annotate(n=Count("id")).order_by()
        for event, status, n in rows:
            deliveries.add_metric([event, status], n)
        yield deliveries

        backlog = GaugeMetricFamily(
            "calendly_sync_backlog",
            "Work waiting: deliveries to apply, contacts to push, events to send.",
            labels=["kind"],
        )
        backlog_age = GaugeMetricFamily(
            "calendly_sync_backlog_oldest_age_seconds",
            "Age of the oldest waiting item of each kind (0 when none waits).",
            labels=["kind"],
        )
        waiting = [
            (
                "deliveries",
                WebhookDelivery.objects.filter(
                    status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.PROCESSING]
                ).aggregate(n=Count("id"), oldest=Min("received_at")),
            ),
            ("contacts", Contact.objects.filter(dirty=True).aggregate(n=Count("id"), oldest=Min("updated_at"))),
            (
                "automation_events",
                AutomationEvent.objects.filter(
                    status__in=[AutomationEvent.Status.PENDING, AutomationEvent.Status.SENDING]
                ).aggregate(n=Count("id"), oldest=Min("created_at")),
            ),
        ]
        for kind, agg in waiting:
            backlog.add_metric([kind], agg["n"])
            backlog_age.add_metric([kind], _age(agg["oldest"], now))
        yield backlog
        yield backlog_age

        contacts = GaugeMetricFamily(
            "calendly_sync_contacts",
            "Contacts by state: pushed (Brevo has what they should have) or dirty (waiting to be pushed).",
            labels=["state"],
        )
        counts = Contact.objects.aggregate(
            n_dirty=Count("id", filter=Q(dirty=True)), n_pushed=Count("id", filter=Q(dirty=False))
        )
        contacts.add_metric(["pushed"], counts["n_pushed"])
        contacts.add_metric(["dirty"], counts["n_dirty"])
        yield contacts

        events = GaugeMetricFamily(
            "calendly_sync_automation_events",
            "Brevo automation events by event name and status (sent: sent to Brevo).",
            labels=["event_name", "status"],
        )
        for name, status, n in (
            AutomationEvent.objects.values_list("event_name", "status").annotate(n=Count("id")).order_by()
        ):
            events.add_metric([name, status], n)
        yield events

        subscriptions = GaugeMetricFamily(
            "calendly_sync_subscription_state",
            "1 for each enabled connection's webhook subscription state as last checked (none: no subscription).",
            labels=["connection", "state"],
        )
        checked = GaugeMetricFamily(
            "calendly_sync_subscription_checked_age_seconds",
            "Seconds since each enabled connection's subscription was last checked.",
            labels=["connection"],
        )
        for name, state, checked_at in Connection.objects.filter(enabled=True).values_list(
            "name", "webhook_subscription_state", "webhook_checked_at"
        ):
            subscriptions.add_metric([name, state or "none"], 1)
            if checked_at is not None:
                checked.add_metric([name], _age(checked_at, now))
        yield subscriptions
        yield checked


_database = CollectorRegistry()
_database.register(DatabaseCollector())  # no query here: the collector has no describe(), none is asked for


def allowed(request: HttpRequest) -> int | None:
    """None when the request may read the metrics, else the status to answer (401 or 403)."""
    token = app_settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return 401
        return None if hmac.compare_digest(given.strip().encode(), token.encode()) else 403
    try:
        return None if ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback else 403
    except ValueError:
        return 403


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition: this process's instruments, then the database's gauges."""
    refused = allowed(request)
    if refused == 401:
        response = JsonResponse({"detail": "Authorization: Bearer <METRICS_TOKEN> required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if refused is not None:
        detail = "Wrong token." if app_settings.METRICS_TOKEN else "Only loopback addresses (or set METRICS_TOKEN)."
        return JsonResponse({"detail": detail}, status=refused)
    try:
        body = generate_latest(REGISTRY) + generate_latest(_database)
    except DatabaseError as exc:  # an outage is /readyz's news: answer 503, not a 500
        return JsonResponse({"detail": f"database unreachable: {type(exc).__name__}"}, status=503)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
