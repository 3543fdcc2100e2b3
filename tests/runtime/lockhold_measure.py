"""How long the drain holds SQLite's write lock per burst batch: a measurement, not a test.

Not collected by the suite (the name does not match ``test_*.py``); run it on SQLite by name::

    PYTHONPATH=. TEST_DATABASE_FILE=/tmp/lockhold.sqlite3 LOCKHOLD_BATCHES=300 \\
        python -m pytest -q -s -p no:cacheprovider tests/runtime/lockhold_measure.py

It stores realistic-looking invitee deliveries through the endpoint (repeat bookers, numbers
shared by several people, cancellations), then claims and applies them ``BURST_BATCH`` at a time
as the drain does during a burst, and times every write transaction of the apply step from the
moment ``BEGIN IMMEDIATE`` returns (the lock is held) to the moment ``COMMIT`` returns (released),
splitting it into time spent in SQL (statements and the commit) and the rest (Python). Autocommitted
writes (the claim's ``UPDATE``) hold the lock for one statement each and are reported apart.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

import pytest
from django.db import connection as db_connection

from calendly_sync.inbox.deliveries import apply_claimed, claim_deliveries, due_deliveries
from calendly_sync.runtime.drain import BURST_BATCH
from tests.fixtures_webhooks import store

BATCHES = int(os.environ.get("LOCKHOLD_BATCHES", "200"))


class LockClock:
    """Times write transactions (BEGIN returned → COMMIT returned) and the SQL inside them."""

    def __init__(self) -> None:
        self.holds: list[tuple[float, float, int]] = []  # (hold s, SQL s, statements) per transaction
        self.autocommit_writes: list[float] = []
        self._began: float | None = None
        self._sql = 0.0
        self._statements = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            end = time.perf_counter()
            head = sql.lstrip()[:6].upper()
            if head.startswith("BEGIN"):
                self._began, self._sql, self._statements = end, 0.0, 0
            elif self._began is not None:
                self._sql += end - start
                self._statements += 1
            elif head in ("INSERT", "UPDATE", "DELETE"):
                self.autocommit_writes.append(end - start)

    def wrap_commit(self) -> None:
        original = db_connection._commit

        def _commit() -> Any:
            start = time.perf_counter()
            try:
                return original()
            finally:
                end = time.perf_counter()
                if self._began is not None:
                    self.holds.append((end - self._began, self._sql + end - start, self._statements))
                    self._began = None

        db_connection._commit = _commit  # type: ignore[method-assign]


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.django_db(transaction=True)
def test_measure_lock_hold_per_burst_batch(client, connection, sims, book, outbox):
    assert db_connection.vendor == "sqlite", "SQLite's write lock is what this measures"
    calendly_sim, _ = sims
    rng = random.Random(12)
    people = BATCHES * BURST_BATCH // 2  # about two bookings per person
    phones = [f"+1 404-555-{n:04d}" for n in range(people // 3)]  # a number shared by about three people
    for i in range(BATCHES * BURST_BATCH):
        person = rng.randrange(people)
        email = f"person{person}@example.com" if rng.random() < 0.8 else f"Person{person}@Example.com"
        answers = {"Company name": f"Co {person % 97}", "Your role": "CTO", "Phone number": rng.choice(phones)}
        inv = book(email, fire_webhooks=True, days=2 + i % 11, answers=answers)
        if i % 9 == 4:
            calendly_sim.cancel(inv["uri"], reason="Conflict")
    ids = store(client, connection, list(outbox))
    print(f"\nstored {len(ids)} deliveries")

    clock = LockClock()
    clock.wrap_commit()
    batches = 0
    with db_connection.execute_wrapper(clock):
        while True:
            due = due_deliveries(BURST_BATCH)
            if not due:
                break
            claimed = claim_deliveries(due)
            apply_claimed(claimed, {}, {})
            batches += 1
    holds = [h for h, _, _ in clock.holds]
    sql = [s for _, s, _ in clock.holds]
    python = [h - s for h, s, _ in clock.holds]
    print(
        f"batches of {BURST_BATCH}: {batches}; write transactions: {len(holds)}"
        f" ({statistics.mean(n for _, _, n in clock.holds):.1f} statements each)"
    )
    for name, values in (("lock held", holds), ("  of it SQL", sql), ("  of it Python", python)):
        print(
            f"{name:16} median {_ms(values, 0.5):6.1f} ms   p90 {_ms(values, 0.9):6.1f} ms"
            f"   p99 {_ms(values, 0.99):6.1f} ms   max {_ms(values, 1.0):6.1f} ms"
        )
    writes = clock.autocommit_writes
    print(f"autocommitted writes: {len(writes)}, median {_ms(writes, 0.5):.2f} ms, p99 {_ms(writes, 0.99):.2f} ms")
    assert holds
