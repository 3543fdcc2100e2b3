"""Observations → Booking rows → Contact projection (+ automation outbox). The DB side of the reducer.

Locking order is always booking, then contact, so concurrent workers (Celery at scale) cannot
deadlock, and the contact projection written is the one computed from the rows as they are while
holding the contact's row lock, after every other writer of that contact has committed: the last
projection sees every booking. A batch is computed before its write transaction and checked in it
(:func:`ingest`, :mod:`calendly_sync.sync.reads`), so the write transaction holds its locks (on
SQLite, the database's one write lock) for the SQL only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Field, Model, Q, Subquery
from django.utils import timezone

from calendly_sync.models import (
    AutomationEvent,
    Booking,
    BookingLink,
    Connection,
    Contact,
    ContactSyncLog,
    EventTypeMapping,
    FieldMapping,
    HeldNumber,
    Suppression,
    SyncRun,
)
from calendly_sync.models.statements import Insert, Statement, bulk_update_statements, insert_statements
from calendly_sync.sync import automation, links, mapping, reducer, sms
from calendly_sync.sync.observations import Observation
from calendly_sync.sync.reads import Reads

log = logging.getLogger(__name__)

_STATE_FIELDS = [f.name for f in fields(reducer.BookingState) if f.name not in ("invitee_uri", "data_rank")]


@dataclass
class Rules:
    """A connection's mapping configuration, loaded once per batch of work."""

    field_rules: tuple[mapping.FieldRule, ...]
    list_rules: dict[str, reducer.ListRule]
    default_list_ids: tuple[int, ...]
    sync_cancellations: bool = True

    @classmethod
    def load(cls, connection: Connection) -> Rules:
        rows = FieldMapping.objects.filter(connection=connection, enabled=True).order_by("position", "id")
        field_rules = (
            tuple(mapping.FieldRule(r.source, r.attribute, r.attribute_type) for r in rows) or mapping.DEFAULT_RULES
        )
        list_rules = {
            m.event_type_uri: reducer.ListRule(tuple(int(i) for i in m.list_ids or []), m.unlink_on_cancel)
            for m in EventTypeMapping.objects.filter(connection=connection, enabled=True)
        }
        return cls(
            field_rules,
            list_rules,
            tuple(int(i) for i in connection.default_list_ids or []),
            connection.sync_cancellations,
        )

    @property
    def attribute_types(self) -> dict[str, str]:
        """The Brevo attributes this projection writes, each with the type Brevo must create it with."""
        return mapping.brevo_attribute_types(self.field_rules)


@dataclass
class IngestResult:
    booking_created: bool = False
    booking_changed: bool = False
    contact_dirty: bool = False
    events_queued: list[str] = field(default_factory=list)
    email: str = ""
    suppressed: bool = False  # an erased person's booking made before the erasure: not applied


def state_from_row(row: Booking) -> reducer.BookingState:
    values = {name: getattr(row, name) for name in _STATE_FIELDS}
    values["questions_and_answers"] = tuple(values.get("questions_and_answers") or ())
    values["tracking"] = dict(values.get("tracking") or {})
    data_rank = None
    if row.calendly_updated_at is not None:
        # Rows only persist the result; the rank of the data source is recoverable from it.
        data_rank = (1 if row.status == "canceled" else 0, row.calendly_updated_at)
    return reducer.BookingState(invitee_uri=row.invitee_uri, data_rank=data_rank, **values)


def _write_state(row: Booking, state: reducer.BookingState) -> None:
    for name in _STATE_FIELDS:
        value = getattr(state, name)
        setattr(row, name, list(value) if name == "questions_and_answers" else value)


def _comparable(state: reducer.BookingState) -> tuple[Any, ...]:
    return tuple(getattr(state, n) for n in _STATE_FIELDS)


MAX_RACES = 3  # attempts when a concurrent writer creates one of the batch's rows first


