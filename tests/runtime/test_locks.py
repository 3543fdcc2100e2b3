"""One drainer at a time: each database gets its own lock discipline."""

from __future__ import annotations

from django.test.utils import CaptureQueriesContext

from calendly_sync.runtime.locks import drain_lock


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
