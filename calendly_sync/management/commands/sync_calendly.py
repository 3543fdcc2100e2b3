"""``manage.py sync_calendly``: backfill Calendly bookings into Brevo, in the foreground.

A command is not a request: it runs its backfill here, as a job row of its own (refused while
another job of the connection runs) with a heartbeat. ``--run-queued`` runs the jobs the admin or
the health check queued, for deployments with neither the embedded worker nor Celery.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from datetime import UTC, datetime, time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from calendly_sync.backfill import (
    BackfillOptions,
    SyncBusy,
    UnknownEventType,
    abandon_run,
    run_backfill,
    start_run,
    summary_line,
)
from calendly_sync.management.base import TextCommand
from calendly_sync.models import Connection, SyncRun
from calendly_sync.runtime.jobs import BUSY, GONE, heartbeat, recover_stale, run_queued, runner_name


def parse_when(value: str, *, end: bool = False) -> datetime:
    """An ISO date (2026-01-31) or date-time; dates cover the whole day."""
    dt = parse_datetime(value)
    if dt is None:
        d = parse_date(value)
        if d is None:
            raise CommandError(f"not an ISO date or date-time: {value!r}")
        dt = datetime.combine(d, time.max if end else time.min)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def pick_connection(name: str | None) -> Connection:
    qs = Connection.objects.filter(enabled=True)
    if name:
        conn = Connection.objects.filter(name=name).first()
        if conn is None:
            known = ", ".join(Connection.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no connection named {name!r} (known: {known})")
        return conn
    count = qs.count()
    if count == 1:
        return qs.get()
    if count == 0:
        raise CommandError(
            "no enabled connection: add one in the admin or with import_connector_config (the sandbox's "
            "connection is in its own database: run the command as `python3 scripts/dev.py manage …`)"
        )
    raise CommandError("several connections: choose one with --connection NAME")


def describe_runs(ran: list[tuple[int, str]]) -> list[str]:
    """One line per job a command ran (or could not run yet)."""
    lines = []
    for run_id, outcome in ran:
        run = SyncRun.objects.filter(pk=run_id).first()
        if run is None or outcome == GONE:
            lines.append(f"sync run #{run_id}: taken by another runner")
        elif outcome == BUSY:
            lines.append(
                f"sync run #{run_id} ({run.get_trigger_display()}): waits for the job running for its connection; "
                "the job runner starts it then"
            )
        else:
            error = f" — {run.error}" if run.error and run.status != SyncRun.Status.COMPLETED else ""
            lines.append(
                f"sync run #{run_id} ({run.get_trigger_display()}): {run.status}: {summary_line(run.counts)}{error}"
            )
    return lines


class Command(TextCommand):
    help = "Backfill Calendly bookings into Brevo contacts, lists and (optionally) automation events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", help="connection name (needed when there are several)")
        parser.add_argument(
            "--since",
            help="meetings starting at or after this ISO date/time "
            "(default: 7 days before the last completed run, or 90 days back)",
        )
        parser.add_argument("--until", help="meetings starting before this ISO date/time (default: 90 days ahead)")
        parser.add_argument(
            "--event-type", help="only this event type: its name, slug, UUID or URI (unknown: an error listing them)"
        )
        parser.add_argument("--dry-run", action="store_true", help="print the Brevo writes it would make; make none")
        parser.add_argument(
            "--with-events",
            action="store_true",
            help="also send Brevo automation events for backfilled bookings (off: history must not "
            "start welcome flows)",
        )
        parser.add_argument(
            "--resume", action="store_true", help="continue the last unfinished run from its checkpoint"
        )
        parser.add_argument(
            "--bulk-threshold",
            type=int,
            default=200,
            help="use Brevo's bulk import when at least this many contacts are to be written",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
        parser.add_argument(
            "--run-queued",
            action="store_true",
            help="run the sync jobs waiting in the queue (Sync now, gap backfills) here, then exit; for "
            "deployments without the embedded worker or Celery (with --connection: only that connection's)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["run_queued"]:
            self.run_queued(opts["connection"])
            return
        connection = pick_connection(opts["connection"])
        options = BackfillOptions(
            since=parse_when(opts["since"]) if opts["since"] else None,
            until=parse_when(opts["until"], end=True) if opts["until"] else None,
            event_type=opts["event_type"],
            dry_run=opts["dry_run"],
            with_events=opts["with_events"],
            resume=opts["resume"],
            bulk_threshold=opts["bulk_threshold"],
        )
        if options.since and options.until and options.since >= options.until:
            raise CommandError("--since must be before --until")
        bar = None
        if sys.stdout.isatty() and not opts["no_progress"]:
            bar = tqdm(desc="events", unit="event", leave=False)
        run = None
        try:
            run = None if options.dry_run else start_run(connection, options, runner=runner_name("sync_calendly"))
            with heartbeat(run.pk) if run is not None else nullcontext():
                try:
                    report = run_backfill(connection, options, progress=bar.update if bar else None, job=run)
                except BaseException as exc:
                    if run is not None:
                        abandon_run(run, exc)
                    raise
        except CommandError:
            raise
        except UnknownEventType as exc:
            raise CommandError(str(exc)) from exc
        except SyncBusy as exc:
            raise CommandError(f"{connection.name}: {exc}") from exc
        except Exception as exc:
            raise CommandError(f"sync failed: {exc}") from exc
        finally:
            if bar is not None:
                bar.close()
        if options.dry_run:
            for write in report.dry_run_writes:
                self.stdout.write(json.dumps(write, sort_keys=True, default=str))
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(report.summary_line())

    def run_queued(self, name: str | None) -> None:
        connection = Connection.objects.filter(name=name).first() if name else None
        if name and connection is None:
            raise CommandError(f"no connection named {name!r}")
        recover_stale()
        ran = run_queued(runner_name("sync_calendly --run-queued"), connection.pk if connection else None)
        for line in describe_runs(ran) or ["no sync job is queued"]:
            self.stdout.write(line)