def ingest(
    connection: Connection,
    items: Sequence[tuple[Observation, str | None]],
    *,
    rules: Rules | None = None,
    with_events: bool = True,
    sync_run: SyncRun | None = None,
) -> list[IngestResult]:
    """Apply observations — (observation, webhook event or None) — in one write transaction.

    The one apply path: a webhook delivery, a batch of them, and a page of backfilled invitees
    all come here. The result is the same as applying them one after another in this order, with a
    handful of statements per batch instead of about twenty per observation: rows are read together
    (bookings, then contacts, always in that order, so concurrent workers cannot deadlock),
    observations are reduced in memory, and the writes go out in bulk.

    The reducing and the projection (most of the work: about 1.5 ms of CPU per observation) are
    computed *before* the write transaction, from rows read without locks, and the transaction
    only checks those rows and writes (:class:`calendly_sync.sync.reads.Reads`): on SQLite the
    database's one write lock, which every webhook acknowledgement needs, is held for the SQL
    alone. The check runs the same queries again under the row locks the computation used to take
    (the bookings, then the contacts) and compares every column: when another writer changed
    one of those rows in between, the batch is computed again under the locks, in the same
    transaction, exactly as before. Either way the contact projection written is the one computed
    from the rows as they are under the contacts' row locks, after every other writer of those
    contacts has committed, so the last projection sees every booking.

    If a concurrent writer creates one of the rows first, the batch is rolled back and applied
    again (it then finds and locks that row); after ``MAX_RACES`` attempts the ``IntegrityError``
    is the caller's, who may apply the batch one observation at a time.

    ``sync_run``: the backfill run these observations come from; the mapping warnings they cause
    are logged with it, so the run's summary counts them.
    """
    rules = rules or Rules.load(connection)
    for attempt in range(1, MAX_RACES + 1):
        try:
            return _ingest_once(connection, items, rules, with_events, sync_run)
        except IntegrityError:
            if attempt == MAX_RACES:
                raise
            log.info("connection %s: a row of this batch was created meanwhile; applying it again", connection.name)
    raise AssertionError("unreachable")  # pragma: no cover


def _ingest_once(
    connection: Connection,
    items: Sequence[tuple[Observation, str | None]],
    rules: Rules,
    with_events: bool,
    sync_run: SyncRun | None,
) -> list[IngestResult]:
    if not items:
        return []
    now = timezone.now()
    reads = Reads.recorded()
    results, writes = _plan(connection, items, rules, with_events, sync_run, now, reads)
    writes.prepare()
    with transaction.atomic():
        if not reads.unchanged():
            log.info(
                "connection %s: rows of this batch changed meanwhile; computing it under the locks", connection.name
            )
            results, writes = _plan(connection, items, rules, with_events, sync_run, now, Reads.locked())
        writes.apply()
    return results


@dataclass
class Writes:
    """What one projection writes, computed beforehand; :meth:`apply` only writes, set-based.

    :meth:`prepare` compiles the bulk updates (:mod:`calendly_sync.models.statements`) before the
    write transaction begins: compiling them takes far longer than running them.
    """

    sync_run: SyncRun | None = None
    bookings_created: list[Booking] = field(default_factory=list)
    bookings_updated: list[Booking] = field(default_factory=list)
    events: list[AutomationEvent] = field(default_factory=list)
    links_used: list[BookingLink] = field(default_factory=list)
    contacts_created: list[Contact] = field(default_factory=list)
    contacts_updated: list[Contact] = field(default_factory=list)
    warned: list[tuple[Contact, list[str]]] = field(default_factory=list)
    inserts: list[Insert] | None = None  # the compiled inserts of bookings and events
    updates: list[Statement] | None = None  # the compiled bulk updates

    def prepare(self) -> Writes:
        """Compile the inserts of bookings and events and the bulk updates of bookings, links and
        contacts: the statements ``bulk_create`` and ``bulk_update`` would run. (The new contacts
        and warnings are inserted by ``bulk_create`` in the transaction: they point to rows
        that get their ids there.)"""
        self.inserts = [
            *insert_statements(Booking, self.bookings_created),
            *insert_statements(AutomationEvent, self.events),
        ]
        self.updates = [
            *bulk_update_statements(
                Booking, self.bookings_updated, [*_STATE_FIELDS, "source", "updated_at"], batch_size=200
            ),
            *bulk_update_statements(BookingLink, self.links_used, ["used_at", "used_by"]),
            *bulk_update_statements(
                Contact, self.contacts_updated, _CONTACT_FIELDS, batch_size=200, value_of=_contact_value
            ),
        ]
        return self

    def apply(self) -> None:
        """Write it all (in the caller's transaction): bookings, events, links, contacts, warnings."""
        if self.inserts is None or self.updates is None:
            self.prepare()
        # Bookings, then events: IntegrityError if another worker created one meanwhile.
        for insert in self.inserts or []:
            insert.execute()
        _fill_ids(Booking, self.bookings_created, "invitee_uri")  # a warning's contact needs them later
        for statement in self.updates or []:  # bookings, then links, then the contacts that existed
            statement.execute()
        new = self.contacts_created
        if new:
            Contact.objects.bulk_create(new)  # IntegrityError if another worker created one meanwhile
        _fill_ids(Contact, new, "email")
        if self.warned:
            ContactSyncLog.objects.bulk_create(
                [
                    ContactSyncLog(
                        connection_id=contact.connection_id,
                        contact=contact,
                        email=contact.email,
                        action="mapping",
                        status=ContactSyncLog.Status.WARNING,
                        message="\n".join(warnings),
                        sync_run=self.sync_run,
                    )
                    for contact, warnings in self.warned
                ]
            )


