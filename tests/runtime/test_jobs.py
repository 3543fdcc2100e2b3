"""Sync jobs: one running per connection (the database says so), claims, heartbeats, and jobs whose process died."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from calendly_sync import tasks
from calendly_sync.backfill import BackfillOptions, SyncBusy, queue_gap_backfill, queue_sync, run_backfill
from calendly_sync.models import Booking, SyncRun
from calendly_sync.runtime import jobs
from calendly_sync.runtime.jobs import BUSY, GONE, claim, recover_stale, run_job, run_queued
from tests.test_tasks import wait_until

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_calendly", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_database_allows_one_running_job_per_connection_and_one_queued_per_kind(connection):
    SyncRun.objects.create(connection=connection, status="running", trigger="admin")
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(connection=connection, status="running", trigger="gap-backfill")
    SyncRun.objects.create(connection=connection, status="queued", trigger="admin")
    SyncRun.objects.create(connection=connection, status="queued", trigger="gap-backfill")  # another kind may wait
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(connection=connection, status="queued", trigger="admin")
    SyncRun.objects.create(connection=connection, status="completed", trigger="admin")  # finished ones: any number
    SyncRun.objects.create(connection=connection, status="completed", trigger="admin")


def test_a_job_is_claimed_once_and_waits_while_its_connection_runs_another(connection, sims, book):
    book("levi@example.com")
    first = queue_sync(connection, requested_by="ana")
    gap = queue_gap_backfill(connection, timezone.now() - timedelta(days=1))  # a gap is never refused
    taken = claim(first.pk, "runner A")
    assert isinstance(taken, SyncRun) and (taken.status, taken.attempts, taken.runner) == ("running", 1, "runner A")
    assert claim(first.pk, "runner B") == GONE  # nobody runs it twice
    assert run_job(gap.pk, "runner B") == BUSY  # one running job per connection: the gap waits
    assert SyncRun.objects.get(pk=gap.pk).status == "queued"

    with pytest.raises(
        SyncBusy, match=rf"a sync is already running \(run #{first.pk}: Sync now \(admin\), requested by ana"
    ):
        queue_sync(connection)
    SyncRun.objects.filter(pk=first.pk).update(status="completed")
    assert run_queued("runner B") == [(gap.pk, "completed")]
    assert Booking.objects.filter(email="levi@example.com").exists()


def test_a_second_sync_now_is_refused_while_the_first_is_still_queued(connection):
    first = queue_sync(connection)
    with pytest.raises(SyncBusy, match=rf"a sync is already queued \(run #{first.pk}"):
        queue_sync(connection)
    assert SyncRun.objects.count() == 1


def test_a_job_whose_process_died_is_resumed_from_its_checkpoint(connection, sims, event_types):
    from calendly_sync.sandbox.calendly import seeding as calendly_data

    calendly_sim, brevo_sim = sims
    calendly_data.bulk_events(calendly_sim, 150, event_types["discovery"]["uri"])
    run = queue_sync(connection)
    job = claim(run.pk, "a process that is about to die")
    assert isinstance(job, SyncRun)
    seen = {"n": 0}

    def die_in_the_second_page(n: int) -> None:
        seen["n"] += n
        if seen["n"] == 101:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(
            connection,
            BackfillOptions(since=run.since, until=run.until, trigger="admin"),
            die_in_the_second_page,
            job=job,
        )
    # A killed process writes nothing more: its row stays running, its heartbeat stops.
    SyncRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert Booking.objects.count() == 101

    assert recover_stale() == [run.pk]
    run.refresh_from_db()
    assert run.status == "queued" and run.error.startswith("resumed from its checkpoint: its process stopped")
    assert "a process that is about to die" in run.error
    assert run_queued("the next runner") == [(run.pk, "completed")]
    run.refresh_from_db()
    assert (run.attempts, run.runner, run.counts["events"]) == (2, "the next runner", 150)
    assert Booking.objects.count() == 150 and len(brevo_sim.contacts) == 150
    assert calendly_sim.count(r"^GET /scheduled_events$") == 3  # page 1, page 2 (died), page 2 again


def test_a_job_whose_process_keeps_dying_is_failed_with_the_reason(connection):
    stale = timezone.now() - timedelta(minutes=5)
    run = SyncRun.objects.create(
        connection=connection,
        status="running",
        trigger="gap-backfill",
        attempts=jobs.JOB_MAX_ATTEMPTS,
        heartbeat_at=stale,
    )
    assert recover_stale() == []
    run.refresh_from_db()
    assert run.status == "failed" and f"started {jobs.JOB_MAX_ATTEMPTS} times" in run.error
    assert run.finished_at is not None


def test_a_live_job_is_not_recovered(connection):
    run = SyncRun.objects.create(connection=connection, status="running", trigger="admin", heartbeat_at=timezone.now())
    assert recover_stale() == []
    assert SyncRun.objects.get(pk=run.pk).status == "running"


def test_the_command_is_refused_while_a_job_runs_and_goes_ahead_when_that_job_died(connection, sims, book):
    book("levi@example.com")
    live = SyncRun.objects.create(
        connection=connection, status="running", trigger="admin", requested_by="ana", heartbeat_at=timezone.now()
    )
    with pytest.raises(CommandError, match=rf"default: a sync is already running \(run #{live.pk}"):
        sync()
    with pytest.raises(CommandError, match="already running"):
        sync("--resume")  # not even to take over its row
    SyncRun.objects.filter(pk=live.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert "events 1," in sync()  # the dead one was queued again to resume, and waits for this one
    assert SyncRun.objects.get(pk=live.pk).status == "queued"
    mine = SyncRun.objects.get(trigger="command")
    assert mine.status == "completed" and mine.runner.startswith("sync_calendly: thread MainThread")


def test_a_command_run_whose_process_died_is_left_for_resume(connection, sims, book):
    book("levi@example.com")
    run = SyncRun.objects.create(
        connection=connection,
        status="running",
        trigger="command",
        heartbeat_at=timezone.now() - timedelta(minutes=5),
        since=timezone.now() - timedelta(days=1),
        until=timezone.now() + timedelta(days=30),
    )
    assert recover_stale() == []
    run.refresh_from_db()
    assert run.status == "interrupted" and "sync_calendly --resume continues it" in run.error
    sync("--resume")
    run.refresh_from_db()
    assert run.status == "completed" and SyncRun.objects.count() == 1


def test_an_unreachable_broker_leaves_the_job_queued_for_the_sweep(connection, settings, monkeypatch):
    from kombu.exceptions import OperationalError

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    sent: list[int] = []

    def broker_down(args: tuple[int], **kwargs: Any) -> None:
        sent.append(args[0])
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.run_job_task, "apply_async", broker_down)
    run = SyncRun.objects.create(connection=connection, status="queued", trigger="admin")
    tasks.dispatch_job(run.pk)  # never raises
    assert tasks.recover_jobs() == [run.pk]  # beat's sweep hands it over again
    assert sent == [run.pk, run.pk] and SyncRun.objects.get(pk=run.pk).status == "queued"


def test_a_job_queued_in_a_command_runs_there_or_waits_for_the_running_one(connection, sims, book):
    book("levi@example.com")
    with tasks.jobs_in_foreground() as ran:
        first = queue_sync(connection)
        assert SyncRun.objects.get(pk=first.pk).status == "queued"  # it runs when the block ends
    assert ran == [(first.pk, "completed")]
    blocker = SyncRun.objects.create(
        connection=connection, status="running", trigger="command", heartbeat_at=timezone.now()
    )
    with tasks.jobs_in_foreground() as ran:
        gap = queue_gap_backfill(connection, timezone.now() - timedelta(days=1))
    assert ran == [(gap.pk, BUSY)] and SyncRun.objects.get(pk=gap.pk).status == "queued"
    assert blocker.status == "running"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_beats_from_its_own_thread(connection):
    old = timezone.now() - timedelta(minutes=5)
    run = SyncRun.objects.create(connection=connection, status="running", trigger="admin", heartbeat_at=old)
    with jobs.heartbeat(run.pk, every=0.05):
        wait_until(lambda: SyncRun.objects.get(pk=run.pk).heartbeat_at > old, timeout=10, what="a heartbeat")
    assert jobs.has_work() is False


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_wakes_the_job_thread_for_a_job_queued_before_a_restart(
    connection, sims, book, job_thread, monkeypatch
):
    from calendly_sync.runtime import worker as worker_module

    _, brevo_sim = sims
    book("levi@example.com")
    run = SyncRun.objects.create(
        connection=connection,
        status="queued",
        trigger="admin",
        since=timezone.now() - timedelta(days=1),
        until=timezone.now() + timedelta(days=30),
    )
    assert jobs.has_work()
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0)
    worker.start()  # its start-up sweep finds the job and wakes the job thread
    try:
        wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "completed", what="the job")
    finally:
        worker.stop()
    assert "thread calendly-sync-jobs" in SyncRun.objects.get(pk=run.pk).runner
    assert brevo_sim.get_contact("levi@example.com") is not None


def test_a_database_error_queues_the_job_again_and_it_resumes(connection, sims, book, monkeypatch):
    from django.db import OperationalError

    book("levi@example.com")
    real = jobs._executor
    assert real is not None
    calls: list[int] = []

    def locked_once(run: SyncRun) -> object:
        calls.append(run.pk)
        if len(calls) == 1:
            raise OperationalError("database table is locked: calendly_sync_syncrun")  # SQLite under load
        return real(run)

    monkeypatch.setattr(jobs, "_executor", locked_once)
    run = queue_sync(connection)
    assert run_queued("runner") == [(run.pk, "queued")]
    run.refresh_from_db()
    assert run.status == "queued" and run.error.startswith("resumed from its checkpoint after a database error")
    assert run_queued("runner") == [(run.pk, "completed")]
    run.refresh_from_db()
    assert (run.attempts, run.error) == (2, "")
    connection.refresh_from_db()
    assert connection.last_error == ""  # the database's hiccup is not the connection's fault


def test_a_job_that_keeps_hitting_database_errors_fails_after_its_attempts(connection, monkeypatch):
    from django.db import OperationalError

    def always_locked(run: SyncRun) -> object:
        raise OperationalError("database is locked")

    monkeypatch.setattr(jobs, "_executor", always_locked)
    run = queue_sync(connection)
    outcomes = [run_queued("runner") for _ in range(jobs.JOB_MAX_ATTEMPTS)]
    assert outcomes[-1] == [(run.pk, "failed")] and all(o == [(run.pk, "queued")] for o in outcomes[:-1])
    run.refresh_from_db()
    assert run.error == "OperationalError: database is locked"
    connection.refresh_from_db()
    assert f"sync run #{run.pk} failed: OperationalError: database is locked" in connection.last_error
