"""The embedded worker: a thread of the server process that does the work when there is no broker.

It calls the same functions as the Celery tasks (:func:`calendly_sync.runtime.drain.drain` and
:func:`~calendly_sync.runtime.drain.sweep`). It starts with the server process
(:meth:`EmbeddedWorker.start_with_server`, called from ``connector_site/wsgi.py`` and ``asgi.py``
through :func:`calendly_sync.tasks.start_with_server`), so after a restart it sweeps what is due,
picks up what a crash left ``processing`` and checks the webhook subscriptions at once, before
any webhook arrives. Which of the two (thread or Celery) runs is decided in :mod:`calendly_sync.tasks`.

Of several server processes (gunicorn workers) one owns the work
(:func:`calendly_sync.runtime.locks.worker_ownership`): it takes each delivery it acknowledged
from its queue, looks every ``POLL_INTERVAL`` seconds for deliveries the other processes stored,
sweeps every ``SWEEP_INTERVAL`` seconds (so a Brevo outage heals with no command and no extra
service), writes the counts of refused webhook requests the process holds
(:mod:`calendly_sync.inbox.rejections`), checks the subscriptions every hour and evaluates the
alerts every ``ALERT_CHECK_INTERVAL`` seconds and after each subscription check
(:mod:`calendly_sync.overview.alerts`). The others only
acknowledge, and try every ``OWNER_RETRY`` seconds to take over, so the work survives its owner.

Long work never runs in this thread: the subscription check only *queues* the gap backfill it asks
for, and the sweep wakes the job thread (:mod:`calendly_sync.runtime.jobs`) when a job waits, such
as one queued before a restart.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from django.db import close_old_connections, connection

from calendly_sync.conf import app_settings
from calendly_sync.inbox import rejections
from calendly_sync.inbox.deliveries import BATCH_SIZE, due_deliveries
from calendly_sync.overview import alerts
from calendly_sync.privacy.retention import purge
from calendly_sync.runtime import heartbeat
from calendly_sync.runtime.drain import drain, sweep
from calendly_sync.runtime.jobs import has_work, job_runner
from calendly_sync.runtime.locks import Ownership, worker_ownership

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 30.0
POLL_INTERVAL = 1.0  # seconds: how often the owner looks for deliveries another server process stored
OWNER_RETRY = 5.0  # seconds between a standing-by process's attempts to take the work over
OWNER_CHECK = 10.0  # seconds between the owner's checks that it still holds ownership
RETRY_AFTER_FAILURE = 1.0  # seconds until a sweep after a step failed (doubling while failures persist)
SUBSCRIPTION_CHECK_INTERVAL = 3600.0
FIRST_SUBSCRIPTION_CHECK = 0.0  # seconds after the owner starts: at once (a disabled subscription gets no webhook)
PURGE_INTERVAL = 3600.0  # the retention purge (Celery beat runs it as often) …
PURGE_DELAY = 120.0  # … first this many seconds after start-up
ALERTS_DELAY = 60.0  # the first alert evaluation (then every ALERT_CHECK_INTERVAL; the subscription check's own
# evaluation comes first, at start-up)


def loaded_by_preforking_master() -> bool:
    """Whether gunicorn's master is loading the application to fork its workers from (``--preload``).

    The master serves nothing and forks with whatever threads it has, so the worker must not start
    there: each forked worker process starts its own (:meth:`EmbeddedWorker.after_fork`). Without
    ``--preload`` every worker process loads the application itself, after its fork.
    """
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_globals.get("__name__") == "gunicorn.arbiter" and frame.f_code.co_name == "setup":
            return True
        frame = frame.f_back
    return False


class OwnershipLoop:
    """A thread of a server process that owns the deployment's background work, or stands by while another does.

    One loop for :class:`EmbeddedWorker` and :class:`~calendly_sync.runtime.process.WorkerSupervisor`:
    they differ in what they do while this process owns the work (:meth:`_work`, until the thread
    stops or ownership is lost), while another one does (:meth:`_stand_by`), whether they log who
    owns it (``announce``) and the logger they log to (``logger``).
    """

    announce = True  # log which process owns the work
    logger = log
    ownership: Callable[[], Ownership]  # called in the thread (a PostgreSQL lock has its own connection there)
    current_ownership: Ownership | None  # the thread's ownership lock (held or tried)
    stopping: threading.Event
    owner: threading.Event  # set while this process owns the work …
    standing_by: threading.Event  # … and this while another process does

    def _work(self, ownership: Ownership) -> None:
        raise NotImplementedError

    def _stand_by(self, seconds: float) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        ownership = self.current_ownership = self.ownership()
        try:
            while not self.stopping.is_set():
                try:
                    owns = ownership.acquire()
                except Exception:  # never let the thread die: try again later
                    self.logger.exception("embedded worker: cannot take ownership")
                    owns = False
                if owns:
                    self.standing_by.clear()
                    if self.announce:
                        self.logger.info(
                            "embedded worker: process %s runs the background work (%s)",
                            os.getpid(),
                            ownership.describe(),
                        )
                    self.owner.set()
                    try:
                        self._work(ownership)
                    finally:
                        self.owner.clear()
                    continue
                if not self.standing_by.is_set():
                    self.logger.info(
                        "embedded worker: another server process runs the background work; process %s only "
                        "acknowledges webhooks, and takes over if that one stops (%s)",
                        os.getpid(),
                        ownership.describe(),
                    )
                    self.standing_by.set()
                self._stand_by(OWNER_RETRY)
        finally:
            self.owner.clear()
            self.standing_by.clear()
            try:
                ownership.release()
            finally:
                connection.close()  # the thread's own (persistent) database connection, if it opened one


class EmbeddedWorker(OwnershipLoop):
    """The worker loop's thread: owner of the work, or standing by while another process owns it.

    A server runs it in its worker process (:mod:`calendly_sync.runtime.process`); a process that
    is not a server (a test, a command handing over a delivery) runs it as a thread of its own.
    """

    announce = True  # log which process owns the work (the worker process leaves that to its server)

    def __init__(
        self, sweep_interval: float = SWEEP_INTERVAL, ownership: Callable[[], Ownership] = worker_ownership
    ) -> None:
        self.sweep_interval = sweep_interval
        self.ownership = ownership  # called in the worker thread (a PostgreSQL lock has its own connection there)
        self.starts_after_fork = False  # gunicorn --preload: the master's forked workers start it
        self._reset()

    def _reset(self) -> None:
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.owner = threading.Event()  # set while this process owns the work …
        self.standing_by = threading.Event()  # … and this while another process does
        self.lock = threading.Lock()
        self.current_ownership: Ownership | None = None  # the thread's ownership lock (held or tried)

    def start_with_server(self) -> None:
        """A server process starts: start the thread now, not when the first webhook arrives.

        After a deploy nothing else would retry due work, pick up deliveries a crash left
        ``processing``, or repair a subscription Calendly disabled (no webhook can arrive then).
        """
        if loaded_by_preforking_master():
            self.starts_after_fork = True
            log.info("embedded worker: gunicorn --preload; it starts in each worker process after the fork")
            return
        self.start()

    def after_fork(self) -> None:
        """In a child process just forked: nothing of the parent's thread, queue or lock is ours.

        The parent's ownership lock stays with the parent (:meth:`Ownership.forget`). A worker
        forked by gunicorn's master under ``--preload`` starts its own thread.
        """
        if self.current_ownership is not None:
            self.current_ownership.forget()
        self._reset()
        if self.starts_after_fork:
            self.start()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name="calendly-sync-worker", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.queue.put(None)
        if self.thread is not None:
            self.thread.join(timeout)
        self.thread = None

    def submit(self, delivery_id: int) -> None:
        """A delivery this process acknowledged: the owner applies it at once (the others' owner polls)."""
        self.idle.clear()
        self.start()
        self.queue.put(delivery_id)

    def _stand_by(self, seconds: float) -> None:
        """Wait while another process owns the work; what this one acknowledged, the owner polls."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            try:
                self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if self.queue.empty():
                self.idle.set()

    def _work(self, ownership: Ownership) -> None:
        """The owner's loop, until the thread stops or ownership is lost."""
        now = time.monotonic()
        next_sweep = now  # at once: pick up what a crash or a restart left pending
        next_subscription_check = now + FIRST_SUBSCRIPTION_CHECK
        next_poll = now + POLL_INTERVAL
        next_owner_check = now + OWNER_CHECK
        next_purge = now + PURGE_DELAY
        next_alerts = now + ALERTS_DELAY
        failures = 0  # steps failed in a row
        while not self.stopping.is_set():
            wake = min(next_sweep, next_poll, next_owner_check, next_subscription_check, next_purge, next_alerts)
            try:
                item = self.queue.get(timeout=max(0.0, wake - time.monotonic()))
            except queue.Empty:
                item = None
            batch = [item] if item is not None else []
            while batch and len(batch) < BATCH_SIZE:  # a burst is handled as one batch
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is not None:
                    batch.append(more)
            if self.stopping.is_set():
                return
            try:
                close_old_connections()
                if time.monotonic() >= next_owner_check:
                    next_owner_check = time.monotonic() + OWNER_CHECK
                    if not ownership.holds():
                        log.warning("embedded worker: process %s lost ownership of the work", os.getpid())
                        ownership.release()
                        return
                heartbeat.beat()  # /readyz: the owner's loop turns
                if batch:
                    # None when another process drains: that one takes these along
                    drain(batch, background=True)
                    next_poll = time.monotonic() + POLL_INTERVAL
                elif time.monotonic() >= next_poll:
                    # Deliveries another server process acknowledged: only the owner applies them.
                    next_poll = time.monotonic() + POLL_INTERVAL
                    if due_deliveries(1):
                        drain(background=True)
                if time.monotonic() >= next_sweep:  # on time even when deliveries never stop coming
                    next_sweep = time.monotonic() + self.sweep_interval
                    sweep(background=True)
                    rejections.counter.flush_if_due()  # refused requests this process counted
                    if has_work():  # queued before a restart, or left by a process that died
                        job_runner().wake()
                if time.monotonic() >= next_subscription_check:
                    next_subscription_check = time.monotonic() + SUBSCRIPTION_CHECK_INTERVAL
                    next_alerts = time.monotonic() + float(app_settings.ALERT_CHECK_INTERVAL)
                    for line in alerts.check_subscriptions():  # the alerts are evaluated with it
                        log.info("subscription check: %s", line)
                if time.monotonic() >= next_alerts:
                    next_alerts = time.monotonic() + float(app_settings.ALERT_CHECK_INTERVAL)
                    alerts.evaluate()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_INTERVAL
                    purge()
                failures = 0
            except Exception:  # never let the thread die: a sweep soon retries
                log.exception("embedded worker step failed")
                # A transient error (SQLite "database is locked" under load, a dropped connection)
                # must not leave due work waiting a whole sweep interval; one that persists backs
                # off (1 s, 2 s, 4 s … up to the sweep interval) instead of failing every second.
                failures += 1
                retry = min(self.sweep_interval, RETRY_AFTER_FAILURE * 2 ** (failures - 1))
                next_sweep = min(next_sweep, time.monotonic() + retry)
                next_poll = max(next_poll, time.monotonic() + retry)  # the poll backs off with the sweep
            finally:
                close_old_connections()
            if self.queue.empty():
                self.idle.set()


_worker = EmbeddedWorker()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_worker.after_fork)


def embedded_worker() -> EmbeddedWorker:
    """This process's embedded worker (started with the server, or by the first delivery it is handed)."""
    return _worker