def _contact_value(contact: Model, field: Field[Any, Any]) -> Any:
    """A contact's column for its bulk update; a current booking this batch creates is found by its
    URI (its id exists only once the write transaction inserted it)."""
    if field.name == "current_booking" and isinstance(contact, Contact) and Contact.current_booking.is_cached(contact):
        booking = contact.current_booking  # as the projection set it (no query)
        if booking is None:
            return None
        if booking._state.adding:  # not inserted yet
            return Subquery(
                Booking.objects.filter(connection_id=booking.connection_id, invitee_uri=booking.invitee_uri).values(
                    "pk"
                )[:1]
            )
        return booking.pk
    return getattr(contact, field.attname)


_CONTACT_FIELDS = [
    "attributes",
    "list_ids",
    "unlink_list_ids",
    "booking_status",
    "current_booking",
    "desired_hash",
    "dirty",
    "attempts",
    "next_attempt_at",
    "sms_number",
    "sms_since",
    "updated_at",
]


def _plan(
    connection: Connection,
    items: Sequence[tuple[Observation, str | None]],
    rules: Rules,
    with_events: bool,
    sync_run: SyncRun | None,
    now: datetime,
    reads: Reads,
) -> tuple[list[IngestResult], Writes]:
    """Reduce the observations and project their contacts from what ``reads`` returns; nothing is written."""
    results = [IngestResult(email=obs.email) for obs, _ in items]
    writes = Writes(sync_run=sync_run)
    uris = sorted({obs.invitee_uri for obs, _ in items})
    rows = {
        b.invitee_uri: b
        for b in reads.rows(
            Booking.objects.filter(connection=connection, invitee_uri__in=uris).order_by("pk"), lock=True
        )
    }
    existing = set(rows)
    # After the bookings' lock: an erasure holding it is seen whole (see privacy.erasure).
    skipped = _suppressed(connection, items, reads)
    changed: set[str] = set()
    old_emails: set[str] = set()
    for i, ((obs, _), result) in enumerate(zip(items, results, strict=True)):
        if i in skipped:
            result.suppressed = True
            continue
        row = rows.get(obs.invitee_uri)
        if row is None:
            row = rows[obs.invitee_uri] = Booking(
                connection=connection, invitee_uri=obs.invitee_uri, email=obs.email, source=obs.source
            )
        result.booking_created = row.calendly_updated_at is None
        before = None if result.booking_created else state_from_row(row)
        after = reducer.apply(before, obs)
        if before is None or _comparable(after) != _comparable(before):
            if not result.booking_created and row.email != after.email:
                old_emails.add(row.email)  # the old address's contact loses this booking
            _write_state(row, after)
            if not row.source:
                row.source = obs.source
            row.updated_at = now
            changed.add(obs.invitee_uri)
            result.booking_changed = True
    writes.bookings_created = [rows[uri] for uri in uris if uri in rows and uri not in existing]
    writes.bookings_updated = [rows[uri] for uri in sorted(changed & existing)]

    if with_events and connection.sync_events:
        kept = [i for i in range(len(items)) if i not in skipped]
        writes.events = _queue_events(connection, [items[i] for i in kept], [results[i] for i in kept], rules, reads)

    emails = sorted({row.email for row in rows.values()} | old_emails)
    dirty = _refresh(connection, emails, rules, now, reads, writes, rows) if emails else set()
    for (obs, _), result in zip(items, results, strict=True):
        # The contact this booking now belongs to (an older observation may carry an older email).
        result.contact_dirty = not result.suppressed and rows[obs.invitee_uri].email in dirty
    return results, writes


