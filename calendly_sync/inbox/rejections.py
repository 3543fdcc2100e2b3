"""Requests the webhook endpoint refused: counted in memory, written at most once a minute, and judged.

Why: the endpoint is public. Writing a row (and a log line) for each refused request would let any
stranger turn a flood of junk into a flood of database writes, and a single scanner's request
turned the doctor red for a day. So:

* :class:`RejectionCounter` counts refusals per connection, :class:`RejectionKind` and hour in this
  process, and writes them to :class:`~calendly_sync.models.WebhookRejection` at most once per
  ``FLUSH_INTERVAL`` (the first refusal a process sees is written at once, so it shows up promptly):
  one ``UPDATE`` of the hour's row, or one ``INSERT`` of the new rows, and one log line with the
  counts. Writes happen in the request that finds the interval over (refused or accepted alike) and
  in the embedded worker's loop; counts a process holds when it stops are lost, and at most an
  interval's worth of them.
* :func:`assess` (pure) tells internet noise from a real problem; the doctor reports its verdict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from django.db import DatabaseError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.inbox import arrivals
from calendly_sync.models import Connection, WebhookDelivery, WebhookRejection

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 60.0  # seconds between two writes of a process's counts
MAX_PENDING = 1000  # buckets held between writes; beyond, new ones are counted without their connection
_MAX_ID = 2**63 - 1  # no primary key is larger: a bigger id in a URL names no connection
WINDOW = timedelta(hours=24)  # what the doctor judges
KEY_MISMATCH_MIN = 5  # fewer current-timestamp mismatches than this are noise, whatever their share

#: Anyone can send these: they never fail the doctor.
NOISE = frozenset({RejectionKind.MALFORMED_HEADER, RejectionKind.UNKNOWN_CONNECTION, RejectionKind.BAD_SIGNATURE_OLD})

_LABELS = {
    RejectionKind.MALFORMED_HEADER: "malformed or missing header",
    RejectionKind.UNKNOWN_CONNECTION: "unknown connection",
    RejectionKind.BAD_SIGNATURE: "bad signature with a current timestamp",
    RejectionKind.BAD_SIGNATURE_OLD: "bad signature with an old timestamp",
    RejectionKind.NO_SIGNING_KEY: "no signing key",
    RejectionKind.STALE_TIMESTAMP: "right key, timestamp out of tolerance",
    RejectionKind.AMBIGUOUS: "key shared by several connections",
}

_Bucket = tuple[int | None, str, datetime]  # (connection id, kind, start of the hour)


@dataclass
class _Tally:
    count: int
    first_at: datetime
    last_at: datetime
    last_reason: str

    def add(self, other: _Tally) -> None:
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        if other.last_at >= self.last_at:
            self.last_at, self.last_reason = other.last_at, other.last_reason


class RejectionCounter:
    """This process's refused requests, not yet written (thread-safe; one instance: :data:`counter`)."""

    def __init__(self, interval: float = FLUSH_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[_Bucket, _Tally] = {}
        self._last_flush: float | None = None  # never: the first refusal is written at once
        self._flushing = False

    def record(self, connection_id: int | None, kind: RejectionKind, reason: str) -> None:
        """Count one refused request; write the counts if the interval is over."""
        now = timezone.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        if connection_id is not None and not 0 < connection_id <= _MAX_ID:
            connection_id = None  # a made-up id the database could not even compare
        with self._lock:
            key: _Bucket = (connection_id, kind.value, hour)
            if key not in self._pending and len(self._pending) >= MAX_PENDING:
                key = (None, kind.value, hour)  # random ids in URLs cannot grow this without bound
            tally = self._pending.get(key)
            if tally is None:
                self._pending[key] = _Tally(1, now, now, reason[:300])
            else:
                tally.add(_Tally(1, now, now, reason[:300]))
        self.flush_if_due()

    def pending(self) -> int:
        """Refusals counted and not written yet."""
        with self._lock:
            return sum(t.count for t in self._pending.values())

    def flush_if_due(self) -> int:
        """Write the counts if there are any and the last write is ``interval`` seconds old."""
        with self._lock:
            due = self._last_flush is None or self.clock() - self._last_flush >= self.interval
            if not (due and self._pending) or self._flushing:
                return 0
        return self.flush()

    def flush(self) -> int:
        """Write the counts now; returns how many refusals were written. Never raises for the
        database: on an error the counts are kept for the next write."""
        with self._lock:
            if not self._pending or self._flushing:
                return 0
            batch, self._pending = self._pending, {}
            self._flushing = True
            self._last_flush = self.clock()
        try:
            _write(batch)
        except DatabaseError as exc:
            with self._lock:
                for key, tally in batch.items():
                    if key in self._pending:
                        tally.add(self._pending[key])
                    self._pending[key] = tally
            log.warning("could not write the counts of refused webhook requests (kept for later): %s", exc)
            return 0
        finally:
            with self._lock:
                self._flushing = False
        _log(batch)
        return sum(t.count for t in batch.values())

    def reset(self) -> None:
        """Forget the counts and the last write (tests)."""
        with self._lock:
            self._pending.clear()
            self._last_flush = None


counter = RejectionCounter()


def _write(batch: Mapping[_Bucket, _Tally]) -> None:
    ids = {cid for cid, _, _ in batch if cid is not None}
    existing = set(Connection.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    merged: dict[_Bucket, _Tally] = {}
    for (cid, kind, hour), tally in batch.items():
        key = (cid if cid in existing else None, kind, hour)  # a deleted (or made-up) connection: none
        if key in merged:
            merged[key].add(tally)
        else:
            merged[key] = _Tally(tally.count, tally.first_at, tally.last_at, tally.last_reason)
    match = Q()
    for cid, kind, hour in merged:
        match |= Q(connection_id=cid, kind=kind, hour=hour)
    with transaction.atomic():
        rows: dict[_Bucket, int] = {}
        for row_id, cid, kind, hour in (
            WebhookRejection.objects.filter(match).order_by("pk").values_list("pk", "connection_id", "kind", "hour")
        ):
            rows.setdefault((cid, kind, hour), row_id)  # another process may have inserted the same hour: add to one
        new: list[WebhookRejection] = []
        for key, tally in merged.items():
            pk = rows.get(key)
            if pk is None:
                cid, kind, hour = key
                new.append(
                    WebhookRejection(
                        connection_id=cid,
                        kind=kind,
                        hour=hour,
                        count=tally.count,
                        first_at=tally.first_at,
                        last_at=tally.last_at,
                        last_reason=tally.last_reason,
                    )
                )
            else:
                WebhookRejection.objects.filter(pk=pk).update(
                    count=F("count") + tally.count, last_at=tally.last_at, last_reason=tally.last_reason
                )
        if new:
            WebhookRejection.objects.bulk_create(new)


def _log(batch: Mapping[_Bucket, _Tally]) -> None:
    """One line per write, never one per request: warning when something is not noise."""
    by_target: dict[str, list[str]] = {}
    for (cid, kind, _), tally in sorted(batch.items(), key=lambda item: (item[0][0] or 0, item[0][1])):
        target = f"connection {cid}" if cid is not None else "no connection"
        by_target.setdefault(target, []).append(f"{tally.count} × {kind}")
    latest = max(batch.values(), key=lambda t: t.last_at)
    total = sum(t.count for t in batch.values())
    level = logging.INFO if all(kind in NOISE for _, kind, _ in batch) else logging.WARNING
    log.log(
        level,
        "refused %d webhook request(s) since %s: %s; last: %s",
        total,
        f"{min(t.first_at for t in batch.values()):%H:%M:%S}",
        "; ".join(f"{target}: {', '.join(parts)}" for target, parts in by_target.items()),
        latest.last_reason,
    )


# --- reading and judging --------------------------------------------------------------------


@dataclass(frozen=True)
class RejectionSummary:
    """What the endpoint refused and accepted for one connection (or for none) over a window."""

    counts: Mapping[str, int] = field(default_factory=dict)
    last_at: Mapping[str, datetime] = field(default_factory=dict)
    last_reason: Mapping[str, str] = field(default_factory=dict)
    accepted: int = 0
    last_accepted_at: datetime | None = None

    def count(self, *kinds: RejectionKind) -> int:
        return sum(self.counts.get(kind.value, 0) for kind in kinds)


def summarize(connection: Connection | None, now: datetime | None = None) -> RejectionSummary:
    """Refusals and accepted deliveries over the last ``WINDOW``; this process's counts included.

    ``connection=None``: the requests no connection could be told for; accepted then counts every
    connection's deliveries (the URL without an id routes to any of them).
    """
    counter.flush()
    since = (now or timezone.now()) - WINDOW
    rows = WebhookRejection.objects.filter(last_at__gte=since)
    deliveries = WebhookDelivery.objects.filter(received_at__gte=since)
    if connection is None:
        rows = rows.filter(connection__isnull=True)
        last_accepted_at = Connection.objects.aggregate(last=Max("last_delivery_at"))["last"]
    else:
        rows = rows.filter(connection=connection)
        deliveries = deliveries.filter(connection=connection)
        last_accepted_at = (
            Connection.objects.filter(pk=connection.pk).values_list("last_delivery_at", flat=True).first()
        )
    counts: dict[str, int] = {}
    last_at: dict[str, datetime] = {}
    last_reason: dict[str, str] = {}
    for kind, count, at, reason in rows.values_list("kind", "count", "last_at", "last_reason"):
        counts[kind] = counts.get(kind, 0) + count
        if kind not in last_at or at > last_at[kind]:
            last_at[kind], last_reason[kind] = at, reason
    accepted = deliveries.aggregate(n=Count("id"), last=Max("received_at"))
    return RejectionSummary(
        counts, last_at, last_reason, accepted["n"], arrivals.latest(last_accepted_at, accepted["last"])
    )


def summarize_connections(ids: Sequence[int], now: datetime | None = None) -> dict[int, RejectionSummary]:
    """:func:`summarize` for several connections at once, in two queries (the dashboard's snapshot)."""
    counter.flush()
    since = (now or timezone.now()) - WINDOW
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    last_at: dict[int, dict[str, datetime]] = {pk: {} for pk in ids}
    last_reason: dict[int, dict[str, str]] = {pk: {} for pk in ids}
    rows = WebhookRejection.objects.filter(last_at__gte=since, connection_id__in=ids).values_list(
        "connection_id", "kind", "count", "last_at", "last_reason"
    )
    for pk, kind, count, at, reason in rows:
        counts[pk][kind] = counts[pk].get(kind, 0) + count
        if kind not in last_at[pk] or at > last_at[pk][kind]:
            last_at[pk][kind], last_reason[pk][kind] = at, reason
    accepted = {
        pk: (n, last)
        for pk, n, last in WebhookDelivery.objects.filter(received_at__gte=since, connection_id__in=ids)
        .order_by()
        .values_list("connection_id")
        .annotate(n=Count("id"), last=Max("received_at"))
        .values_list("connection_id", "n", "last")
    }
    marks = dict(Connection.objects.filter(pk__in=ids).values_list("pk", "last_delivery_at"))
    return {
        pk: RejectionSummary(
            counts[pk],
            last_at[pk],
            last_reason[pk],
            accepted.get(pk, (0, None))[0],
            arrivals.latest(marks.get(pk), accepted.get(pk, (0, None))[1]),
        )
        for pk in ids
    }


Level = Literal["OK", "WARN", "FAIL"]


def assess(summary: RejectionSummary) -> tuple[Level, str]:
    """The doctor's rule: internet noise never fails it; a real key or clock problem does.

    Noise is what anyone can send: a missing or malformed header, an unknown connection id, or a
    signature no key verifies on an *old* timestamp (Calendly always signs with its current time).
    A problem is what only Calendly, or a wrong setting here, causes:

    * FAIL (clock) when deliveries were signed with a valid key but refused for their timestamp and
      none was accepted after the last of them: this server's clock is off (or they are replays);
    * FAIL (key) when at least ``KEY_MISMATCH_MIN`` requests with a current timestamp matched no key
      (or found no key), and they are at least as many as the deliveries accepted in the window;
    * FAIL when a key verifies deliveries for several connections (the URL without an id);
    * WARN when clock refusals happened but deliveries were accepted after them;
    * OK otherwise, with the counts by kind as a note.
    """
    stale = summary.count(RejectionKind.STALE_TIMESTAMP)
    mismatched = summary.count(RejectionKind.BAD_SIGNATURE)
    keyless = summary.count(RejectionKind.NO_SIGNING_KEY)
    ambiguous = summary.count(RejectionKind.AMBIGUOUS)
    total = sum(summary.counts.values())
    accepted = f"{summary.accepted} accepted"
    breakdown = ", ".join(
        f"{summary.counts[kind.value]} {_LABELS[kind]}" for kind in RejectionKind if summary.counts.get(kind.value)
    )
    if stale:
        last_stale = summary.last_at[RejectionKind.STALE_TIMESTAMP.value]
        reason = summary.last_reason.get(RejectionKind.STALE_TIMESTAMP.value, "")
        unresolved = summary.last_accepted_at is None or last_stale > summary.last_accepted_at
        if unresolved:
            return (
                "FAIL",
                f"{stale} deliveries signed with the right key were refused for their timestamp in the last "
                f"24 h, none accepted since (last: {reason}): this server's clock is off (or deliveries are "
                "being replayed); set up NTP",
            )
    if mismatched + keyless >= KEY_MISMATCH_MIN and mismatched + keyless >= summary.accepted:
        if keyless:
            return (
                "FAIL",
                f"{keyless + mismatched} signed requests with a current timestamp in the last 24 h, {accepted}, "
                "and no signing key to verify them: set the subscription's signing key, or run "
                "`manage.py calendly_webhooks ensure`",
            )
        return (
            "FAIL",
            f"{mismatched} requests with a current timestamp matched no signing key in the last 24 h, against "
            f"{accepted}: the key is not the one the webhook subscription signs with; set that key, or delete "
            "the subscription and run `manage.py calendly_webhooks ensure` to create one with a new key",
        )
    if ambiguous:
        return (
            "FAIL",
            f"{ambiguous} deliveries to /webhooks/calendly/ verified with a key several connections share: "
            "give each connection its own key or its subscription its own URL (/webhooks/calendly/<id>/)",
        )
    if stale:
        return (
            "WARN",
            f"{stale} deliveries refused for their timestamp in the last 24 h, deliveries accepted since "
            f"({breakdown}; {accepted}): check the clock",
        )
    if not total:
        return "OK", f"no request refused in the last 24 h ({accepted})"
    return "OK", f"{total} refused in the last 24 h, noise ({breakdown}); {accepted}"
