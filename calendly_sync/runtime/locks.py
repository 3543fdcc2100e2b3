"""Locks shared by the processes of one deployment: one drainer at a time, one owner of the embedded worker.

The drain lock: PostgreSQL (the multi-process deployment: several gunicorn workers, Celery
children) gets a session-level advisory lock; it is released when the holder's connection ends, so
a crashed worker never leaves it held. SQLite: a thread lock, and ``flock`` on a file beside the
database (``<name>-drain.lock``), so that Celery's children and ``process_deliveries`` next to a
server do not drain at the same time either: two drainers would only contend for SQLite's one
write lock, and with the webhook endpoint's writes (the row claims keep even that correct). The
kernel drops an ``flock`` when its process dies. An in-memory database, or Windows: the thread lock.

Worker ownership (:func:`worker_ownership`): of the server processes of a deployment (gunicorn
workers), one runs the embedded worker's sweeps, polls and subscription checks; the others only
acknowledge webhooks. PostgreSQL: an advisory lock with its own key, held by a connection of its
own for as long as the process owns the work. SQLite: ``flock`` on a file beside the database.
Both die with the process, so another one takes over.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)

DRAIN_LOCK_KEY = 0x63616C5F73796E63 >> 1  # "cal_sync" as a positive bigint: one key for the whole project
WORKER_LOCK_KEY = 0x63616C5F776F726B >> 1  # "cal_work": owning the embedded worker is not draining
_local = threading.Lock()


@contextmanager
def drain_lock(*, wait: bool = False) -> Iterator[bool]:
    """Yield True while holding the drain lock, False (at once) when another worker holds it and not ``wait``."""
    if connection.vendor != "postgresql":
        held = _local.acquire(blocking=wait)
        try:
            if not held:
                yield False
                return
            path = _drain_lock_file()
            if path is None:
                yield True
                return
            with file_lock(path, wait=wait) as held_file:
                yield held_file
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


def _drain_lock_file() -> Path | None:
    """SQLite's drain lock file, beside the database (None: in memory, or no ``flock``)."""
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or _in_memory(name) or sys.platform == "win32":
        return None
    return Path(f"{name}-drain.lock")


@contextmanager
def file_lock(path: Path, *, wait: bool = False) -> Iterator[bool]:
    """Yield True while holding an exclusive ``flock`` on ``path`` (False at once when taken, unless ``wait``).

    Each call opens the file anew, so it excludes other threads of this process as well as other processes.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the descriptor drops the lock
    finally:
        os.close(fd)


class Ownership(Protocol):
    """Who, among the server processes of a deployment, runs the embedded worker's work."""

    def acquire(self) -> bool:
        """Take ownership if nobody holds it (never waits); True while this process owns the work."""
        ...

    def holds(self) -> bool:
        """Whether ownership is still held (an advisory lock dies with its database session)."""
        ...

    def release(self) -> None: ...

    def forget(self) -> None:
        """In a child process just forked: drop what was inherited, leaving the parent's lock held."""
        ...

    def describe(self) -> str:
        """What the lock is, for the logs."""
        ...


class ProcessOwnership:
    """Every process owns its own work: an in-memory database (no other process can see it), a
    backend with neither advisory locks nor a file, or a platform without ``flock`` (Windows). With
    several server processes each then sweeps and polls: correct (row claims), only less efficient."""

    def acquire(self) -> bool:
        return True

    def holds(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def forget(self) -> None:
        return None

    def describe(self) -> str:
        return "this process alone (no lock across processes)"


class FileOwnership:
    """SQLite: an exclusive ``flock`` on a file beside the database (the owner's pid is written in it).

    The kernel drops the lock when the process ends, however it ends. Not on Windows (no ``flock``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.held = False

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by exec'd children
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)  # who owns the work, for an operator
        return True

    def holds(self) -> bool:
        return self.held

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # drops the lock
        self.fd, self.held = None, False

    def forget(self) -> None:
        # The child's copy of the descriptor shares the parent's lock: closing the copy leaves the
        # lock with the parent (an explicit LOCK_UN would release it for both).
        self.release()

    def describe(self) -> str:
        return f"file lock {self.path}"


class AdvisoryOwnership:
    """PostgreSQL: a session-level advisory lock (``WORKER_LOCK_KEY``) on a connection of its own.

    That connection is opened for this purpose alone and kept while the process owns the work
    (never closed by ``close_old_connections`` or ``CONN_MAX_AGE``): when the process dies, its
    session ends and the lock with it. Create and use it in one thread (the worker's).
    """

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias
        self.conn: BaseDatabaseWrapper | None = None
        self.held = False

    def _query(self, sql: str, params: tuple[int, ...] = ()) -> object:
        if self.conn is None:
            self.conn = connections.create_connection(self.alias)
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        except DatabaseError:
            self._drop()
            raise
        return row[0] if row else None

    def acquire(self) -> bool:
        if self.held:
            return True
        try:
            self.held = bool(self._query("SELECT pg_try_advisory_lock(%s)", (WORKER_LOCK_KEY,)))
        except DatabaseError as exc:
            log.warning("embedded worker: cannot ask for ownership (%s); trying again later", exc)
            return False
        return self.held

    def holds(self) -> bool:
        if not self.held:
            return False
        try:
            self._query("SELECT 1")  # the session, and the lock with it, is still there
        except DatabaseError as exc:
            log.warning("embedded worker: the ownership connection was lost (%s)", exc)
            return False
        return True

    def release(self) -> None:
        if self.held and self.conn is not None:
            with suppress(DatabaseError):  # else the session is gone, and the lock with it
                self._query("SELECT pg_advisory_unlock(%s)", (WORKER_LOCK_KEY,))
        self._drop()

    def forget(self) -> None:
        # Never close the inherited session (that would end the parent's, and its lock); psycopg
        # does not close a connection inherited through a fork when it is garbage-collected.
        self.conn, self.held = None, False

    def _drop(self) -> None:
        if self.conn is not None:
            with suppress(DatabaseError):
                self.conn.close()
        self.conn, self.held = None, False

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {WORKER_LOCK_KEY}"


def _in_memory(name: str) -> bool:
    return name == ":memory:" or "mode=memory" in name


def worker_ownership() -> Ownership:
    """The ownership lock that suits the default database (see the module's docstring)."""
    if connection.vendor == "postgresql":
        return AdvisoryOwnership()
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and not _in_memory(name) and sys.platform != "win32":
        return FileOwnership(Path(f"{name}-worker.lock"))  # beside -wal and -shm
    return ProcessOwnership()