def _suppressed(connection: Connection, items: Sequence[tuple[Observation, str | None]], reads: Reads) -> set[int]:
    """Positions of the observations an erasure suppresses (one query for the batch)."""
    forgotten = Suppression.forgotten(connection, {obs.email for obs, _ in items}, fetch=reads.values)
    return {
        i
        for i, (obs, _) in enumerate(items)
        if obs.email in forgotten and made_before(obs.created_at, forgotten[obs.email])
    }


def made_before(created_at: datetime | None, forgotten_at: datetime) -> bool:
    """Whether a booking predates its invitee's erasure, so it is never applied again.

    A booking whose creation time is unknown counts as made before: an erased person comes back
    only through a booking Calendly dates after the erasure.
    """
    return created_at is None or created_at < forgotten_at


def _queue_events(
    connection: Connection,
    items: Sequence[tuple[Observation, str | None]],
    results: list[IngestResult],
    rules: Rules,
    reads: Reads,
) -> list[AutomationEvent]:
    """The outbox rows to write for the facts these observations prove (idempotent by fact key)."""
    outbox: dict[str, tuple[AutomationEvent, IngestResult]] = {}
    for (obs, webhook_event), result in zip(items, results, strict=True):
        for event in outbox_rows(connection, obs, webhook_event, rules):
            outbox.setdefault(event.key, (event, result))
    known = set(reads.values(AutomationEvent.objects.filter(key__in=list(outbox)).values_list("key", flat=True)))
    new_events = [event for key, (event, _) in outbox.items() if key not in known]
    for event in new_events:
        outbox[event.key][1].events_queued.append(event.event_name)
    return new_events


def _fill_ids(model: type[Booking] | type[Contact], created: Sequence[Booking] | Sequence[Contact], key: str) -> None:
    """Give inserted rows their ids where the database returned none from a bulk insert (read back
    by their connection and natural key); SQLite and PostgreSQL return them."""
    if not any(obj.pk is None for obj in created):
        return
    values = [getattr(obj, key) for obj in created]
    ids = dict(
        model.objects.filter(connection_id=created[0].connection_id, **{f"{key}__in": values}).values_list(key, "pk")
    )
    for obj in created:
        obj.pk = ids[getattr(obj, key)]


def refresh_contacts(
    connection: Connection,
    emails: list[str],
    rules: Rules,
    now: datetime | None = None,
    *,
    sync_run: SyncRun | None = None,
) -> set[str]:
    """Recompute these contacts' desired state under their row locks; returns the emails now dirty.

    A contact is dirty when its desired state differs from what Brevo last received. Must run in
    a transaction (the caller's), so the row locks last until the bookings it read are committed.
    See :func:`_refresh` for the SMS numbers.
    """
    writes = Writes(sync_run=sync_run)
    dirty = _refresh(connection, emails, rules, now or timezone.now(), Reads.locked(), writes, {})
    writes.apply()
    return dirty


