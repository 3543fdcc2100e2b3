"""Sync jobs: long work (a backfill, a resync) runs here, never in a request and never in the drain.

A door queues a :class:`~calendly_sync.models.SyncRun` row (``queued``); :mod:`calendly_sync.tasks`
hands its id to a Celery task or wakes this process's :class:`JobRunner` thread, and either calls
:func:`run_job`: claim the row (``queued`` → ``running`` in one conditional ``UPDATE``), keep its
heartbeat while the job runs, and record how it ended. What a job *does* is the door's business
(the backfill): it registers the one function that runs a claimed row with :func:`executor`, so
this layer never imports a door.

One running job per connection is the database's guarantee: a partial unique index on
``(connection) WHERE status = 'running'`` makes a second claim fail (:data:`BUSY`: the job stays
queued and runs when the first one ends). A job whose process died keeps ``running`` with a
heartbeat that stopped: after :data:`JOB_STALE_AFTER` seconds :func:`recover_stale` queues it
again, and it resumes from its checkpoint (a backfill checkpoints after every page); one that died
:data:`JOB_MAX_ATTEMPTS` times is failed with the reason instead. A foreground run of
``sync_calendly`` is only marked interrupted (``--resume`` continues it, as before).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import IntegrityError, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from calendly_sync.models import SyncRun

log = logging.getLogger(__name__)

JOB_HEARTBEAT = 10.0  # seconds between two heartbeats of a running job (a thread beside the job)
JOB_STALE_AFTER = 120.0  # a running job whose heartbeat is older than this has lost its process
JOB_MAX_ATTEMPTS = 3  # a job whose process died this many times is failed, not started again
JOB_POLL = 30.0  # the embedded runner looks for queued and stale jobs this often when nobody wakes it
RETRY_AFTER_FAILURE = 1.0  # seconds until the runner tries again after a step failed (doubling, up to JOB_POLL)
JOB_THREAD_NAME = "calendly-sync-jobs"

BUSY = "busy"  # outcome: another job of the same connection is running; this one stays queued
GONE = "gone"  # outcome: not queued any more (another runner took it, or it ended)

Executor = Callable[[SyncRun], object]
_executor: Executor | None = None


def executor(func: Executor) -> Executor:
    """Register the function that runs a claimed job (the backfill registers its own at import)."""
    global _executor
    _executor = func
    return func


def runner_name(prefix: str = "") -> str:
    """Where a job runs, as the admin shows it: the thread, the process and the host."""
    where = f"thread {threading.current_thread().name}, pid {os.getpid()} on {socket.gethostname()}"
    return f"{prefix}: {where}" if prefix else where


def claim(run_id: int, runner: str) -> SyncRun | str:
    """Take a queued job for this runner; :data:`BUSY` or :data:`GONE` when it cannot be taken."""
    now = timezone.now()
    try:
        with transaction.atomic():
            taken = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
                status=SyncRun.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                runner=runner[:200],
                attempts=F("attempts") + 1,
            )
    except IntegrityError:  # one_running_sync_per_connection: this connection already runs a job
        return BUSY
    if not taken:
        return GONE
    return SyncRun.objects.select_related("connection").get(pk=run_id)


def run_job(run_id: int, runner: str) -> str:
    """Claim the job and run it here; the outcome is its final status, :data:`BUSY` or :data:`GONE`.

    Never raises for the job's own failure: that is the row's ``failed`` status and readable error
    (the executor's exception, as ``Type: message``), which the admin shows, also as its
    connection's last error. A failure of the database rather than of the job (SQLite's "database
    is locked" under load, a dropped connection, a deadlock) queues it again to resume from its
    checkpoint (outcome ``queued``), up to :data:`JOB_MAX_ATTEMPTS` starts.
    """
    run = claim(run_id, runner)
    if isinstance(run, str):
        return run
    try:
        if _executor is None:
            raise RuntimeError("no job executor is registered (calendly_sync.backfill is not imported)")
        with heartbeat(run.pk):
            _executor(run)
    except Exception as exc:  # noqa: BLE001 - recorded on the row; the runner goes on with the next job
        error = f"{type(exc).__name__}: {exc}"[:10000]
        if not connection.in_atomic_block:  # after a database error, a fresh connection (not a caller's)
            connection.close_if_unusable_or_obsolete()
        if isinstance(exc, (OperationalError, InterfaceError)) and run.attempts < JOB_MAX_ATTEMPTS:
            log.warning("sync run %s: database error, queued again to resume: %s", run_id, error)
            if _settle(run_id, SyncRun.Status.QUEUED, f"resumed from its checkpoint after a database error: {error}"):
                return str(SyncRun.Status.QUEUED)
        log.warning("sync run %s failed: %s", run_id, error)
        _settle(run_id, SyncRun.Status.FAILED, error)
        run.connection.record_error(f"sync run #{run_id} failed: {error}")
    status = SyncRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status == SyncRun.Status.RUNNING:  # the executor returned without saying how it ended
        SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.COMPLETED, finished_at=timezone.now()
        )
        status = SyncRun.Status.COMPLETED
    return str(status)


def _settle(run_id: int, status: str, error: str) -> bool:
    """End a job that raised, as failed or queued again, whatever its executor wrote meanwhile."""
    try:
        with transaction.atomic():
            return bool(
                SyncRun.objects.filter(pk=run_id, status__in=[SyncRun.Status.RUNNING, SyncRun.Status.FAILED]).update(
                    status=status,
                    error=error,
                    finished_at=None if status == SyncRun.Status.QUEUED else timezone.now(),
                )
            )
    except IntegrityError:  # queued again: another job of its kind waits already
        return False


@contextmanager
def heartbeat(run_id: int, every: float | None = None) -> Iterator[None]:
    """Beat the job's ``heartbeat_at`` from a thread of its own while the body runs.

    A thread, not the job's progress: a job may wait minutes on one step (a Calendly rate-limit
    reset, a Brevo import being processed) and is alive all the same. Only a dead process stops it.
    """
    stop = threading.Event()
    interval = JOB_HEARTBEAT if every is None else every

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(heartbeat_at=timezone.now())
                except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                    log.info("sync run %s: heartbeat not written (%s)", run_id, exc)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=beat, name=f"sync-run-{run_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)


def is_stale(run: SyncRun, now: datetime | None = None) -> bool:
    """A running job whose last sign of life is older than :data:`JOB_STALE_AFTER`."""
    now = now or timezone.now()
    last = run.heartbeat_at or run.started_at
    return run.status == SyncRun.Status.RUNNING and now - last > timedelta(seconds=JOB_STALE_AFTER)


def recover_stale(now: datetime | None = None) -> list[int]:
    """Jobs whose process died: queue them again to resume, or fail them. Returns the requeued ids.

    Each row is changed only if its heartbeat is still the stale one read here, so a job that beat
    meanwhile is left alone, and two recoverers never both act on one row.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=JOB_STALE_AFTER)
    stale = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    requeued = []
    for run in stale:
        seen = run.heartbeat_at or run.started_at
        same = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING, heartbeat_at=run.heartbeat_at)
        why = f"its process stopped (no heartbeat since {seen:%Y-%m-%d %H:%M:%S} UTC; it ran in {run.runner or '?'})"
        if run.trigger == SyncRun.Trigger.COMMAND:
            same.update(
                status=SyncRun.Status.INTERRUPTED,
                error=f"interrupted: {why}; sync_calendly --resume continues it",
                finished_at=now,
            )
        elif run.attempts >= JOB_MAX_ATTEMPTS:
            same.update(
                status=SyncRun.Status.FAILED,
                error=f"failed: {why}, and it had been started {run.attempts} times; see the server's log",
                finished_at=now,
            )
        else:
            try:
                with transaction.atomic():
                    again = same.update(status=SyncRun.Status.QUEUED, error=f"resumed from its checkpoint: {why}")
                if again:
                    requeued.append(run.pk)
            except IntegrityError:  # one_queued_sync_per_connection_trigger: a newer one of its kind waits
                same.update(
                    status=SyncRun.Status.INTERRUPTED,
                    error=f"interrupted: {why}; a newer job of its kind is queued",
                    finished_at=now,
                )
        log.warning("sync run %s: %s", run.pk, why)
    return requeued


