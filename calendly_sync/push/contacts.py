"""Contact projection → Brevo: idempotent upserts, bulk imports, and the automation outbox.

Brevo sees desired state, never a diff, so pushing twice is harmless and every retry is safe.
A contact stays ``dirty`` until Brevo has exactly what we last computed; a transient failure
(429, 5xx, timeout) leaves it dirty with a backoff, so a later pass (worker thread, Celery beat,
``process_deliveries``, ``sync_calendly``) finishes the job.
"""
from __future__ import annotations

import logging
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterable, Iterator

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from calendly_sync.sync import automation
from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import (
    BrevoAuthError,
    BrevoDuplicateIdentifier,
    BrevoError,
    BrevoInvalidPhone,
    BrevoValidationError,
    is_transient,
)
from calendly_sync.models.claims import claim
from calendly_sync.sync.mapping import infer_type
from calendly_sync.models import AutomationEvent, Booking, Connection, Contact, ContactSyncLog, SyncRun

log = logging.getLogger(__name__)

PHONE_ATTRIBUTES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER")
MAX_CONTACT_ATTEMPTS = 12
MAX_EVENT_ATTEMPTS = 12
RESCHEDULE_PAIR_WAIT = timedelta(minutes=10)
STALE_EVENT_CLAIM = timedelta(minutes=10)
PAGE_SIZE = 1000  # contacts read (and imported) at a time: memory stays flat however large the backlog
POLLS_PER_IMPORT = 4  # GET /processes calls one import may take (the poll interval grows 2 s, 3 s, 4.5 s …)
POLL_RESERVE = 10  # of Brevo's hourly "other" budget, kept for everything else
EVENT_BATCH_MIN = 20  # from this many due events on, use POST /events/batch
EVENT_BATCH_SIZE = 100


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min … capped at one hour."""
    base = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(base / 2, base))


@dataclass
class PushSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    retry: int = 0
    warnings: int = 0
    events_sent: int = 0
    events_failed: int = 0
    dry_run_writes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: "PushSummary") -> None:
        for name in ("created", "updated", "unchanged", "failed", "retry", "warnings", "events_sent", "events_failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dry_run_writes.extend(other.dry_run_writes)


def _log(connection: Connection, contact: Contact | None, email: str, action: str, status: str, *,
         message: str = "", http_status: int | None = None, code: str = "", request: dict | None = None,
         sync_run: SyncRun | None = None) -> None:
    ContactSyncLog.objects.create(
        connection=connection, contact=contact, email=email, action=action, status=status, message=message[:4000],
        http_status=http_status, brevo_code=code or "", request=request or {}, sync_run=sync_run,
    )


def _mark_pushed(contact: Contact, digest: str, *, brevo_id: int | None = None) -> None:
    """Record what Brevo now holds; still dirty if the projection moved on meanwhile."""
    updates: dict[str, Any] = {
        "pushed_hash": digest,
        "dirty": Case(When(desired_hash=digest, then=Value(False)), default=Value(True)),
        "last_pushed_at": timezone.now(),
        "last_error": "",
        "attempts": 0,
        "next_attempt_at": None,
    }
    if brevo_id:
        updates["brevo_id"] = brevo_id
    Contact.objects.filter(pk=contact.pk).update(**updates)


def mark_pushed_many(pushed: dict[int, str]) -> None:
    """:func:`_mark_pushed` for many contacts (pk → the hash Brevo now holds), in one statement.

    ``WHERE (id, desired_hash) IN (…)`` keeps it exact: a contact whose projection moved on
    meanwhile is not matched, and is recorded on its own as pushed but still dirty.
    """
    if not pushed:
        return
    from calendly_sync.models.claims import supports_returning

    if not supports_returning(db_connection.alias):  # pragma: no cover - SQLite before 3.35
        for pk, digest in pushed.items():
            _mark_pushed(Contact(pk=pk), digest)
        return
    ops = db_connection.ops
    table = ops.quote_name(Contact._meta.db_table)
    col = {name: ops.quote_name(Contact._meta.get_field(name).column)
           for name in ("id", "desired_hash", "pushed_hash", "dirty", "last_pushed_at", "last_error",
                        "attempts", "next_attempt_at")}
    now = ops.adapt_datetimefield_value(timezone.now())
    done: set[int] = set()
    items = list(pushed.items())
    with db_connection.cursor() as cursor:
        for start in range(0, len(items), 400):  # 2 parameters a row: under every backend's limit
            chunk = items[start:start + 400]
            cursor.execute(
                f"UPDATE {table} SET {col['pushed_hash']} = {col['desired_hash']}, {col['dirty']} = %s, "
                f"{col['last_pushed_at']} = %s, {col['last_error']} = '', {col['attempts']} = 0, "
                f"{col['next_attempt_at']} = NULL "
                f"WHERE ({col['id']}, {col['desired_hash']}) IN ({', '.join(['(%s, %s)'] * len(chunk))}) "
                f"RETURNING {col['id']}",
                [False, now, *(value for pair in chunk for value in pair)])
            done.update(row[0] for row in cursor.fetchall())
    for pk, digest in items:
        if pk not in done:
            _mark_pushed(Contact(pk=pk), digest)


def _mark_retry(contact: Contact, error: str) -> None:
    attempts = contact.attempts + 1
    Contact.objects.filter(pk=contact.pk).update(
        attempts=attempts, last_error=error[:2000], next_attempt_at=timezone.now() + retry_delay(attempts))


def _mark_failed(contact: Contact, error: str) -> None:
    """A rejection that retrying cannot fix: visible in the admin, re-dirtied by a config change or resync."""
    Contact.objects.filter(pk=contact.pk, desired_hash=contact.desired_hash).update(dirty=False, last_error=error[:2000])
    Contact.objects.filter(pk=contact.pk).exclude(desired_hash=contact.desired_hash).update(last_error=error[:2000])


def _rejected_attribute(err: BrevoError, attributes: dict[str, Any]) -> str | None:
    """Which of our attributes a validation error is about, when it names one."""
    if isinstance(err, BrevoInvalidPhone) or (
        isinstance(err, BrevoDuplicateIdentifier) and any(i.upper() in PHONE_ATTRIBUTES for i in err.identifiers)
    ):
        for name in PHONE_ATTRIBUTES:
            if name in attributes:
                return name
    text = f"{err.message} {err.metadata}".upper()
    for name in attributes:
        if name.upper() in text:
            return name
    return None


def push_contact(connection: Connection, contact: Contact, client: BrevoClient | None, *,
                 dry_run: bool = False, sync_run: SyncRun | None = None) -> str:
    """Upsert one contact's desired state. Returns created|updated|unchanged|retry|failed|dry_run.

    The contact's row stays locked from reading its desired state until the result is recorded,
    so two workers never race: without it, an older state could reach Brevo last while the row
    says the newer one was pushed.
    """
    if dry_run:
        return "dry_run"
    with locked_contacts([contact.pk]) as rows:
        if not rows:
            return "unchanged"
        return _push_locked(connection, rows[0], client, sync_run)


_STRIPES = [threading.Lock() for _ in range(256)]


@contextmanager
def locked_contacts(pks: Iterable[int]) -> Iterator[list[Contact]]:
    """Fresh rows of these contacts, locked until the block ends.

    PostgreSQL: ``SELECT … FOR UPDATE`` in a transaction (across processes). SQLite (the embedded
    single-process mode) has no row locks, and a transaction held across an HTTP call would block
    the webhook endpoint's writes, so there a per-process lock stripe stands in.
    """
    ids = sorted(set(pks))
    if db_connection.vendor == "sqlite":
        stripes = sorted({pk % len(_STRIPES) for pk in ids})
        for i in stripes:
            _STRIPES[i].acquire()
        try:
            yield list(Contact.objects.filter(pk__in=ids).order_by("pk"))
        finally:
            for i in reversed(stripes):
                _STRIPES[i].release()
    else:
        with transaction.atomic():
            yield list(Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def _push_locked(connection: Connection, contact: Contact, client: BrevoClient | None,
                 sync_run: SyncRun | None) -> str:
    digest = contact.desired_hash
    if digest and digest == contact.pushed_hash:
        if contact.dirty:
            Contact.objects.filter(pk=contact.pk, desired_hash=digest).update(dirty=False)
        return "unchanged"
    attributes = dict(contact.attributes or {})
    list_ids = list(contact.list_ids or [])
    request = {"email": contact.email, "attributes": attributes, "listIds": list_ids, "updateEnabled": True}
    assert client is not None
    dropped: list[str] = []
    for _ in range(len(attributes) + 1):
        try:
            result = client.upsert_contact(contact.email, attributes=attributes, list_ids=list_ids or None)
            break
        except BrevoValidationError as err:
            bad = _rejected_attribute(err, attributes)
            if bad is None:
                _log(connection, contact, contact.email, "upsert", ContactSyncLog.Status.ERROR, message=err.message,
                     http_status=err.status, code=err.code or "", request=request, sync_run=sync_run)
                _mark_failed(contact, str(err))
                return "failed"
            _log(connection, contact, contact.email, "upsert", ContactSyncLog.Status.WARNING,
                 message=f"Brevo rejected {bad}={attributes[bad]!r} ({err.message}); retrying without it.",
                 http_status=err.status, code=err.code or "", request=request, sync_run=sync_run)
            dropped.append(bad)
            attributes.pop(bad)
            request["attributes"] = attributes
        except BrevoAuthError:
            raise
        except BrevoError as err:
            if is_transient(err):
                _log(connection, contact, contact.email, "upsert", ContactSyncLog.Status.RETRY, message=str(err),
                     http_status=err.status, code=err.code or "", request=request, sync_run=sync_run)
                _mark_retry(contact, str(err))
                return "retry"
            _log(connection, contact, contact.email, "upsert", ContactSyncLog.Status.ERROR, message=str(err),
                 http_status=err.status, code=err.code or "", request=request, sync_run=sync_run)
            _mark_failed(contact, str(err))
            return "failed"
    else:  # pragma: no cover - every attribute rejected
        _mark_failed(contact, "Brevo rejected every attribute")
        return "failed"

    if contact.unlink_list_ids:
        try:
            client.update_contact(contact.email, unlink_list_ids=list(contact.unlink_list_ids))
        except BrevoError as err:
            if is_transient(err):
                _mark_retry(contact, str(err))
                return "retry"
            _log(connection, contact, contact.email, "unlink", ContactSyncLog.Status.WARNING, message=str(err),
                 http_status=err.status, code=err.code or "", sync_run=sync_run)
    outcome = "created" if result.created else "updated"
    status = ContactSyncLog.Status.WARNING if dropped else ContactSyncLog.Status.OK
    message = f"{outcome}" + (f"; sent without {', '.join(dropped)}" if dropped else "")
    _log(connection, contact, contact.email, "upsert", status, message=message,
         http_status=201 if result.created else 204, request=request, sync_run=sync_run)
    _mark_pushed(contact, digest, brevo_id=result.id)
    return outcome


def due_contacts(connection: Connection, emails: Iterable[str] | None = None):  # type: ignore[no-untyped-def]
    now = timezone.now()
    qs = Contact.objects.filter(connection=connection, dirty=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    if emails is not None:
        qs = qs.filter(email__in=list(emails))
    return qs.order_by("id")


def push_dirty(connection: Connection, client: BrevoClient | None, *, emails: Iterable[str] | None = None,
               dry_run: bool = False, sync_run: SyncRun | None = None, bulk_threshold: int | None = None,
               progress: Callable[[int], None] | None = None) -> PushSummary:
    """Push every due dirty contact (in bulk above ``bulk_threshold``), then its pending events."""
    summary = PushSummary()
    qs = due_contacts(connection, emails) if connection.sync_contacts else Contact.objects.none()
    total = qs.count()
    if client is not None and total and not dry_run:
        ensure_attributes(connection, client)
    if dry_run:
        for c in qs.iterator(chunk_size=PAGE_SIZE):
            summary.dry_run_writes.append({"POST /contacts": {"email": c.email, "attributes": c.attributes,
                                                              "listIds": c.list_ids, "updateEnabled": True}})
            if c.unlink_list_ids:
                summary.dry_run_writes.append({"PUT /contacts/{email}": {"email": c.email,
                                                                         "unlinkListIds": c.unlink_list_ids}})
        return summary
    bulk = bulk_threshold is not None and total >= bulk_threshold
    if bulk and client is not None:
        from calendly_sync.push.bulk import IMPORT_CHUNK

        polls_needed = POLLS_PER_IMPORT * -(-total // IMPORT_CHUNK) + POLL_RESERVE
        left = client.other_budget.left()
        if left is not None and left < polls_needed:
            # Brevo allows 100 calls an hour outside /contacts and /events, and following an
            # import takes some: with too few left, single upserts (10/s) beat a 429 that waits an hour.
            log.info("connection %s: %d contacts go one by one, not by import: %d of Brevo's hourly "
                     "/processes budget left, %d needed", connection.name, total, left, polls_needed)
            bulk = False
    last_pk = 0
    while True:  # in pages of primary keys: memory stays flat however large the backlog
        page = list(qs.filter(pk__gt=last_pk).order_by("pk")[:PAGE_SIZE])
        if not page:
            break
        last_pk = page[-1].pk
        if bulk:
            from calendly_sync.push.bulk import import_contacts

            page = import_contacts(connection, client, page, summary, sync_run=sync_run, progress=progress)
        for contact in page:
            outcome = push_contact(connection, contact, client, sync_run=sync_run)
            if outcome in ("created", "updated", "unchanged"):
                setattr(summary, outcome, getattr(summary, outcome) + 1)
            elif outcome == "retry":
                summary.retry += 1
            elif outcome == "failed":
                summary.failed += 1
            if progress:
                progress(1)
    summary.warnings = ContactSyncLog.objects.filter(
        connection=connection, status=ContactSyncLog.Status.WARNING, sync_run=sync_run).count() if sync_run else 0
    sent, failed = send_due_events(connection, client, emails=emails)
    summary.events_sent += sent
    summary.events_failed += failed
    return summary


_attribute_cache: dict[tuple[int, str], set[str]] = {}
_attribute_lock = threading.Lock()  # pushers of one drain run in threads: list and create once, not per thread


def ensure_attributes(connection: Connection, client: BrevoClient, *, dry_run: bool = False,
                      force: bool = False) -> tuple[list[str], list[str]]:
    """Create the custom attributes the mapping names that Brevo lacks. Returns (existing, created)."""
    wanted: dict[str, str] = {}
    from calendly_sync.sync.projection import Rules

    for rule in Rules.load(connection).field_rules:
        kind = infer_type(rule.attribute, rule.attribute_type)
        if rule.source == "email" or rule.attribute.upper() == "EMAIL":
            continue
        wanted[rule.attribute] = {"date": "date", "float": "float", "boolean": "boolean"}.get(kind, "text")
        if rule.source == "name" and rule.attribute == "FIRSTNAME":
            wanted.setdefault("LASTNAME", "text")
    cache_key = (connection.pk, ",".join(sorted(wanted)))
    with _attribute_lock:
        if not force and not dry_run and cache_key in _attribute_cache:
            return sorted(_attribute_cache[cache_key]), []
        return _ensure_attributes(client, wanted, cache_key, dry_run)


def _ensure_attributes(client: BrevoClient, wanted: dict[str, str], cache_key: tuple[int, str],
                       dry_run: bool) -> tuple[list[str], list[str]]:
    existing = {a["name"].upper() for a in client.list_attributes()}
    missing = [name for name in sorted(wanted) if name.upper() not in existing]
    if not dry_run:
        for name in missing:
            try:
                client.create_attribute(name, type=wanted[name])
            except BrevoValidationError as err:  # created meanwhile by someone else
                log.info("attribute %s not created: %s", name, err.message)
        _attribute_cache[cache_key] = set(wanted)
    return sorted(n for n in wanted if n.upper() in existing), missing


def _event_bookings(connection: Connection, events: list[AutomationEvent]) -> tuple[dict[str, Booking], dict[str, Booking]]:
    """The bookings the events describe (by invitee URI), and each reschedule's previous half
    (by the new half's URI): two queries for any number of events."""
    uris = {(e.event_properties or {}).get("invitee_uri", "") for e in events} - {""}
    bookings = {b.invitee_uri: b for b in Booking.objects.filter(connection=connection, invitee_uri__in=uris)}
    rescheduled = [bookings[u] for u in uris if u in bookings] if any(
        e.event_name == automation.BOOKING_RESCHEDULED for e in events) else []
    previous: dict[str, Booking] = {}
    if rescheduled:
        by_new = {b.invitee_uri: b for b in rescheduled}  # a cancelled half names its new half …
        by_old = {b.old_invitee_uri: b for b in rescheduled if b.old_invitee_uri}  # … and the new half its old one
        for b in Booking.objects.filter(connection=connection).filter(
                Q(new_invitee_uri__in=list(by_new)) | Q(invitee_uri__in=list(by_old))).order_by("pk"):
            for new in (by_new.get(b.new_invitee_uri), by_old.get(b.invitee_uri)):
                if new is not None:
                    previous.setdefault(new.invitee_uri, b)
    return bookings, previous


def send_due_events(connection: Connection, client: BrevoClient | None, *,
                    emails: Iterable[str] | None = None) -> tuple[int, int]:
    """Send pending automation events whose contact Brevo already has. Returns (sent, failed).

    A handful go one by one; a backlog goes through ``POST /events/batch``.
    """
    if client is None or not connection.sync_events:
        return 0, 0
    now = timezone.now()
    due = (Q(status=AutomationEvent.Status.PENDING, next_attempt_at__isnull=True)
           | Q(status=AutomationEvent.Status.PENDING, next_attempt_at__lte=now)
           # a claim older than this was left by a crashed worker (the event may go out twice then)
           | Q(status=AutomationEvent.Status.SENDING, next_attempt_at__lte=now - STALE_EVENT_CLAIM))
    qs = AutomationEvent.objects.filter(connection=connection).filter(due)
    if emails is not None:
        qs = qs.filter(email__in=list(emails))
    if connection.sync_contacts:
        # The contact must exist in Brevo first, so an automation finds its attributes.
        pushed = Contact.objects.filter(connection=connection, last_pushed_at__isnull=False).values("email")
        qs = qs.filter(email__in=pushed)
    events = list(qs.order_by("event_date", "id"))
    bookings, previous = _event_bookings(connection, events)
    wanted: list[AutomationEvent] = []
    for event in events:
        booking = bookings.get((event.event_properties or {}).get("invitee_uri", ""))
        if booking is None:
            continue  # the observation that names it is not applied yet; try again later
        if event.event_name == automation.BOOKING_RESCHEDULED and booking.invitee_uri not in previous and (
            not booking.old_invitee_uri or now - event.created_at < RESCHEDULE_PAIR_WAIT
        ):
            # Wait for the other half so the event carries the old and the new start; past the wait,
            # send what we know rather than never.
            continue
        wanted.append(event)
    def claimed(chunk: list[AutomationEvent]) -> list[tuple[AutomationEvent, dict[str, Any]]]:
        """Claim a chunk just before sending it (one statement), so two workers never send the same
        event, and no claim waits long enough behind other sends to look abandoned."""
        ids = set(claim(AutomationEvent.objects.filter(pk__in=[e.pk for e in chunk]).filter(due),
                        status=AutomationEvent.Status.SENDING, next_attempt_at=timezone.now()))
        ready = []
        for event in chunk:
            if event.pk in ids:
                booking = bookings[(event.event_properties or {}).get("invitee_uri", "")]
                props = automation.event_properties(booking, previous.get(booking.invitee_uri))
                event_date = event.event_date or booking.invitee_created_at
                ready.append((event, client.build_event(
                    event.event_name, email=event.email, event_properties=props,
                    event_date=automation.iso(event_date))))
        return ready

    sent = failed = 0
    if len(wanted) >= EVENT_BATCH_MIN:
        for start in range(0, len(wanted), EVENT_BATCH_SIZE):
            ready = claimed(wanted[start:start + EVENT_BATCH_SIZE])
            if ready:
                batch_sent, batch_failed = _send_batches(connection, client, ready)
                sent, failed = sent + batch_sent, failed + batch_failed
        return sent, failed
    for event in wanted:
        for event, body in claimed([event]):
            try:
                client.send_event(body["event_name"], email=event.email, event_date=body.get("event_date"),
                                  event_properties=body.get("event_properties"))
            except BrevoAuthError:
                _release([(event, body)])
                raise
            except BrevoError as err:
                failed += _event_failed(connection, event, err)
                continue
            _events_sent(connection, [(event, body)])
            sent += 1
    return sent, failed


def _release(ready: list[tuple[AutomationEvent, dict[str, Any]]]) -> None:
    """Give back claims not sent (the key was rejected): pending again, due at once after a fix."""
    AutomationEvent.objects.filter(pk__in=[e.pk for e, _ in ready], status=AutomationEvent.Status.SENDING).update(
        status=AutomationEvent.Status.PENDING, next_attempt_at=None)


def _events_sent(connection: Connection, items: list[tuple[AutomationEvent, dict[str, Any]]]) -> None:
    """Mark events sent and log them: two statements for any number."""
    if not items:
        return
    AutomationEvent.objects.filter(pk__in=[e.pk for e, _ in items]).update(
        status=AutomationEvent.Status.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="")
    for event, body in items:
        event.event_properties = body.get("event_properties") or {}
    AutomationEvent.objects.bulk_update([e for e, _ in items], ["event_properties"], batch_size=200)
    ContactSyncLog.objects.bulk_create([
        ContactSyncLog(connection=connection, contact=None, email=event.email, action="event",
                       status=ContactSyncLog.Status.OK, message=event.event_name, http_status=204,
                       request={"event_name": event.event_name, "event_properties": body.get("event_properties")})
        for event, body in items])


def _event_failed(connection: Connection, event: AutomationEvent, err: BrevoError | str, transient: bool | None = None) -> int:
    """Back off a transient failure; give up on a rejection. Returns 1 when the event is now failed."""
    attempts = event.attempts + 1
    message = str(err)
    if transient is None:
        transient = is_transient(err) if isinstance(err, BrevoError) else False
    if transient and attempts < MAX_EVENT_ATTEMPTS:
        AutomationEvent.objects.filter(pk=event.pk).update(
            status=AutomationEvent.Status.PENDING, attempts=attempts, last_error=message[:2000],
            next_attempt_at=timezone.now() + retry_delay(attempts))
        gave_up = 0
    else:
        AutomationEvent.objects.filter(pk=event.pk).update(
            attempts=attempts, last_error=message[:2000], status=AutomationEvent.Status.FAILED)
        gave_up = 1
    _log(connection, None, event.email, "event", ContactSyncLog.Status.ERROR if gave_up else ContactSyncLog.Status.RETRY,
         message=message, http_status=getattr(err, "status", None), code=getattr(err, "code", "") or "",
         request={"event_name": event.event_name})
    return gave_up


def _send_batches(connection: Connection, client: BrevoClient,
                  ready: list[tuple[AutomationEvent, dict[str, Any]]]) -> tuple[int, int]:
    sent = failed = 0
    for start in range(0, len(ready), EVENT_BATCH_SIZE):
        chunk = ready[start:start + EVENT_BATCH_SIZE]
        try:
            report = client.send_events_batch([body for _, body in chunk])
        except BrevoAuthError:
            _release(ready[start:])
            raise
        except BrevoError as err:
            for event, _ in chunk:
                failed += _event_failed(connection, event, err)
            continue
        bad: dict[int, str] = {}
        delivered: list[tuple[AutomationEvent, dict[str, Any]]] = []
        for error in (report or {}).get("errors") or []:
            indexes = error.get("eventIndex")
            for index in indexes if isinstance(indexes, list) else [indexes]:
                if isinstance(index, int):
                    bad[index] = str(error.get("message") or "rejected by Brevo")
        for index, (event, body) in enumerate(chunk):
            if index in bad:
                failed += _event_failed(connection, event, bad[index], transient=False)
            else:
                delivered.append((event, body))
        _events_sent(connection, delivered)
        sent += len(delivered)
    return sent, failed
