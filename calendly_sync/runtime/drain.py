"""The drain: one worker at a time takes every due delivery, applies it, and pushes the result.

Batches are as large as the backlog, so a backlog goes to Brevo as bulk imports and event batches
and only one process spends Brevo's per-second budget. The embedded worker and the Celery tasks
both call :func:`drain` and :func:`sweep`: the same code path whichever way the connector runs.

While webhooks arrive fast (a burst: ``BUSY_ARRIVALS`` stored within ``BUSY_WINDOW`` seconds,
whichever server process stored them), the drain stays out of the acknowledgements' way without
stopping: it claims and applies a few deliveries at a time (:func:`burst_batch`), each batch one
short write transaction, and pauses ``BURST_PAUSE`` seconds (at least twice as long as the batch took)
between batches. On SQLite every acknowledgement's ``INSERT`` needs the database's one write lock,
which a long transaction of the drain (a batch of 500, in a process at ``nice`` +10 that the
scheduler serves last) would hold for up to a second; the short ones leave it free most of the
time, and the deliveries still reach Brevo during the burst rather than all after it. A drain
that falls behind the arrivals takes larger steps with shorter pauses until it has caught up
(:meth:`Drain.apply_round`): a backlog left for after the burst would reach Brevo only at its
10 requests/s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import timedelta

from django import db
from django.utils import timezone

from calendly_sync.brevo.errors import BrevoError
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for
from calendly_sync.inbox.deliveries import (
    BATCH_SIZE,
    BULK_THRESHOLD,
    Applied,
    RulesCache,
    apply_claimed,
    claim_deliveries,
    due_deliveries,
    finish,
    stored_since,
)
from calendly_sync.models import Connection, WebhookDelivery
from calendly_sync.push.contacts import push_dirty
from calendly_sync.runtime.locks import drain_lock
from calendly_sync.sync.projection import Rules

log = logging.getLogger(__name__)

PUSH_EVERY = 500  # a drain pushes to Brevo when caught up, or after applying this many …
PUSH_AFTER = 1.0  # … or after applying for this many seconds (BURST_PUSH_AFTER during a burst)
LINGER = 0.2  # seconds a background drain lets a burst gather between batches
PUSHERS = 4  # rounds a background drain pushes to Brevo at the same time
BUSY_ARRIVALS = 5  # deliveries stored …
BUSY_WINDOW = 0.5  # … within this many seconds: a burst (10/s, all server processes together)
BURST_BATCH = 25  # deliveries claimed and applied at a time during a burst: one short write transaction on SQLite
BURST_BATCH_SERVER = 100  # … on PostgreSQL (no database-wide write lock; the pauses bound the drain's share of CPU)
BURST_PAUSE = 0.15  # seconds at least between those batches (longer than SQLite's busy-wait step of 0.1 s)
BURST_SHARE = 2.0  # … and at least this many times as long as the batch took: the writes are mostly the server's
BEHIND = 4  # batches' worth of deliveries due: the drain falls behind the arrivals, and catches up with
BURST_PAUSE_BEHIND = 0.05  # batches twice as large and pauses this long at least …
BURST_SHARE_BEHIND = 0.5  # … and half as long as the batch took: it still writes in short steps, and keeps up
BURST_PUSH_AFTER = 3.0  # seconds a round gathers during a burst: fewer, larger imports (each costs polls of
# /processes, 100 an hour at Brevo); the round is pushed as soon as nothing is due, so not later at the burst's end

Counts = dict[str, int]
Busy = Callable[[], bool]
sleep = time.sleep  # the drain's pauses (a test records them instead)


def drain(
    first: Iterable[int] = (),
    *,
    limit: int | None = None,
    wait: bool = False,
    background: bool = False,
    busy: Busy | None = None,
) -> Counts | None:
    """Process every due delivery in batches, unless another worker is already draining (then None).

    One drainer at a time (:func:`calendly_sync.runtime.locks.drain_lock`, across processes on
    PostgreSQL). Whoever releases the lock looks once more for due work, so a delivery whose
    worker found the lock taken never waits for the next sweep.

    ``background`` (the embedded worker and Celery): let a burst gather between batches, and
    push each round to Brevo from up to ``PUSHERS`` threads while the next round is applied, so
    a bulk import's wait overlaps the work that follows it. Otherwise (a command, a test) every
    round is pushed before the next is applied, in the calling thread. A background drain paces
    itself while webhooks arrive fast (see the module's docstring); ``busy`` replaces its test
    for that (:func:`arriving`).
    """
    counts = {"deliveries": 0, "processed": 0}
    pending = list(first)
    while True:
        with drain_lock(wait=wait) as held:
            if not held:
                return None
            Drain(counts, limit=limit, background=background, busy=busy).run(pending)
        if (limit is not None and counts["deliveries"] >= limit) or not due_deliveries(1):
            return counts
        pending = []


@dataclass
class Round:
    """Deliveries applied to the database since the last push, waiting to go to Brevo together."""

    results: dict[int, str] = field(default_factory=dict)
    cache: RulesCache = field(default_factory=dict)
    applied: list[Applied] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.results) + len(self.applied)


class Drain:
    """The rounds of one lock holder: apply due deliveries batch after batch until none is left
    (or ``PUSH_EVERY`` / ``PUSH_AFTER`` is reached), then push the round to Brevo together: the
    fewer, larger pushes, the fewer Brevo calls."""

    def __init__(
        self, counts: Counts, *, limit: int | None = None, background: bool = False, busy: Busy | None = None
    ) -> None:
        self.counts = counts
        self.limit = limit
        self.background = background
        self.busy = busy if busy is not None else (arriving if background else None)
        self.pushers = ThreadPoolExecutor(PUSHERS, thread_name_prefix="calendly-sync-push") if background else None
        self.running: set[Future[dict[int, str]]] = set()

    def run(self, pending: list[int]) -> None:
        try:
            while not self.limit_reached():
                current = self.apply_round(pending)
                pending = []
                if current is None:
                    if not self.running:
                        return
                    self.collect(block=True, timeout=LINGER)  # pushes still running: look again for new work soon
                    continue
                self.push(current)
        finally:
            self.close()

    def limit_reached(self, extra: int = 0) -> bool:
        return self.limit is not None and self.counts["deliveries"] + extra >= self.limit

    def room(self, current: Round, batch: int = BATCH_SIZE) -> int:
        """How many deliveries the next batch may claim."""
        if self.limit is None:
            return batch
        return min(batch, self.limit - self.counts["deliveries"] - current.size)

    def apply_round(self, pending: list[int]) -> Round | None:
        """Claim and apply batches until the round is full; None when nothing was due.

        During a burst the batches are small and paced (see the module's docstring): a pause is
        bounded (``BURST_PAUSE``, or ``BURST_SHARE`` × the batch's own time), so the drain never
        stops while webhooks keep coming; it only writes in short steps between theirs. When more
        than ``BEHIND`` batches' worth is due it is falling behind (webhooks arrive faster than it
        applies them so paced), and would leave a backlog for after the burst, when Brevo's
        10 requests/s make the tail: then the batches double and the pauses shrink
        (``BURST_PAUSE_BEHIND``, ``BURST_SHARE_BEHIND``) until it has caught up.
        """
        current = Round()
        started = time.monotonic()
        while len(current.applied) < PUSH_EVERY and not self.limit_reached(current.size):
            burst = self.busy is not None and self.busy()
            behind = False
            if burst:
                batch = burst_batch()
                due = due_deliveries(BEHIND * batch)  # ids only: how far the drain is behind the arrivals
                behind = len(due) >= BEHIND * batch
                room = self.room(current, 2 * batch if behind else batch)
            else:
                room = self.room(current)
                due = due_deliveries(room)
            ids = list(dict.fromkeys([*pending, *due]))[:room]
            pending = []
            began = time.monotonic()
            claimed = claim_deliveries(ids) if ids else []
            if not claimed:
                break  # nothing due (or held by a forced reprocess elsewhere)
            current.applied.extend(apply_claimed(claimed, current.cache, current.results))
            if not self.background or time.monotonic() - started >= (BURST_PUSH_AFTER if burst else PUSH_AFTER):
                break
            if burst:
                took = time.monotonic() - began
                sleep(
                    max(BURST_PAUSE_BEHIND, took * BURST_SHARE_BEHIND)
                    if behind
                    else max(BURST_PAUSE, took * BURST_SHARE)
                )
            elif len(claimed) < BATCH_SIZE:
                # More are arriving: let them gather for a moment. Larger batches cost the
                # server far less CPU per delivery, which it needs for acknowledging webhooks.
                sleep(LINGER)
        return current if current.size else None

    def push(self, current: Round) -> None:
        """Bring a round to Brevo: here and now, or in a pusher thread while the next round is applied."""
        if self.pushers is None:
            finish(current.applied, current.cache, current.results)
            self.tally(current.results)
            return
        while len(self.running) >= PUSHERS:
            self.collect(block=True)
        self.running.add(self.pushers.submit(_finish_in_thread, current))
        self.collect(block=False)

    def tally(self, results: dict[int, str]) -> None:
        self.counts["deliveries"] += len(results)
        self.counts["processed"] += sum(1 for status in results.values() if status == WebhookDelivery.Status.PROCESSED)

    def collect(self, block: bool, timeout: float | None = None) -> None:
        """Count the rounds whose push has finished (waiting for one when ``block``)."""
        if block:
            done, _ = wait_futures(self.running, timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            done = {f for f in self.running if f.done()}
        for future in done:
            self.running.discard(future)
            try:
                self.tally(future.result())
            except Exception:  # its deliveries stay claimed; a sweep takes them again once the claim is stale
                log.exception("pushing a round of deliveries to Brevo failed")

    def close(self) -> None:
        if self.pushers is not None:
            while self.running:
                self.collect(block=True)
            self.pushers.shutdown(wait=True)


def _finish_in_thread(current: Round) -> dict[int, str]:
    try:
        finish(current.applied, current.cache, current.results)
        return current.results
    finally:
        db.connection.close()  # this thread's own connection; the pool's threads end with the drain


def burst_batch() -> int:
    """How many deliveries a batch takes during a burst: few on SQLite, whose one write lock the
    acknowledgements need. A batch is reduced and projected before its write transaction and the
    transaction only checks and writes (:func:`calendly_sync.sync.projection.ingest`): the lock is
    held about 1 ms per delivery rather than 3 – 4 (``tests/runtime/lockhold_measure.py``), longer
    at ``nice`` +10."""
    return BURST_BATCH if db.connection.vendor == "sqlite" else BURST_BATCH_SERVER


def arriving() -> bool:
    """Webhooks arrive fast: ``BUSY_ARRIVALS`` deliveries stored within the last ``BUSY_WINDOW`` seconds.

    Read from the inbox, so it counts what every server process stored (the embedded worker's own
    process is handed only its owner's deliveries; a Celery worker none).
    """
    return stored_since(timezone.now() - timedelta(seconds=BUSY_WINDOW), at_least=BUSY_ARRIVALS)


def sweep(
    limit: int | None = None, *, wait: bool = False, background: bool = False, busy: Busy | None = None
) -> Counts:
    """Retry what is due: deliveries, then dirty contacts and pending events of every connection.

    The deliveries are left to the worker that is draining, unless ``wait``. ``background`` and
    ``busy`` as for :func:`drain`.
    """
    counts = {"deliveries": 0, "processed": 0, "contacts": 0, "events": 0}
    with drain_lock(wait=wait) as held:
        if held:
            Drain(counts, limit=limit, background=background, busy=busy).run([])
    # Contacts left dirty and events left pending by a transient failure belong to deliveries
    # already processed: only a sweep retries them, so this part runs even while another worker
    # drains (row locks and claims keep the two apart).
    for connection in Connection.objects.filter(enabled=True).exclude(status=Connection.Status.NEEDS_RECONNECT):
        try:
            client = brevo_client_for(connection)
        except MissingCredentials:
            continue
        try:
            summary = push_dirty(
                connection,
                client,
                attribute_types=Rules.load(connection).attribute_types,
                bulk_threshold=BULK_THRESHOLD,
            )
            counts["contacts"] += summary.created + summary.updated
            counts["events"] += summary.events_sent
        except BrevoError as exc:
            log.warning("sweep: Brevo unavailable for connection %s: %s", connection.name, exc)
        except Exception:  # one broken connection must not stop the sweep of the others
            log.exception("sweep: connection %s failed", connection.name)
    if due_deliveries(1) and (limit is None or counts["deliveries"] < limit):
        drained = drain(
            limit=None if limit is None else limit - counts["deliveries"],  # arrived meanwhile
            background=background,
            busy=busy,
        )
        for key, value in (drained or {}).items():
            counts[key] += value
    return counts