def has_work(now: datetime | None = None) -> bool:
    """Whether a job is queued or stale: the embedded worker's sweep wakes the job runner then."""
    cutoff = (now or timezone.now()) - timedelta(seconds=JOB_STALE_AFTER)
    return SyncRun.objects.filter(
        Q(status=SyncRun.Status.QUEUED)
        | Q(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff)
        | Q(status=SyncRun.Status.RUNNING, heartbeat_at__isnull=True, started_at__lt=cutoff)
    ).exists()


def queued_ids(connection_id: int | None = None) -> list[int]:
    """Queued jobs, oldest request first."""
    qs = SyncRun.objects.filter(status=SyncRun.Status.QUEUED)
    if connection_id is not None:
        qs = qs.filter(connection_id=connection_id)
    return list(qs.order_by("requested_at", "pk").values_list("pk", flat=True))


def run_queued(runner: str, connection_id: int | None = None) -> list[tuple[int, str]]:
    """Run every queued job that can run now, here, one after the other: ``(id, outcome)`` each."""
    done: list[tuple[int, str]] = []
    for run_id in queued_ids(connection_id):
        done.append((run_id, run_job(run_id, runner)))
    return done


class JobRunner:
    """This server process's job thread, for deployments without a broker.

    Not the embedded worker's thread: that one applies webhook deliveries, and a backfill of many
    pages would hold them up. Woken by :func:`calendly_sync.tasks.dispatch_job`; every
    :data:`JOB_POLL` seconds it also looks for jobs it was not told about (queued before a restart,
    waiting for another job of their connection, or stale). Jobs run one after the other; every
    server process has one, and the claim decides which of them runs a given job.
    """

    def __init__(self, poll: float = JOB_POLL) -> None:
        self.poll = poll
        self.thread: threading.Thread | None = None
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name=JOB_THREAD_NAME, daemon=True)
            self.thread.start()

    def wake(self) -> None:
        self.start()
        self.wakeup.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the job it runs, if any; whether the thread ended within ``timeout``."""
        self.stopping.set()
        self.wakeup.set()
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        failures = 0  # steps failed in a row
        while not self.stopping.is_set():
            self.wakeup.clear()  # a wake from now on is seen by the wait below
            wait = self.poll
            try:
                close_old_connections()
                recover_stale()
                name = runner_name()
                ran = True
                while ran and not self.stopping.is_set():  # again while jobs end: others may wait on them
                    ran = False
                    for run_id in queued_ids():
                        if self.stopping.is_set():
                            break
                        ran = run_job(run_id, name) not in (BUSY, GONE) or ran
                failures = 0
            except Exception:  # never let the thread die: try again soon
                # A transient error (SQLite "database is locked" under load, a dropped connection)
                # must not leave a job waiting a whole poll; one that persists backs off.
                log.exception("job runner step failed")
                failures += 1
                wait = min(self.poll, RETRY_AFTER_FAILURE * 2 ** (failures - 1))
            finally:
                close_old_connections()
            self.wakeup.wait(wait)
        connection.close()


_runner = JobRunner()


def job_runner() -> JobRunner:
    """This process's job runner (started by the first job it is handed)."""
    return _runner
