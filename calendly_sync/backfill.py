"""Backfill: page through Calendly's scheduled events and their invitees into the same reducer.

Checkpointed per page of scheduled events: a run killed in the middle resumes from the last page
it finished (``sync_calendly --resume``, or by itself when it ran as a background job); everything
before the checkpoint is already durable as Booking/Contact rows, and dirty contacts are pushed by
whichever run comes next.

The admin's "Sync now" and "Recompute and resend every contact", and the gap backfill the
subscription health check asks for, never run here in the caller's thread: they queue a
:class:`SyncRun` (:func:`queue_sync`, :func:`queue_resync`, :func:`queue_gap_backfill`) that a
background job runs (:mod:`calendly_sync.runtime.jobs` calls :func:`execute_job`). One job runs
per connection at a time; a second request while one is queued or running is refused
(:class:`SyncBusy`), except a gap backfill, which waits its turn. ``manage.py sync_calendly``
runs in the foreground, as a job row of its own (:func:`start_run`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone

from calendly_sync.calendly.client import CalendlyClient, Page
from calendly_sync.calendly.errors import CalendlyPermissionError
from calendly_sync.calendly.ratelimit import alias
from calendly_sync.credentials.clients import brevo_client_for, calendly_client_for, identify
from calendly_sync.inbox.subscriptions import subscription_gap
from calendly_sync.models import Connection, Contact, SyncRun
from calendly_sync.push.contacts import PushSummary, push_dirty
from calendly_sync.runtime.jobs import executor, is_stale, recover_stale
from calendly_sync.sync.observations import MalformedPayload, Observation, observe_invitee
from calendly_sync.sync.projection import Rules, ingest, refresh_all_contacts
from calendly_sync.tasks import job_queued

log = logging.getLogger(__name__)

DEFAULT_BACK = timedelta(days=90)
DEFAULT_AHEAD = timedelta(days=90)
RESYNC_OVERLAP = timedelta(days=7)  # look again at recent meetings: no-shows are marked after them
INVITEE_WORKERS = 4
DEFAULT_BULK_THRESHOLD = 200


@dataclass
class BackfillOptions:
    since: datetime | None = None
    until: datetime | None = None
    event_type: str | None = None
    dry_run: bool = False
    with_events: bool = False
    resume: bool = False
    bulk_threshold: int | None = DEFAULT_BULK_THRESHOLD
    trigger: str = "command"


@dataclass
class BackfillReport:
    run: SyncRun
    counts: dict[str, Any]
    dry_run_writes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        return summary_line(self.counts, dry_run=self.run.dry_run)


def summary_line(c: dict[str, Any], *, dry_run: bool = False) -> str:
    """A run's counts in one line (the command prints it; a job's row keeps the same counts)."""
    return (
        f"events {c.get('events', 0)}, invitees {c.get('invitees', 0)}, contacts created "
        f"{c.get('contacts_created', 0)} / updated {c.get('contacts_updated', 0)} / unchanged "
        f"{c.get('contacts_unchanged', 0)}, failed {c.get('contacts_failed', 0)}, warnings {c.get('warnings', 0)}, "
        f"automation events {c.get('automation_events', 0)}, Calendly calls {c.get('calendly_calls', 0)}, "
        f"Brevo calls {c.get('brevo_calls', 0)}, 429s {c.get('rate_limited', 0)}, {c.get('seconds', 0):.1f} s"
        + (f", {c['erased']} invitees skipped (erased)" if c.get("erased") else "")
        + (" (dry run: nothing written)" if dry_run else "")
    )


def default_window(connection: Connection, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From the last completed run's checkpoint (minus an overlap), or 90 days back; to 90 days ahead."""
    now = now or timezone.now()
    last = (
        SyncRun.objects.filter(connection=connection, status=SyncRun.Status.COMPLETED, dry_run=False)
        .order_by("-started_at")
        .first()
    )
    since = now - DEFAULT_BACK
    if last is not None:
        since = max(since, last.started_at - RESYNC_OVERLAP)
    return since, now + DEFAULT_AHEAD


class UnknownEventType(ValueError):
    """``--event-type`` names no event type of the connection's Calendly account."""


