"""Data migrations: what an existing installation's rows become."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

APP = "calendly_sync"
REJECTION_COUNTS = "0004_rejection_counts"


def migrate_to(target: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    executor.loader.build_graph()
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True)
def test_rejection_counters_become_rows_of_the_new_table():
    executor = MigrationExecutor(connection)
    before = [
        (APP, dep) for app, dep in executor.loader.get_migration(APP, REJECTION_COUNTS).dependencies if app == APP
    ]
    leaves = executor.loader.graph.leaf_nodes(APP)
    try:
        apps = migrate_to(before)
        Conn = apps.get_model(APP, "Connection")
        at = datetime(2026, 11, 30, 10, 42, 7, tzinfo=UTC)
        stale = Conn.objects.create(
            name="stale",
            signature_rejections=7,
            last_rejection_reason="timestamp outside tolerance (400 s old)",
            last_rejection_at=at,
        )
        junk = Conn.objects.create(
            name="junk",
            signature_rejections=2,
            last_rejection_reason="malformed signature header",
            last_rejection_at=at,
        )
        mismatch = Conn.objects.create(
            name="mismatch", signature_rejections=1, last_rejection_reason="signature mismatch", last_rejection_at=at
        )
        Conn.objects.create(name="clean")

        apps = migrate_to([(APP, REJECTION_COUNTS)])
        rows = set(
            apps.get_model(APP, "WebhookRejection").objects.values_list(
                "connection_id", "kind", "count", "hour", "last_at"
            )
        )
        hour = at.replace(minute=0, second=0)
        assert rows == {
            (stale.pk, "stale_timestamp", 7, hour, at),
            (junk.pk, "malformed_header", 2, hour, at),
            (mismatch.pk, "bad_signature_old", 1, hour, at),  # the old counter kept no timestamp: noise
        }
    finally:
        migrate_to(leaves)
