"""The embedded worker: a thread of the server process that does the work when there is no broker.

It calls the same functions as the Celery tasks (:func:`calendly_sync.runtime.drain.drain` and
:func:`~calendly_sync.runtime.drain.sweep`). It takes each committed delivery from a queue, and
every ``SWEEP_INTERVAL`` seconds retries what is due and picks up what a crash left pending, so a
Brevo outage heals with no command and no extra service. Which of the two runs is decided in
:mod:`calendly_sync.tasks`.

Long work never runs in this thread: the hourly subscription check only *queues* the gap backfill
it asks for, and the sweep wakes the job thread (:mod:`calendly_sync.runtime.jobs`) when a job
waits, such as one queued before a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque

from django.db import close_old_connections, connection

from calendly_sync.inbox.deliveries import BATCH_SIZE
from calendly_sync.inbox.subscriptions import check_all
from calendly_sync.runtime.drain import drain, sweep
from calendly_sync.runtime.jobs import has_work, job_runner

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 30.0
RETRY_AFTER_FAILURE = 1.0  # seconds until a sweep after a step failed (doubling while failures persist)
BUSY_ARRIVALS = 15  # deliveries accepted …
BUSY_WINDOW = 0.3  # … within this many seconds: a burst (50/s in one server process)
SUBSCRIPTION_CHECK_INTERVAL = 3600.0
FIRST_SUBSCRIPTION_CHECK = 60.0  # seconds after start: let the server settle first


class EmbeddedWorker:
    def __init__(self, sweep_interval: float = SWEEP_INTERVAL) -> None:
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.sweep_interval = sweep_interval
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.lock = threading.Lock()
        self.arrivals: deque[float] = deque(maxlen=BUSY_ARRIVALS)  # when this process accepted its last deliveries

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

    def busy(self) -> bool:
        """This server process is acknowledging a burst (``BUSY_ARRIVALS`` within ``BUSY_WINDOW`` s).

        Applying deliveries costs CPU the acknowledgements need; while a burst lasts the drain
        waits (up to ``MAX_DEFER`` seconds at a time), then takes the backlog in large batches.
        """
        return len(self.arrivals) == self.arrivals.maxlen and time.monotonic() - self.arrivals[0] < BUSY_WINDOW

    def submit(self, delivery_id: int) -> None:
        self.arrivals.append(time.monotonic())
        self.idle.clear()
        self.start()
        self.queue.put(delivery_id)

    def _run(self) -> None:
        next_sweep = time.monotonic()  # at start-up: pick up what a crash or a restart left pending
        next_subscription_check = time.monotonic() + FIRST_SUBSCRIPTION_CHECK
        failures = 0  # steps failed in a row
        while not self.stopping.is_set():
            try:
                item = self.queue.get(timeout=max(0.0, next_sweep - time.monotonic()))
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
            try:
                close_old_connections()
                if batch:
                    # None when another process drains: that one takes these along
                    drain(batch, background=True, busy=self.busy)
                if time.monotonic() >= next_sweep:  # on time even when deliveries never stop coming
                    next_sweep = time.monotonic() + self.sweep_interval
                    sweep(background=True, busy=self.busy)
                    if has_work():  # queued before a restart, or left by a process that died
                        job_runner().wake()
                if time.monotonic() >= next_subscription_check:
                    next_subscription_check = time.monotonic() + SUBSCRIPTION_CHECK_INTERVAL
                    for line in check_all():
                        log.info("subscription check: %s", line)
                failures = 0
            except Exception:  # never let the thread die: a sweep soon retries
                log.exception("embedded worker step failed")
                # A transient error (SQLite "database is locked" under load, a dropped connection)
                # must not leave due work waiting a whole sweep interval; one that persists backs
                # off (1 s, 2 s, 4 s … up to the sweep interval) instead of failing every second.
                failures += 1
                retry = min(self.sweep_interval, RETRY_AFTER_FAILURE * 2 ** (failures - 1))
                next_sweep = min(next_sweep, time.monotonic() + retry)
            finally:
                close_old_connections()
            if self.queue.empty():
                self.idle.set()
        connection.close()  # the thread's own (persistent) database connection ends with it


_worker = EmbeddedWorker()


def embedded_worker() -> EmbeddedWorker:
    """This process's embedded worker (started by the first delivery it is handed)."""
    return _worker