def resolve_event_type(connection: Connection, calendly: CalendlyClient, wanted: str) -> str:
    """The URI of the event type the operator named: its URI, UUID, slug or name (any case).

    Calendly lists active and inactive types alike when ``active`` is omitted, so a deactivated
    type's past bookings can still be synced. A name that matches nothing is an error naming the
    known types, never a run that silently syncs nothing.
    """
    org = connection.calendly_organization_uri
    try:
        types = list(
            calendly.list_event_types(organization=org)
            if org
            else calendly.list_event_types(user=connection.calendly_user_uri)
        )
    except CalendlyPermissionError:  # not an organization admin: their own types
        types = list(calendly.list_event_types(user=connection.calendly_user_uri))
    key = wanted.strip().casefold()
    for event_type in types:
        uri = str(event_type.get("uri") or "")
        names = {uri, uri.rsplit("/", 1)[-1], event_type.get("slug") or "", event_type.get("name") or ""}
        if key in {str(name).casefold() for name in names if name}:
            return uri
    known = ", ".join(sorted(f"{t.get('name')!r} ({t.get('slug')})" for t in types)) or "none"
    raise UnknownEventType(f"no event type {wanted!r} in this Calendly account (known: {known})")


def _utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event_params(connection: Connection, since: datetime, until: datetime, scope: str) -> dict[str, str]:
    params = {"min_start_time": _utc(since), "max_start_time": _utc(until), "sort": "start_time:asc"}
    if scope == "organization":
        params["organization"] = connection.calendly_organization_uri
    else:
        params["user"] = connection.calendly_user_uri
    return params