def _refresh(
    connection: Connection,
    emails: list[str],
    rules: Rules,
    now: datetime,
    reads: Reads,
    writes: Writes,
    planned: dict[str, Booking],
) -> set[str]:
    """These contacts' desired state from what ``reads`` returns, into ``writes``; the emails now dirty.

    ``planned``: bookings (by invitee URI) as this projection is about to write them; they stand
    in for their rows as read.

    SMS numbers: each contact claims the number its current booking gives, and of the contacts of
    the connection claiming one number only the one that first booked with it is sent it
    (:mod:`calendly_sync.sync.sms`). The other claimants of the numbers these contacts claim (or
    claimed) are locked with them, in one statement in primary-key order, and re-owned too: one
    that gains or loses a number becomes dirty. A contact that held a number it now loses is sent
    ``SMS: ""`` so that Brevo lets the number go before its new owner is sent it.
    """
    sms_rules = tuple(r for r in rules.field_rules if (r.attribute or "").strip().upper() == sms.SMS)
    others: list[str] = []
    if sms_rules:
        # Which contacts outside this batch share a number with it: read without locks first, so
        # that every row this refresh may write is locked in the one statement below.
        # (A look ahead: not checked in the write transaction, see Reads.rows.)
        first_look = _bookings_of(connection, emails, reads, planned, check=False)
        candidates = {_claimed_number(first_look[e], sms_rules) for e in emails} | set(
            reads.values(
                Contact.objects.filter(connection=connection, email__in=emails)
                .exclude(sms_number="")
                .values_list("sms_number", flat=True),
                check=False,
            )
        )
        candidates.discard(None)
        others = sorted(
            set(
                reads.values(
                    Contact.objects.filter(connection=connection, sms_number__in=list(candidates))
                    .exclude(email__in=emails)
                    .values_list("email", flat=True),
                    check=False,
                )
            )
        )
    locked = {
        c.email: c
        for c in reads.rows(
            Contact.objects.filter(connection=connection, email__in=[*emails, *others]).order_by("pk"), lock=True
        )
    }
    contacts = {email: locked[email] for email in emails if email in locked}
    bookings = _bookings_of(connection, emails, reads, planned)
    cleared = _used_booking_links(connection, emails, bookings, now, reads, writes)
    new: list[Contact] = []
    updated: list[Contact] = []
    warned: list[tuple[Contact, list[str]]] = []
    states: dict[str, tuple[dict[str, Any], list[str], Booking | None, str]] = {}
    claims: dict[str, sms.SmsClaim] = {}
    for email in emails:
        desired, warnings, current, status = desired_state_of(bookings[email], rules)
        if current is not None and email in cleared:  # a used booking link: a campaign must not send it again
            desired["attributes"] = dict(sorted({**desired["attributes"], **dict.fromkeys(cleared[email], "")}.items()))
        states[email] = (desired, warnings, current, status)
        number = desired["attributes"].get(sms.SMS)
        if sms_rules and isinstance(number, str) and number:
            claims[email] = sms.SmsClaim(email, number, _claimed_since(bookings[email], number, sms_rules, now))
    owner_of: dict[str, str] = {}
    held: set[str] = set()
    if sms_rules:
        old_numbers = {c.sms_number for c in contacts.values() if c.sms_number}
        numbers = {c.number for c in claims.values()} | old_numbers
        rivals = [
            locked.get(c.email, c)
            for c in reads.rows(
                Contact.objects.filter(connection=connection, sms_number__in=list(numbers)).exclude(email__in=emails)
            )
        ]
        rival_claims = [sms.SmsClaim(c.email, c.sms_number, c.sms_since or now) for c in rivals]
        held = set(
            reads.values(
                HeldNumber.objects.filter(connection=connection, number__in=list(numbers)).values_list(
                    "number", flat=True
                )
            )
        )
        owner_of = sms.owners([*claims.values(), *rival_claims], held)
        for rival in rivals:
            row = locked.get(rival.email)
            if row is None:  # appeared since the first look; its own next refresh settles it
                continue
            lost = _own(row, row.sms_number, owner_of, held)
            if _reproject(row, now):
                updated.append(row)
                if lost:
                    warned.append((row, [lost]))
    for email in emails:
        contact = contacts.get(email)
        if contact is None:
            contact = Contact(connection=connection, email=email)
            new.append(contact)
        else:
            updated.append(contact)
        desired, warnings, current, status = states[email]
        claim = claims.get(email)
        old_sms = (contact.attributes or {}).get(sms.SMS)
        if claim is not None:
            contact.sms_number, contact.sms_since = claim.number, claim.since
            contact.attributes = {**desired["attributes"], sms.SMS: old_sms}
            lost = _own(contact, claim.number, owner_of, held)
            desired = {**desired, "attributes": dict(sorted(contact.attributes.items()))}
            if lost:
                warnings = [*warnings, lost]
        else:
            contact.sms_number, contact.sms_since = "", None
            if old_sms == "" and sms_rules:  # still letting a number go that another contact keeps
                desired = {**desired, "attributes": dict(sorted({**desired["attributes"], sms.SMS: ""}.items()))}
        contact.updated_at = now
        if _project(contact, desired, current, status) and warnings:
            warned.append((contact, warnings))
    writes.contacts_created.extend(new)
    writes.contacts_updated.extend(updated)
    writes.warned.extend(warned)
    return {c.email for c in [*new, *updated] if c.dirty}


