"""Where work runs: the embedded worker thread (no broker) or Celery (``CELERY_BROKER_URL`` set).

One code path either way: both call :func:`calendly_sync.inbox.deliveries.drain` and
:func:`calendly_sync.inbox.deliveries.sweep`. The embedded thread takes each committed delivery from a
queue, and every ``SWEEP_INTERVAL`` seconds retries what is due and picks up what a crash left
pending, so a Brevo outage heals with no command and no extra service.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque

from django.conf import settings
from django.db import close_old_connections, connection

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 30.0
TASK_DEBOUNCE = 0.25  # seconds: at most one Celery task per this interval and server process
BUSY_ARRIVALS = 15  # deliveries accepted …
BUSY_WINDOW = 0.3  # … within this many seconds: a burst (50/s in one server process)
SUBSCRIPTION_CHECK_INTERVAL = 3600.0


def broker_configured() -> bool:
    return bool(settings.CELERY_BROKER_URL)


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
        from calendly_sync.inbox.deliveries import BATCH_SIZE, drain, sweep

        next_sweep = time.monotonic()  # at start-up: pick up what a crash or a restart left pending
        next_subscription_check = time.monotonic() + 60.0  # not at start-up: let the server settle
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
                if time.monotonic() >= next_subscription_check:
                    from calendly_sync.inbox.subscriptions import check_all

                    next_subscription_check = time.monotonic() + SUBSCRIPTION_CHECK_INTERVAL
                    for line in check_all():
                        log.info("subscription check: %s", line)
            except Exception:  # never let the thread die: the next sweep retries
                log.exception("embedded worker step failed")
            finally:
                close_old_connections()
            if self.queue.empty():
                self.idle.set()
        connection.close()  # the thread's own (persistent) database connection ends with it


_worker = EmbeddedWorker()


def embedded_worker() -> EmbeddedWorker:
    return _worker


_task_lock = threading.Lock()
_task_runs_at = 0.0  # when the drain task this process last queued will start, at the earliest


def dispatch_delivery(delivery_id: int) -> None:
    """Hand a committed delivery to whoever processes deliveries in this deployment.

    With Celery, one task per ``TASK_DEBOUNCE`` seconds and server process, not one per delivery:
    a task drains everything due, and one queued to start after this delivery's commit will see
    it. A burst of 2,000 webhooks then costs a few dozen task messages instead of 2,000.
    """
    global _task_runs_at
    if broker_configured():
        from calendly_sync.tasks import process_delivery_task

        with _task_lock:
            now = time.monotonic()
            if now < _task_runs_at:
                return  # the task already queued starts after this commit and takes it along
            _task_runs_at = now + TASK_DEBOUNCE
        process_delivery_task.apply_async((delivery_id,), countdown=TASK_DEBOUNCE)
    elif settings.CONNECTOR_EMBEDDED_WORKER:
        _worker.submit(delivery_id)
    # else: nothing runs automatically; `manage.py process_deliveries` (or a test) does it.
