"""The one place that knows whether work runs in Celery or in the embedded worker.

Doors (the webhook view, the admin) hand work over with :func:`dispatch_delivery` and
:func:`reprocess`; with ``CELERY_BROKER_URL`` set it becomes a Celery task, otherwise the embedded
worker takes it: in a server, the worker process its owner supervises
(:mod:`calendly_sync.runtime.process`); elsewhere (a test, a command), a thread of this process.
Either way the same functions run: :func:`calendly_sync.runtime.drain.drain` and
:func:`~calendly_sync.runtime.drain.sweep`.

Sync jobs (a backfill, a resync: :mod:`calendly_sync.runtime.jobs`) go the same way with
:func:`dispatch_job`: a Celery task, or this process's job thread (not the drain's thread).
Commands run the jobs they queue in the foreground instead (:func:`jobs_in_foreground`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from calendly_sync.conf import app_settings
from calendly_sync.models import SyncRun, WebhookDelivery
from calendly_sync.overview import alerts
from calendly_sync.privacy.retention import purge
from calendly_sync.runtime.drain import drain, sweep
from calendly_sync.runtime.jobs import BUSY, job_runner, queued_ids, recover_stale, run_job, runner_name
from calendly_sync.runtime.process import worker_supervisor
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
        supervisor = worker_supervisor()
        if supervisor.active:  # a server: its worker process (or, in another server process, its poll)
            supervisor.submit(delivery_id)
        else:
            embedded_worker().submit(delivery_id)
    # else: nothing runs automatically; `manage.py process_deliveries` (or a test) does it.


def start_with_server() -> None:
    """A server process starts: with no broker, it takes part in running the embedded worker process.

    With a broker, Celery workers and beat do the work (beat sweeps and checks the subscriptions),
    so nothing starts here; nor with ``CONNECTOR_EMBEDDED_WORKER`` off.
    """
    if not broker_configured() and app_settings.CONNECTOR_EMBEDDED_WORKER:
        worker_supervisor().start_with_server()


def reprocess(delivery_ids: list[int]) -> int:
    """Admin action: put deliveries back in the queue, due now.

    A failed one gets a fresh set of attempts and a fresh retry horizon (``first_failed_at`` is
    cleared), so a delivery failed at the end of a long outage is retried for as long again.

    A processed delivery whose body is no longer kept (see ``privacy.retention``) has nothing to
    apply again: it stays as it is.
    """
    n = (
        WebhookDelivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=WebhookDelivery.Status.PROCESSING)
        .exclude(payload={})
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
    counts = sweep()
    counts["jobs"] = len(recover_jobs())
    return counts


@shared_task(name="calendly_sync.check_subscriptions")
def check_subscriptions_task() -> list[str]:
    """The hourly subscription health check (Celery beat), then the alerts at once."""
    return alerts.check_subscriptions()


@shared_task(name="calendly_sync.evaluate_alerts")
def evaluate_alerts_task() -> dict[str, int]:
    """Open, resolve and send the alerts (Celery beat, every ALERT_CHECK_INTERVAL seconds)."""
    report = alerts.evaluate()
    return {
        "opened": len(report.opened),
        "resolved": len(report.resolved),
        "sent": report.sent,
        "failed": report.failed,
    }


@shared_task(name="calendly_sync.purge")
def purge_task() -> dict[str, int]:
    """The retention purge (Celery beat, hourly; the embedded worker runs it itself)."""
    return purge()


# -- sync jobs ------------------------------------------------------------------------------------
_foreground = threading.local()


def dispatch_job(run_id: int) -> None:
    """Hand a queued sync job to whoever runs jobs here: a Celery task, or this process's job thread.

    Never raises: the job is stored as ``queued``, so an unreachable broker leaves it for beat's
    sweep (:func:`sweep_task` queues every waiting job again), and the job thread finds it at its
    next look. Without a broker and without the embedded worker nothing runs it automatically:
    ``sync_calendly --run-queued`` does.
    """
    if broker_configured():
        try:
            run_job_task.apply_async((run_id,))
        except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep queues it again
            log.warning("sync run %s queued, not sent (%s: %s): a sweep sends it", run_id, type(exc).__name__, exc)
    # A server's owner hands it to its worker process; another server process (or a test) runs it
    # in its own job thread, at once, rather than leave it to the owner's next sweep.
    elif app_settings.CONNECTOR_EMBEDDED_WORKER and not worker_supervisor().wake_jobs():
        job_runner().wake()


def job_queued(run_id: int) -> None:
    """A door queued this job: run it in the foreground (in a command) or hand it over after the commit."""
    pending = getattr(_foreground, "ids", None)
    if pending is not None:
        pending.append(run_id)
    else:
        transaction.on_commit(partial(dispatch_job, run_id))


@contextmanager
def jobs_in_foreground() -> Iterator[list[tuple[int, str]]]:
    """In a command, the jobs queued inside this block run in this thread when it ends.

    A command is not a request: it may wait, and it must, since a thread it started would die
    with it. Yields the list it fills with ``(run id, outcome)``. A job that must wait for another
    job of its connection stays queued for the server's job runner (or Celery).
    """
    previous = getattr(_foreground, "ids", None)
    ids: list[int] = []
    _foreground.ids = ids
    done: list[tuple[int, str]] = []
    try:
        yield done
    finally:
        _foreground.ids = previous
    for run_id in ids:
        outcome = run_job(run_id, runner_name("command"))
        if outcome == BUSY:
            dispatch_job(run_id)
        done.append((run_id, outcome))


@shared_task(name="calendly_sync.run_sync_job", acks_late=True)
def run_job_task(run_id: int) -> str:
    """Run a queued sync job in this worker; when it ends, hand over the next one of its connection.

    A job that must wait for another job of its connection (busy) is not retried here: the one
    running hands it over when it ends, and beat's sweep is the backstop. A redelivered message
    (the broker's visibility timeout, a worker lost) finds the job taken and does nothing.
    """
    outcome = run_job(run_id, runner_name(f"celery task {run_job_task.request.id}"))
    connection_id = SyncRun.objects.filter(pk=run_id).values_list("connection_id", flat=True).first()
    if outcome != BUSY and connection_id is not None:
        for waiting in queued_ids(connection_id)[:1]:
            dispatch_job(waiting)
    return outcome


def recover_jobs() -> list[int]:
    """Resume jobs whose process died, and hand every queued job over again (beat's backstop)."""
    recover_stale()
    waiting = queued_ids()
    for run_id in waiting:
        dispatch_job(run_id)
    return waiting
