"""One drainer at a time: a lock shared by every process that applies deliveries.

PostgreSQL (the multi-process deployment: several gunicorn workers, Celery children) gets a
session-level advisory lock; it is released when the holder's connection ends, so a crashed
worker never leaves it held. SQLite deployments run in one process, where a thread lock is enough
(a second process on SQLite, such as ``process_deliveries`` next to ``runserver``, may drain at
the same time: the row claims keep that correct, only less efficient).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

log = logging.getLogger(__name__)

DRAIN_LOCK_KEY = 0x63616C5F73796E63 >> 1  # "cal_sync" as a positive bigint: one key for the whole project
_local = threading.Lock()


@contextmanager
def drain_lock(*, wait: bool = False) -> Iterator[bool]:
    """Yield True while holding the drain lock, False (at once) when another worker holds it and not ``wait``."""
    if connection.vendor != "postgresql":
        held = _local.acquire(blocking=wait)
        try:
            yield held
        finally:
            if held:
                _local.release()
        return
    # Each thread has its own database session, so this also excludes threads of one process.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)" if wait else "SELECT pg_try_advisory_lock(%s)", [DRAIN_LOCK_KEY])
        row = cursor.fetchone()
    held = wait or bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [DRAIN_LOCK_KEY])
            except DatabaseError:  # the connection is gone, and the lock with it
                log.info("drain lock: connection lost before unlock (the server released it)")
