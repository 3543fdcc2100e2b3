"""Retention: personal data is kept as long as the work needs it and the settings say, not forever.

:func:`purge` runs every hour, in the embedded worker and as the Celery beat task
``calendly_sync.purge``. With the settings of :mod:`calendly_sync.conf`:

- a processed delivery keeps its key, event, status and times but not its body (``BODY_CLEARED``),
  unless its connection logs webhooks. ``inbox.deliveries.finish`` clears it when the delivery is
  processed; the purge clears any left (processed before an upgrade, or while ``log_webhooks`` was on);
- processed and ignored deliveries are deleted ``DELIVERY_RETENTION_DAYS`` after they arrived.
  Pending, processing and failed ones never are: they are work not done yet, and a failed one
  waits for an operator (reprocess it, or mark it ignored; then its retention starts to count);
- sync log rows (``ContactSyncLog``) are deleted ``SYNC_LOG_RETENTION_DAYS`` after they were written;
- a sent or skipped automation event loses its email, properties and booking
  ``AUTOMATION_EVENT_RETENTION_DAYS`` after it was sent (or skipped). The row itself, its key and
  its name stay: the key is what keeps a fact from ever being sent twice (a later backfill
  ``--with-events`` over the same window finds it). Pending, sending and failed events are kept.

0 days keeps that kind of row forever. Deletes go in chunks, so a large backlog never holds the
database (SQLite's single writer lock) for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from calendly_sync.conf import app_settings
from calendly_sync.models import AutomationEvent, ContactSyncLog, WebhookDelivery
from calendly_sync.models.inbox import BODY_CLEARED

log = logging.getLogger(__name__)

CHUNK = 2000  # rows per statement

#: Deliveries whose work is done: the only ones retention deletes.
RESOLVED_DELIVERIES = (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED)
#: Automation events whose work is done: the only ones retention anonymises.
RESOLVED_EVENTS = (AutomationEvent.Status.SENT, AutomationEvent.Status.SKIPPED)
#: What an automation event past its retention no longer holds.
EVENT_CLEARED: dict[str, Any] = {"email": "", "event_properties": {}, "contact_properties": {}, "booking": None}


def cutoff(days: int, now: datetime) -> datetime | None:
    """The time before which rows are purged; None when ``days`` keeps them forever (0 or less)."""
    return now - timedelta(days=days) if days > 0 else None


def purge(now: datetime | None = None) -> dict[str, int]:
    """Apply the retention settings once; returns how many rows each step changed."""
    now = now or timezone.now()
    counts = dict.fromkeys(
        ("deliveries_deleted", "delivery_bodies_cleared", "sync_logs_deleted", "automation_events_cleared"), 0
    )
    if (before := cutoff(app_settings.DELIVERY_RETENTION_DAYS, now)) is not None:
        counts["deliveries_deleted"] = _in_chunks(
            WebhookDelivery.objects.filter(status__in=RESOLVED_DELIVERIES, received_at__lt=before),
            lambda qs: qs.delete()[0],
        )
    counts["delivery_bodies_cleared"] = _in_chunks(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PROCESSED)
        .filter(Q(connection__isnull=True) | Q(connection__log_webhooks=False))
        .exclude(payload={}, raw_body="", headers={}),
        lambda qs: qs.update(**BODY_CLEARED),
    )
    if (before := cutoff(app_settings.SYNC_LOG_RETENTION_DAYS, now)) is not None:
        counts["sync_logs_deleted"] = _in_chunks(
            ContactSyncLog.objects.filter(created_at__lt=before), lambda qs: qs.delete()[0]
        )
    if (before := cutoff(app_settings.AUTOMATION_EVENT_RETENTION_DAYS, now)) is not None:
        counts["automation_events_cleared"] = _in_chunks(
            AutomationEvent.objects.filter(status__in=RESOLVED_EVENTS)
            .alias(done_at=Coalesce("sent_at", "created_at"))
            .filter(done_at__lt=before)
            .exclude(email="", event_properties={}, contact_properties={}, booking=None),
            lambda qs: qs.update(**EVENT_CLEARED),
        )
    if any(counts.values()):
        log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return counts


def _in_chunks(queryset: models.QuerySet[Any], apply: Callable[[models.QuerySet[Any]], int]) -> int:
    """Apply a change to the queryset's rows ``CHUNK`` at a time, in key order (each chunk its own statement)."""
    done, last = 0, None
    model = queryset.model
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        ids = list(page.order_by("pk").values_list("pk", flat=True)[:CHUNK])
        if not ids:
            return done
        done += int(apply(model._default_manager.filter(pk__in=ids)))
        last = ids[-1]