class SyncBusy(Exception):
    """A job of this connection is already queued or running: a second one is not started."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        who = f", requested by {run.requested_by}" if run.requested_by else ""
        since = run.started_at if run.status == SyncRun.Status.RUNNING else run.requested_at
        super().__init__(
            f"a sync is already {run.status} (run #{run.pk}: {run.get_trigger_display()}{who}, "
            f"since {since:%Y-%m-%d %H:%M} UTC); not started again"
        )


def run_backfill(
    connection: Connection,
    options: BackfillOptions,
    progress: Callable[[int], object] | None = None,
    job: SyncRun | None = None,
) -> BackfillReport:
    """Page through the window and apply every invitee; push the dirty contacts at the end.

    ``job`` is a row already running (a queued job its runner claimed, or the command's own
    from :func:`start_run`); without one, a row is started here. It continues from the row's
    checkpoint, if it has one.
    """
    started = time.monotonic()
    calendly = calendly_client_for(connection)
    brevo = None if options.dry_run else brevo_client_for(connection)
    identify_stats: dict[str, int] = {}
    if not connection.calendly_user_uri:
        identify(connection, calendly, activate=True)
        alias(f"connection:{connection.pk}", connection.calendly_user_uri)
        identify_stats = dict(calendly.stats)
        # Now that the Calendly user is known, use the limiter shared by every client of that user.
        calendly = calendly_client_for(connection)
    brevo_before = brevo.stats.as_dict() if brevo else {}  # the client is shared: count this run's calls only
    event_type_uri = resolve_event_type(connection, calendly, options.event_type) if options.event_type else None

    run = job if job is not None else start_run(connection, options)
    # Resume from the counts as of the checkpoint: work after it is redone, so it is counted again.
    counts: dict[str, Any] = dict(run.checkpoint.get("counts") or {})
    for key in ("events", "invitees", "pages", "automation_events", "malformed"):
        counts.setdefault(key, 0)
    warnings: list[str] = []
    since, until = run.since, run.until
    scope = run.checkpoint.get("scope") or "organization"
    touched: set[str] = set(run.checkpoint.get("touched_emails_sample", []))
    rules = Rules.load(connection)
    dry_writes: list[dict[str, Any]] = []

    def work() -> None:
        nonlocal scope
        assert since is not None and until is not None  # _start_run gives every run its window
        page_token = run.checkpoint.get("page_token")
        if run.checkpoint.get("done"):
            return
        while True:
            try:
                pages = calendly.iter_pages(
                    "/scheduled_events", _event_params(connection, since, until, scope), page_token=page_token
                )
                first = next(pages, None)
            except CalendlyPermissionError:
                if scope == "organization":
                    scope = "user"
                    warnings.append(
                        "The token's user is not an organization admin: syncing only their own "
                        "events (user scope). Use an admin's token to include colleagues' bookings."
                    )
                    continue
                raise
            break
        page = first
        with ThreadPoolExecutor(max_workers=INVITEE_WORKERS, thread_name_prefix="invitees") as pool:

            def fetch(page: Page | None) -> list[tuple[dict[str, Any], Future[list[dict[str, Any]]]]]:
                """Start fetching a page's invitees (the pool works on them while the caller applies)."""
                if page is None:
                    return []
                chosen = [e for e in page.items if not event_type_uri or e.get("event_type") == event_type_uri]
                return [(e, pool.submit(lambda uri: list(calendly.list_invitees(uri)), e["uri"])) for e in chosen]

            def ahead() -> tuple[Page | None, list[tuple[dict[str, Any], Future[list[dict[str, Any]]]]]]:
                following = next(pages, None)
                return following, fetch(following)

            fetching = fetch(page)
            try:
                while page is not None:
                    # The next page and its invitees are fetched while this one is applied, by the
                    # same workers (so no more requests are in flight than the limiter allows for):
                    # Calendly's rate limit, not the database work, sets the pace.
                    following_future = pool.submit(ahead) if page.next_page_token else None
                    for event, future in fetching:
                        invitees = future.result()
                        counts["events"] += 1
                        observed: list[tuple[Observation, str | None]] = []
                        for invitee in invitees:
                            counts["invitees"] += 1
                            try:
                                observed.append((observe_invitee(invitee, event, source="backfill"), None))
                            except MalformedPayload as exc:
                                counts["malformed"] += 1
                                warnings.append(f"skipped invitee {invitee.get('uri', '?')}: {exc}")
                        # An event's invitees go through the same batched apply path as webhook deliveries.
                        for result in ingest(
                            connection,
                            observed,
                            rules=rules,
                            with_events=options.with_events,
                            sync_run=run if run.pk else None,
                        ):
                            if result.suppressed:  # an erased invitee's earlier booking (forget_invitee)
                                counts["erased"] = counts.get("erased", 0) + 1
                                continue
                            counts["automation_events"] += len(result.events_queued)
                            touched.add(result.email)
                        if progress:
                            progress(1)
                    counts["pages"] += 1
                    page_token = page.next_page_token
                    _checkpoint(
                        run,
                        counts,
                        {
                            "page_token": page_token,
                            "scope": scope,
                            "done": page_token is None,
                            "counts": dict(counts),
                            # how far into the window (events come sorted by start time): the admin's progress
                            "position": page.items[-1].get("start_time") if page.items else None,
                        },
                    )
                    page, fetching = following_future.result() if following_future else (None, [])
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # a crash does not wait for the page ahead
                raise

    try:
        if options.dry_run:
            with transaction.atomic():
                work()
                summary = push_dirty(
                    connection, None, attribute_types=rules.attribute_types, emails=touched, dry_run=True
                )
                dry_writes = summary.dry_run_writes
                counts["contacts_unchanged"] = len(touched) - len(
                    {w.get("POST /contacts", {}).get("email") for w in dry_writes} - {None}
                )
                counts["contacts_would_write"] = len(touched) - counts["contacts_unchanged"]
                transaction.set_rollback(True)
            run = SyncRun.objects.create(
                connection=connection,
                status=SyncRun.Status.COMPLETED,
                dry_run=True,
                trigger=options.trigger,
                since=since,
                until=until,
            )
            summary = PushSummary()
        else:
            work()
            _checkpoint(run, counts, {**run.checkpoint, "phase": "pushing"})
            dirty_before = set(
                Contact.objects.filter(connection=connection, dirty=True).values_list("email", flat=True)
            )
            summary = push_dirty(
                connection,
                brevo,
                attribute_types=rules.attribute_types,
                sync_run=run,
                bulk_threshold=options.bulk_threshold,
            )
            counts["contacts_unchanged"] = len(touched - dirty_before)
    except BaseException as exc:
        counts["seconds"] = counts.get("seconds", 0) + time.monotonic() - started
        _finish(
            run,
            SyncRun.Status.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else SyncRun.Status.FAILED,
            counts,
            error=f"{type(exc).__name__}: {exc}",
        )
        raise

    counts["contacts_created"] = counts.get("contacts_created", 0) + summary.created
    counts["contacts_updated"] = counts.get("contacts_updated", 0) + summary.updated
    counts["contacts_failed"] = counts.get("contacts_failed", 0) + summary.failed
    counts["contacts_retry"] = summary.retry
    counts["events_sent"] = counts.get("events_sent", 0) + summary.events_sent
    counts["warnings"] = summary.warnings + len(warnings)
    counts["calendly_calls"] = (
        counts.get("calendly_calls", 0) + calendly.stats.get("calls", 0) + identify_stats.get("calls", 0)
    )
    brevo_after = brevo.stats.as_dict() if brevo else {}
    brevo_calls = brevo_after.get("calls", 0) - brevo_before.get("calls", 0)
    brevo_429 = brevo_after.get("rate_limited", 0) - brevo_before.get("rate_limited", 0)
    counts["brevo_calls"] = counts.get("brevo_calls", 0) + brevo_calls
    counts["rate_limited"] = (
        counts.get("rate_limited", 0)
        + calendly.stats.get("rate_limited", 0)
        + identify_stats.get("rate_limited", 0)
        + brevo_429
    )
    counts["seconds"] = counts.get("seconds", 0) + time.monotonic() - started
    _finish(run, SyncRun.Status.COMPLETED, counts, error="\n".join(warnings))
    if not options.dry_run:
        Connection.objects.filter(pk=connection.pk).update(last_synced_at=timezone.now())
        connection.record_working(brevo=False)
    return BackfillReport(run=run, counts=counts, dry_run_writes=dry_writes, warnings=warnings)


