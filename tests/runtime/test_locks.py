"""One drainer at a time, one owner of the embedded worker: each database gets its own lock discipline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test.utils import CaptureQueriesContext

from calendly_sync.runtime.locks import (
    DRAIN_LOCK_KEY,
    WORKER_LOCK_KEY,
    AdvisoryOwnership,
    FileOwnership,
    ProcessOwnership,
    _drain_lock_file,
    drain_lock,
    file_lock,
    worker_ownership,
)


def test_each_database_gets_its_own_lock_discipline(db):
    """SQLite: transactions take the write lock at BEGIN (a read-then-write transaction would
    otherwise fail at once if a pusher thread wrote in between). PostgreSQL: the drain lock is a
    session-level advisory lock, so it spans processes and dies with a crashed holder's connection."""
    from django.db import connection as conn

    if conn.vendor == "sqlite":
        assert conn.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with CaptureQueriesContext(conn) as queries, drain_lock() as held:
        assert held
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert ("pg_try_advisory_lock" in sql and "pg_advisory_unlock" in sql) if conn.vendor == "postgresql" else sql == ""


def test_one_process_owns_the_embedded_worker_through_a_file_lock(tmp_path):
    """SQLite: flock on a file beside the database. Two open files of one process conflict like two
    processes do; the owner's pid is in the file; release (or the process's end) frees it."""
    path = tmp_path / "db.sqlite3-worker.lock"
    first, second = FileOwnership(path), FileOwnership(path)
    try:
        assert first.acquire() and first.holds()
        assert not second.acquire() and not second.holds()
        assert path.read_text() == f"{os.getpid()}\n"
        first.release()
        assert second.acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.django_db(transaction=True)
def test_worker_ownership_suits_the_database():
    """PostgreSQL: an advisory lock (not the drain lock's key) on a connection of its own, so one
    process of all owns the work; SQLite in a file: an flock beside it; in memory: only this process
    can see it."""
    from django.db import connection as conn

    ownership = worker_ownership()
    other = worker_ownership()
    if conn.vendor == "postgresql":
        assert isinstance(ownership, AdvisoryOwnership) and WORKER_LOCK_KEY != DRAIN_LOCK_KEY
    else:
        assert isinstance(ownership, FileOwnership) and conn.settings_dict["NAME"].endswith(".sqlite3")
    try:
        assert ownership.acquire() and ownership.holds()
        assert not other.acquire()
        with drain_lock() as held:
            assert held  # owning the worker is not draining
        ownership.release()
        assert other.acquire()
    finally:
        ownership.release()
        other.release()


def test_an_in_memory_database_is_owned_by_every_process(monkeypatch):
    """No other process can see an in-memory database, so each owns its own work."""
    from django.db import connection as conn

    if conn.vendor == "postgresql":  # whatever the name: the advisory lock spans processes
        monkeypatch.setitem(conn.settings_dict, "NAME", "file:memorydb_default?mode=memory&cache=shared")
        assert isinstance(worker_ownership(), AdvisoryOwnership)
        return
    monkeypatch.setitem(conn.settings_dict, "NAME", "file:memorydb_default?mode=memory&cache=shared")
    ownership = worker_ownership()
    assert isinstance(ownership, ProcessOwnership) and ownership.acquire() and worker_ownership().acquire()


def test_a_forked_child_leaves_the_parents_file_lock_held(tmp_path):
    """A child inherits the lock file's descriptor: forgetting it closes the copy, never unlocks."""
    path = tmp_path / "db.sqlite3-worker.lock"
    owner = FileOwnership(path)
    try:
        assert owner.acquire()
        pid = os.fork()
        if pid == 0:  # the child: forget, then see the lock still taken
            owner.forget()
            os._exit(0 if not FileOwnership(path).acquire() else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        assert owner.holds() and not FileOwnership(path).acquire()
    finally:
        owner.release()


HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_on_sqlite_one_process_drains_at_a_time(tmp_path, monkeypatch):
    """SQLite: Celery's children (and a command beside a server) take the drain lock in turn
    through ``flock`` on a file beside the database, instead of contending for its write lock."""
    from django.db import connection as conn

    path = tmp_path / "db.sqlite3-drain.lock"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with file_lock(path) as held:
            assert not held  # another process drains
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait(10)
    with file_lock(path) as held:
        assert held  # it ended, and its lock with it
        with file_lock(path) as again:
            assert not again  # a second open file of this process conflicts too
    if conn.vendor == "sqlite":
        monkeypatch.setitem(conn.settings_dict, "NAME", "file:memorydb_default?mode=memory&cache=shared")
        assert _drain_lock_file() is None  # an in-memory database: the thread lock is enough
        monkeypatch.setitem(conn.settings_dict, "NAME", str(tmp_path / "db.sqlite3"))
        assert _drain_lock_file() == path