def _bookings_of(
    connection: Connection, emails: list[str], reads: Reads, planned: dict[str, Booking], *, check: bool = True
) -> dict[str, list[Booking]]:
    """These emails' bookings, each list in primary-key order (new ones last); ``planned`` ones as
    they are about to be written, in place of their rows as read."""
    bookings: dict[str, list[Booking]] = {email: [] for email in emails}
    for booking in reads.rows(Booking.objects.filter(connection=connection, email__in=emails), check=check):
        if booking.invitee_uri not in planned:
            bookings.setdefault(booking.email, []).append(booking)
    for booking in planned.values():
        if booking.email in bookings:
            bookings[booking.email].append(booking)
    for rows in bookings.values():
        rows.sort(key=lambda b: (b.pk is None, b.pk or 0))
    return bookings


def _claimed_number(bookings: list[Booking], sms_rules: tuple[mapping.FieldRule, ...]) -> str | None:
    """The SMS number the current one of these bookings gives (E.164), if any."""
    current = reducer.current_booking(bookings)
    if current is None:
        return None
    value = mapping.map_fields(current, sms_rules, booking_status="").attributes.get(sms.SMS)
    return value if isinstance(value, str) and value else None


def _claimed_since(
    bookings: list[Booking], number: str, sms_rules: tuple[mapping.FieldRule, ...], now: datetime
) -> datetime:
    """When this contact first booked with ``number``: the earliest Calendly creation time of its
    bookings that give it (the current one gives it, so there is at least one)."""
    times = [
        b.invitee_created_at or b.calendly_updated_at
        for b in bookings
        if mapping.map_fields(b, sms_rules, booking_status="").attributes.get(sms.SMS) == number
    ]
    return sms.earliest(times) or now


def _own(contact: Contact, number: str, owner_of: dict[str, str], held: set[str]) -> str | None:
    """Set the contact's SMS attribute by the ownership decision; returns the warning when it loses it.

    The owner is sent the number. Another claimant is sent none, except one that was the owner
    before (or is already letting it go) and has been pushed since it exists: it is sent
    ``SMS: ""`` so Brevo frees the number.
    A number Brevo holds outside the connection is sent to nobody.
    """
    attributes = dict(contact.attributes or {})
    before = attributes.pop(sms.SMS, None)
    if number in held:
        contact.attributes = attributes
        return sms.held_message(number)
    owner = owner_of.get(number)
    if owner == contact.email:
        attributes[sms.SMS] = number
        contact.attributes = attributes
        return None
    if before in (number, "") and contact.pushed_hash:  # never pushed: Brevo has nothing to let go
        attributes[sms.SMS] = ""
    contact.attributes = attributes
    return sms.dropped_message(number, owner or "another contact")


def _reproject(contact: Contact, now: datetime) -> bool:
    """After its attributes changed in place (a number gained or lost): rehash; True when it changed.

    The same desired state and hash :func:`_project` computes from the bookings, whose other parts
    (lists, booking) this change leaves as they are.
    """
    contact.attributes = dict(sorted((contact.attributes or {}).items()))
    digest = payload_hash(
        {
            "attributes": contact.attributes,
            "listIds": list(contact.list_ids or []),
            "unlinkListIds": list(contact.unlink_list_ids or []),
        }
    )
    if digest == contact.desired_hash:
        return False
    contact.desired_hash = digest
    contact.dirty = digest != contact.pushed_hash
    if contact.dirty:
        contact.attempts = 0
        contact.next_attempt_at = None
    contact.updated_at = now
    return True