def abandon_run(run: SyncRun, exc: BaseException) -> None:
    """The command's run ended before its work began (an unknown event type, an expired token):
    it is failed at once with the reason, never left ``running`` for the stale-job recovery to queue."""
    status = SyncRun.Status.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else SyncRun.Status.FAILED
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=status, error=f"{type(exc).__name__}: {exc}"[:10000], finished_at=timezone.now()
    )


def start_run(connection: Connection, options: BackfillOptions, runner: str = "") -> SyncRun:
    """The row of a run in the foreground (the command): new, or with ``resume`` the last unfinished one.

    Refused (:class:`SyncBusy`) while another job of the connection runs: the database allows one
    running row per connection. A dry run gets its row only after its rollback.
    """
    recover_stale()  # a job whose process died must not block this one
    if options.resume and not options.dry_run:
        run = (
            SyncRun.objects.filter(connection=connection, dry_run=False)
            .exclude(status__in=[SyncRun.Status.COMPLETED, SyncRun.Status.QUEUED])
            .order_by("-started_at")
            .first()
        )
        if run is not None:
            if run.status == SyncRun.Status.RUNNING and not is_stale(run):
                raise SyncBusy(run)
            run.status = SyncRun.Status.RUNNING
            run.error = ""
            run.runner = runner
            run.heartbeat_at = timezone.now()
            _save_running(run, ["status", "error", "runner", "heartbeat_at"])
            return run
    since, until = default_window(connection)
    since = options.since or since
    until = options.until or until
    if options.dry_run:  # the real row is written after the rollback
        return SyncRun(connection=connection, since=since, until=until, dry_run=True, checkpoint={}, counts={})
    run = SyncRun(
        connection=connection,
        status=SyncRun.Status.RUNNING,
        since=since,
        until=until,
        trigger=options.trigger,
        options={"event_type": options.event_type, "with_events": options.with_events},
        checkpoint={},
        counts={},
        runner=runner,
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    _save_running(run)
    return run


def _save_running(run: SyncRun, fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            run.save(update_fields=fields)  # None: every field (a new row)
    except IntegrityError:  # one_running_sync_per_connection
        active = _active_run(run.connection)
        if active is None:
            raise
        raise SyncBusy(active) from None


def _active_run(connection: Connection) -> SyncRun | None:
    return (
        SyncRun.objects.filter(connection=connection, status__in=SyncRun.ACTIVE)
        .order_by("-status", "requested_at")  # running before queued
        .first()
    )


def _queue(connection: Connection, run: SyncRun) -> SyncRun:
    """Store a queued job and hand it over after the commit; :class:`SyncBusy` if one is active."""
    for resumed in recover_stale():  # a job whose process died: queued again to resume, and handed over
        job_queued(resumed)
    active = _active_run(connection)
    if active is not None:
        raise SyncBusy(active)
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:  # one_queued_sync_per_connection_trigger: the same request, an instant earlier
        active = _active_run(connection)
        if active is None:
            raise
        raise SyncBusy(active) from None
    job_queued(run.pk)
    return run


def queue_sync(connection: Connection, *, requested_by: str = "") -> SyncRun:
    """The admin's "Sync now": a backfill of the default window, as a background job."""
    since, until = default_window(connection)
    return _queue(
        connection,
        SyncRun(
            connection=connection,
            status=SyncRun.Status.QUEUED,
            trigger=SyncRun.Trigger.ADMIN,
            requested_by=requested_by,
            since=since,
            until=until,
            options={"event_type": None, "with_events": False},
        ),
    )


def queue_resync(connection: Connection, *, requested_by: str = "") -> SyncRun:
    """The admin's "Recompute and resend every contact", as a background job."""
    return _queue(
        connection,
        SyncRun(
            connection=connection,
            status=SyncRun.Status.QUEUED,
            trigger=SyncRun.Trigger.RESYNC,
            requested_by=requested_by,
        ),
    )


def queue_gap_backfill(connection: Connection, since: datetime) -> SyncRun:
    """What a recreated subscription missed, as a background job (with automation events).

    Never refused: a gap is data Calendly will not send again. It waits for a job already running,
    and a gap backfill already queued for the connection is widened to cover this gap too.
    """
    for _ in range(3):
        waiting = SyncRun.objects.filter(
            connection=connection, status=SyncRun.Status.QUEUED, trigger=SyncRun.Trigger.GAP_BACKFILL
        ).first()
        if waiting is not None:
            if waiting.since is None or since < waiting.since:
                SyncRun.objects.filter(pk=waiting.pk, status=SyncRun.Status.QUEUED).update(since=since)
            if SyncRun.objects.filter(pk=waiting.pk, status=SyncRun.Status.QUEUED).exists():
                return waiting
            continue  # taken by a runner meanwhile: queue a new one
        run = SyncRun(
            connection=connection,
            status=SyncRun.Status.QUEUED,
            trigger=SyncRun.Trigger.GAP_BACKFILL,
            since=since,
            until=default_window(connection)[1],
            options={"event_type": None, "with_events": True},
        )
        try:
            with transaction.atomic():
                run.save()
        except IntegrityError:  # another gap backfill was queued an instant earlier: widen that one
            continue
        job_queued(run.pk)
        return run
    raise RuntimeError(f"{connection.name}: could not queue the gap backfill since {since:%Y-%m-%d %H:%M}")


@executor
def execute_job(run: SyncRun) -> None:
    """Run a claimed job (the job runner calls this, in a job thread or a Celery task; it records a failure)."""
    if run.trigger == SyncRun.Trigger.RESYNC:
        resync_contacts(run.connection, run)
        return
    options = BackfillOptions(
        since=run.since,
        until=run.until,
        event_type=(run.options or {}).get("event_type"),
        with_events=bool((run.options or {}).get("with_events")),
        trigger=run.trigger,
    )
    run_backfill(run.connection, options, job=run)


def resync_contacts(connection: Connection, run: SyncRun) -> None:
    """Recompute every contact's Brevo state from its bookings and send every one again."""
    started = time.monotonic()
    counts: dict[str, Any] = {}
    _checkpoint(run, counts, {"phase": "recomputing"})
    try:
        Contact.objects.filter(connection=connection).update(pushed_hash="", desired_hash="")
        counts["contacts_dirty"] = refresh_all_contacts(connection)
        _checkpoint(run, counts, {"phase": "pushing"})
        rules = Rules.load(connection)
        summary = push_dirty(
            connection,
            brevo_client_for(connection),
            attribute_types=rules.attribute_types,
            sync_run=run,
            bulk_threshold=DEFAULT_BULK_THRESHOLD,
        )
    except Exception as exc:
        counts["seconds"] = time.monotonic() - started
        _finish(run, SyncRun.Status.FAILED, counts, error=f"{type(exc).__name__}: {exc}")
        raise
    counts.update(
        contacts_created=summary.created,
        contacts_updated=summary.updated,
        contacts_failed=summary.failed,
        contacts_retry=summary.retry,
        events_sent=summary.events_sent,
        warnings=summary.warnings,
        seconds=time.monotonic() - started,
    )
    _finish(run, SyncRun.Status.COMPLETED, counts)


def _checkpoint(run: SyncRun, counts: dict[str, Any], checkpoint: dict[str, Any]) -> None:
    run.checkpoint = checkpoint
    run.counts = dict(counts)
    run.heartbeat_at = timezone.now()
    if run.pk:
        SyncRun.objects.filter(pk=run.pk).update(
            checkpoint=run.checkpoint, counts=run.counts, heartbeat_at=run.heartbeat_at
        )


def _finish(run: SyncRun, status: str, counts: dict[str, Any], error: str = "") -> None:
    run.status = status
    run.counts = dict(counts)
    run.error = error[:10000]
    run.finished_at = timezone.now()
    if run.pk:
        run.save(update_fields=["status", "counts", "error", "finished_at"])


@receiver(subscription_gap)
def backfill_gap(sender: type, *, connection: Connection, since: datetime, **kwargs: object) -> str:
    """A recreated subscription's gap, queued as a background job like any sync run.

    Queued, never run here: the health check that sends this runs in the drain's thread (or a
    request, for the admin's "Register" action), and a backfill there would hold up deliveries.
    """
    run = queue_gap_backfill(connection, since)
    return f"gap backfill since {since:%Y-%m-%d %H:%M} UTC queued as sync run #{run.pk}"
