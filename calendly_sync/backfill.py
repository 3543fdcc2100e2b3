"""Backfill: page through Calendly's scheduled events and their invitees into the same reducer.

Checkpointed per page of scheduled events: a run killed in the middle resumes from the last page
it finished (``sync_calendly --resume``); everything before the checkpoint is already durable as
Booking/Contact rows, and dirty contacts are pushed by whichever run comes next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from calendly_sync.calendly.client import CalendlyClient, Page
from calendly_sync.calendly.errors import CalendlyPermissionError
from calendly_sync.calendly.ratelimit import alias
from calendly_sync.credentials.clients import brevo_client_for, calendly_client_for, identify
from calendly_sync.inbox.subscriptions import subscription_gap
from calendly_sync.models import Connection, Contact, SyncRun
from calendly_sync.push.contacts import PushSummary, push_dirty
from calendly_sync.sync.observations import MalformedPayload, Observation, observe_invitee
from calendly_sync.sync.projection import Rules, ingest

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
        c = self.counts
        return (
            f"events {c.get('events', 0)}, invitees {c.get('invitees', 0)}, contacts created "
            f"{c.get('contacts_created', 0)} / updated {c.get('contacts_updated', 0)} / unchanged "
            f"{c.get('contacts_unchanged', 0)}, failed {c.get('contacts_failed', 0)}, warnings {c.get('warnings', 0)}, "
            f"automation events {c.get('automation_events', 0)}, Calendly calls {c.get('calendly_calls', 0)}, "
            f"Brevo calls {c.get('brevo_calls', 0)}, 429s {c.get('rate_limited', 0)}, {c.get('seconds', 0):.1f} s"
            + (" (dry run: nothing written)" if self.run.dry_run else "")
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


def run_backfill(
    connection: Connection, options: BackfillOptions, progress: Callable[[int], object] | None = None
) -> BackfillReport:
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

    run = _start_run(connection, options)
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
                            counts["automation_events"] += len(result.events_queued)
                            touched.add(result.email)
                        if progress:
                            progress(1)
                    counts["pages"] += 1
                    page_token = page.next_page_token
                    _checkpoint(
                        run,
                        counts,
                        {"page_token": page_token, "scope": scope, "done": page_token is None, "counts": dict(counts)},
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


def _start_run(connection: Connection, options: BackfillOptions) -> SyncRun:
    if options.resume and not options.dry_run:
        run = (
            SyncRun.objects.filter(connection=connection, dry_run=False)
            .exclude(status=SyncRun.Status.COMPLETED)
            .order_by("-started_at")
            .first()
        )
        if run is not None:
            run.status = SyncRun.Status.RUNNING
            run.error = ""
            run.save(update_fields=["status", "error"])
            return run
    since, until = default_window(connection)
    since = options.since or since
    until = options.until or until
    if options.dry_run:  # the real row is written after the rollback
        return SyncRun(connection=connection, since=since, until=until, dry_run=True, checkpoint={}, counts={})
    return SyncRun.objects.create(
        connection=connection,
        since=since,
        until=until,
        trigger=options.trigger,
        options={"event_type": options.event_type, "with_events": options.with_events},
        checkpoint={},
        counts={},
    )


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
    """A recreated subscription's gap, fetched like any sync run (with automation events)."""
    report = run_backfill(connection, BackfillOptions(since=since, with_events=True, trigger="gap-backfill"))
    return report.summary_line()