def _used_booking_links(
    connection: Connection,
    emails: list[str],
    bookings: dict[str, list[Booking]],
    now: datetime,
    reads: Reads,
    writes: Writes,
) -> dict[str, list[str]]:
    """Mark the booking links these bookings came through as used (in ``writes``); per email, the
    link attributes to empty.

    One query for the batch: the links issued to these contacts and the ones whose token a booking carries.
    """
    tokens: dict[str, str] = {}
    for rows in bookings.values():
        for booking in rows:
            token = links.link_token(booking.tracking)
            if token:
                tokens.setdefault(token, booking.invitee_uri)
    issued = reads.rows(
        BookingLink.objects.filter(connection=connection)
        .filter(Q(email__in=emails) | Q(token__in=list(tokens)))
        .order_by("created_at", "pk")
    )
    used = []
    for link in issued:
        if link.used_at is None and link.token in tokens:
            link.used_at, link.used_by = now, tokens[link.token]
            used.append(link)
    writes.links_used.extend(used)
    return links.attributes_to_clear((link.email, link.attribute, link.used_at is not None) for link in issued)


def outbox_rows(
    connection: Connection, obs: Observation, webhook_event: str | None, rules: Rules
) -> list[AutomationEvent]:
    """The (unsaved) outbox rows for the facts this observation proves, keyed by fact."""
    rows = []
    for fact in automation.facts_for(obs, webhook_event):
        if fact.event_name == automation.BOOKING_CANCELED and not rules.sync_cancellations:
            continue
        rows.append(
            AutomationEvent(
                key=automation.fact_key(connection.pk, fact),
                connection=connection,
                email=obs.email,
                event_name=fact.event_name,
                event_date=fact.event_date,
                event_properties={"invitee_uri": fact.invitee_uri},
            )
        )
    return rows


def desired_state_of(bookings: list[Booking], rules: Rules) -> tuple[dict[str, Any], list[str], Booking | None, str]:
    """:func:`desired_state` from one email's bookings, already loaded."""
    current = reducer.current_booking(bookings)
    if current is None:
        return {"attributes": {}, "listIds": [], "unlinkListIds": []}, [], None, ""
    status = reducer.booking_status(current)
    if status == reducer.CANCELLED and not rules.sync_cancellations:
        status = reducer.BOOKED
    mapped = mapping.map_fields(current, rules.field_rules, booking_status=status)
    keep, leave = reducer.desired_lists(
        bookings
        if rules.sync_cancellations
        else [b for b in bookings if reducer.booking_status(b) != reducer.CANCELLED] or bookings,
        rules.list_rules,
        rules.default_list_ids,
    )
    desired = {"attributes": dict(sorted(mapped.attributes.items())), "listIds": keep, "unlinkListIds": leave}
    return desired, list(mapped.warnings), current, status


def payload_hash(desired: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(desired, sort_keys=True, default=str).encode()).hexdigest()


def _project(contact: Contact, desired: dict[str, Any], current: Booking | None, status: str) -> bool:
    """Set the contact's desired state (not saved); True when it changed."""
    digest = payload_hash(desired)
    changed = digest != contact.desired_hash
    contact.attributes = desired["attributes"]
    contact.list_ids = desired["listIds"]
    contact.unlink_list_ids = desired["unlinkListIds"]
    contact.booking_status = status
    contact.current_booking = current
    contact.desired_hash = digest
    if changed:
        contact.dirty = digest != contact.pushed_hash
        if contact.dirty:
            contact.attempts = 0
            contact.next_attempt_at = None
    return changed


REFRESH_CHUNK = 500  # contacts recomputed per transaction after a mapping change


def refresh_all_contacts(connection: Connection, emails: Iterable[str] | None = None) -> int:
    """Recompute projections (after a mapping change). Returns how many became dirty."""
    rules = Rules.load(connection)
    if emails is None:
        emails = Booking.objects.filter(connection=connection).values_list("email", flat=True).distinct()
    todo = sorted(set(emails))
    dirty = 0
    for start in range(0, len(todo), REFRESH_CHUNK):
        chunk = todo[start : start + REFRESH_CHUNK]
        for attempt in range(1, MAX_RACES + 1):
            try:
                with transaction.atomic():
                    dirty += len(refresh_contacts(connection, chunk, rules))
                break
            except IntegrityError:  # a contact created meanwhile by a worker: take its row this time
                if attempt == MAX_RACES:
                    raise
    return dirty
