"""The one place that knows whether work runs in Celery or in the embedded worker thread.

Doors (the webhook view, the admin) hand work over with :func:`dispatch_delivery` and
:func:`reprocess`; with ``CELERY_BROKER_URL`` set it becomes a Celery task, otherwise the embedded
worker thread of this server process takes it. Either way the same functions run:
:func:`calendly_sync.runtime.drain.drain` and :func:`~calendly_sync.runtime.drain.sweep`.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from calendly_sync.conf import app_settings
from calendly_sync.inbox.subscriptions import check_all
from calendly_sync.models import WebhookDelivery
from calendly_sync.runtime.drain import drain, sweep
from calendly_sync.runtime.worker import embedded_worker

log = logging.getLogger(__name__)

TASK_DEBOUNCE = 0.25  # seconds: at most one Celery task per this interval and server process


def broker_configured() -> bool:
    return bool(app_settings.CELERY_BROKER_URL)


_task_lock = threading.Lock()
_task_runs_at = 0.0  # when the drain task this process last queued will start, at the earliest


def dispatch_delivery(delivery_id: int) -> None:
    """Hand a committed delivery to whoever processes deliveries in this deployment.

    With Celery, one task per ``TASK_DEBOUNCE`` seconds and server process, not one per delivery:
    a task drains everything due, and one queued to start after this delivery's commit will see
    it. A burst of 2,000 webhooks then costs a few dozen task messages instead of 2,000.

    Never raises: the delivery is already stored, so an unreachable broker must not turn its
    acknowledgement into a 5xx. It waits for the next sweep (Celery beat), or for Calendly's
    retry of it, which hands it over again.
    """
    global _task_runs_at
    if broker_configured():
        with _task_lock:
            now = time.monotonic()
            if now < _task_runs_at:
                return  # the task already queued starts after this commit and takes it along
            _task_runs_at = now + TASK_DEBOUNCE
        try:
            process_delivery_task.apply_async((delivery_id,), countdown=TASK_DEBOUNCE)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep or a redelivery retries
            with _task_lock:
                _task_runs_at = 0.0  # the next delivery tries the broker again at once
            log.warning(
                "delivery %s stored but not queued (%s: %s); a sweep will take it", delivery_id, type(exc).__name__, exc
            )
    elif app_settings.CONNECTOR_EMBEDDED_WORKER:
        embedded_worker().submit(delivery_id)
    # else: nothing runs automatically; `manage.py process_deliveries` (or a test) does it.


def reprocess(delivery_ids: list[int]) -> int:
    """Admin action: put deliveries back in the queue, due now.

    A failed one gets a fresh set of attempts and a fresh retry horizon (``first_failed_at`` is
    cleared), so a delivery failed at the end of a long outage is retried for as long again.
    """
    n = (
        WebhookDelivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=WebhookDelivery.Status.PROCESSING)
        .update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=None, first_failed_at=None, last_error=""
        )
    )
    for pk in delivery_ids:
        transaction.on_commit(partial(dispatch_delivery, pk))
    return n


@shared_task(name="calendly_sync.process_delivery", acks_late=True)
def process_delivery_task(delivery_id: int) -> str:
    """Drain what is due, this delivery first; if it must wait (backoff), schedule itself for then.

    When another worker is already draining, return at once: that worker takes this delivery
    along (it looks for due work again after releasing its lock), so a burst of tasks costs one
    cheap query each instead of many small, overlapping batches. Beat's sweep is the backstop.
    """
    if drain([delivery_id], background=True) is None:
        return "deferred"
    status, due = WebhookDelivery.objects.filter(pk=delivery_id).values_list("status", "next_attempt_at").first() or (
        "missing",
        None,
    )
    if status == WebhookDelivery.Status.PENDING and due is not None and due > timezone.now():
        process_delivery_task.apply_async((delivery_id,), countdown=max(1.0, (due - timezone.now()).total_seconds()))
    return str(status)


@shared_task(name="calendly_sync.sweep")
def sweep_task() -> dict[str, int]:
    return sweep()


@shared_task(name="calendly_sync.check_subscriptions")
def check_subscriptions_task() -> list[str]:
    return check_all()
