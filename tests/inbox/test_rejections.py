"""Refused webhook requests: counted in memory, written at most once an interval, judged by a rule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError
from django.db import connection as db_connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.inbox import rejections
from calendly_sync.inbox.rejections import (
    FLUSH_INTERVAL,
    KEY_MISMATCH_MIN,
    MAX_PENDING,
    RejectionCounter,
    RejectionSummary,
    assess,
    summarize,
)
from calendly_sync.models import Connection, WebhookRejection

K = RejectionKind


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def total() -> int:
    return int(WebhookRejection.objects.aggregate(n=Sum("count"))["n"] or 0)


@pytest.fixture
def conn(db):
    return Connection.objects.create(name="c", webhook_signing_key="k")


# --- the counter -------------------------------------------------------------------------------


def test_counts_wait_for_the_interval_and_add_to_the_hours_row(conn):
    clock = Clock()
    counter = RejectionCounter(clock=clock)
    counter.record(conn.pk, K.BAD_SIGNATURE, "signature mismatch")  # the first: written at once
    assert total() == 1 and counter.pending() == 0
    for _ in range(30):
        counter.record(conn.pk, K.BAD_SIGNATURE, "signature mismatch")
    counter.record(None, K.UNKNOWN_CONNECTION, "no connection 99")
    assert total() == 1 and counter.pending() == 31
    clock.now += FLUSH_INTERVAL - 1
    assert counter.flush_if_due() == 0
    clock.now += 1
    with CaptureQueriesContext(db_connection) as queries:
        assert counter.flush_if_due() == 31
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split(" ", 1)[0] in ("INSERT", "UPDATE")]
    assert len(writes) == 2  # one UPDATE of the connection's hour, one INSERT of the new bucket
    rows = {(r.connection_id, r.kind): r.count for r in WebhookRejection.objects.all()}
    assert rows == {(conn.pk, "bad_signature"): 31, (None, "unknown_connection"): 1}


def test_a_database_error_keeps_the_counts_for_the_next_write(conn, monkeypatch, caplog):
    counter = RejectionCounter(clock=Clock())

    def broken(batch):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(rejections, "_write", broken)
    counter.record(conn.pk, K.MALFORMED_HEADER, "missing signature header")  # must not raise
    counter.record(conn.pk, K.MALFORMED_HEADER, "missing signature header")
    assert counter.pending() == 2 and "kept for later" in caplog.text
    monkeypatch.undo()
    assert counter.flush() == 2 and total() == 2


def test_several_processes_rows_for_one_hour_are_summed_and_added_to_once(conn):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    now = timezone.now()
    for count in (3, 4):  # two processes inserted the same hour
        WebhookRejection.objects.create(
            connection=conn, kind="bad_signature", hour=hour, count=count, first_at=now, last_at=now
        )
    RejectionCounter(clock=Clock()).record(conn.pk, K.BAD_SIGNATURE, "signature mismatch")
    assert sorted(WebhookRejection.objects.values_list("count", flat=True)) == [4, 4]
    assert summarize(conn).counts == {"bad_signature": 8}


def test_made_up_and_deleted_connections_count_under_no_connection(conn):
    counter = RejectionCounter(clock=Clock())
    counter.record(conn.pk + 1000, K.MALFORMED_HEADER, "malformed signature header")  # /webhooks/calendly/<id>/
    gone = Connection.objects.create(name="gone")
    counter.record(gone.pk, K.BAD_SIGNATURE, "signature mismatch")
    gone.delete()
    counter.flush()
    assert {(r.connection_id, r.kind): r.count for r in WebhookRejection.objects.all()} == {
        (None, "malformed_header"): 1,
        (None, "bad_signature"): 1,
    }


def test_random_ids_in_urls_cannot_grow_the_pending_counts_without_bound(conn):
    counter = RejectionCounter(clock=Clock())
    counter.record(conn.pk, K.MALFORMED_HEADER, "x")  # written; the interval starts
    for made_up in range(10**6, 10**6 + 3 * MAX_PENDING):
        counter.record(made_up, K.MALFORMED_HEADER, "malformed signature header")
    assert len(counter._pending) <= MAX_PENDING + 1
    counter.flush()
    assert total() == 1 + 3 * MAX_PENDING


def test_one_log_line_per_write_at_info_for_noise_and_warning_otherwise(conn, caplog):
    caplog.set_level(logging.INFO, logger="calendly_sync")
    counter = RejectionCounter(clock=Clock())
    counter.record(None, K.UNKNOWN_CONNECTION, "no connection 7")
    counter.record(conn.pk, K.STALE_TIMESTAMP, "timestamp outside tolerance (600 s old)")
    counter.record(conn.pk, K.STALE_TIMESTAMP, "timestamp outside tolerance (601 s old)")
    counter.flush()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "calendly_sync.inbox.rejections"]
    assert lines == [
        (logging.INFO, "refused 1 webhook request(s) since " + lines[0][1].split("since ")[1]),
        (logging.WARNING, lines[1][1]),
    ]
    assert f"connection {conn.pk}: 2 × stale_timestamp" in lines[1][1] and "(601 s old)" in lines[1][1]


# --- the rule ----------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def summary(accepted: int = 0, last_accepted: datetime | None = None, **counts: int) -> RejectionSummary:
    return RejectionSummary(
        counts=counts,
        last_at=dict.fromkeys(counts, T0),
        last_reason={kind: f"({kind})" for kind in counts},
        accepted=accepted,
        last_accepted_at=last_accepted,
    )


@pytest.mark.parametrize(
    "label,given,level,words",
    [
        ("nothing", summary(), "OK", "no request refused"),
        (
            "noise only",
            summary(malformed_header=500, unknown_connection=40, bad_signature_old=70),
            "OK",
            "610 refused in the last 24 h, noise (500 malformed",
        ),
        ("a few current mismatches", summary(bad_signature=KEY_MISMATCH_MIN - 1), "OK", "noise"),
        ("mismatches amid many deliveries", summary(accepted=50, bad_signature=20), "OK", "50 accepted"),
        ("key mismatch", summary(bad_signature=KEY_MISMATCH_MIN), "FAIL", "matched no signing key"),
        ("half fail", summary(accepted=10, bad_signature=10), "FAIL", "matched no signing key"),
        ("no key", summary(no_signing_key=KEY_MISMATCH_MIN), "FAIL", "no signing key"),
        ("clock", summary(stale_timestamp=1, last_accepted=T0 - timedelta(hours=1)), "FAIL", "clock is off"),
        ("clock, none ever accepted", summary(stale_timestamp=1), "FAIL", "clock is off"),
        (
            "clock, fixed since",
            summary(accepted=3, stale_timestamp=2, last_accepted=T0 + timedelta(minutes=5)),
            "WARN",
            "accepted since",
        ),
        ("shared key", summary(accepted=3, ambiguous=1, last_accepted=T0), "FAIL", "several connections"),
    ],
)
def test_assess_tells_noise_from_a_real_problem(label, given, level, words):
    got_level, message = assess(given)
    assert got_level == level, (label, message)
    assert words in message, (label, message)
