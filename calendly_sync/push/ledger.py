"""The push ledger: what was sent to Brevo and what came back, for contacts and for whole runs.

Every write to Brevo leaves a :class:`~calendly_sync.models.ContactSyncLog` row (:func:`record`);
a contact's row says what Brevo holds (``pushed_hash``) and whether it must be pushed again
(``dirty``, with a backoff when Brevo failed). Contacts are locked across their push
(:func:`locked_contacts`) so two workers never race to send different states.

Retries follow the one policy of :mod:`calendly_sync.retries`. A contact retries a transient
failure with its delay but without a horizon: it is desired state, not a message, so it stays
dirty (tried once an hour at most) until Brevo has it, and nothing is requeued by hand. The
deliveries and events that wait for it do have the horizon (:func:`retry_horizon`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from calendly_sync import retries
from calendly_sync.conf import app_settings
from calendly_sync.models import Connection, Contact, ContactSyncLog, SyncRun
from calendly_sync.models.claims import supports_returning


def retry_horizon() -> timedelta:
    """How long deliveries and events retry transient failures (``RETRY_HORIZON_HOURS``)."""
    return timedelta(hours=float(app_settings.RETRY_HORIZON_HOURS))


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

    def add(self, other: PushSummary) -> None:
        for name in ("created", "updated", "unchanged", "failed", "retry", "warnings", "events_sent", "events_failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dry_run_writes.extend(other.dry_run_writes)


def record(
    connection: Connection,
    contact: Contact | None,
    email: str,
    action: str,
    status: str,
    *,
    message: str = "",
    http_status: int | None = None,
    code: str = "",
    request: dict[str, Any] | None = None,
    sync_run: SyncRun | None = None,
) -> None:
    ContactSyncLog.objects.create(
        connection=connection,
        contact=contact,
        email=email,
        action=action,
        status=status,
        message=message[:4000],
        http_status=http_status,
        brevo_code=code or "",
        request=request or {},
        sync_run=sync_run,
    )


def record_many(
    connection: Connection,
    contacts: Iterable[Contact],
    action: str,
    status: str,
    *,
    message: str,
    list_ids: Iterable[int] = (),
    http_status: int | None = None,
    sync_run: SyncRun | None = None,
) -> None:
    """:func:`record` for every contact of one bulk write (an import), in one statement."""
    ContactSyncLog.objects.bulk_create(
        [
            ContactSyncLog(
                connection=connection,
                contact=c,
                email=c.email,
                action=action,
                status=status,
                message=message[:4000],
                http_status=http_status,
                request={"attributes": c.attributes, "listIds": list(list_ids)},
                sync_run=sync_run,
            )
            for c in contacts
        ]
    )


def mark_pushed(contact: Contact, digest: str, *, brevo_id: int | None = None) -> None:
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
    """:func:`mark_pushed` for many contacts (pk → the hash Brevo now holds), in one statement.

    ``WHERE (id, desired_hash) IN (…)`` keeps it exact: a contact whose projection moved on
    meanwhile is not matched, and is recorded on its own as pushed but still dirty.
    """
    if not pushed:
        return
    if not supports_returning(db_connection.alias):  # pragma: no cover - SQLite before 3.35
        for pk, digest in pushed.items():
            mark_pushed(Contact(pk=pk), digest)
        return
    ops = db_connection.ops
    table = ops.quote_name(Contact._meta.db_table)
    columns = {f.name: f.column for f in Contact._meta.concrete_fields if f.column}
    col = {
        name: ops.quote_name(columns[name])
        for name in (
            "id",
            "desired_hash",
            "pushed_hash",
            "dirty",
            "last_pushed_at",
            "last_error",
            "attempts",
            "next_attempt_at",
        )
    }
    now = ops.adapt_datetimefield_value(timezone.now())
    done: set[int] = set()
    items = list(pushed.items())
    with db_connection.cursor() as cursor:
        for start in range(0, len(items), 400):  # 2 parameters a row: under every backend's limit
            chunk = items[start : start + 400]
            cursor.execute(
                f"UPDATE {table} SET {col['pushed_hash']} = {col['desired_hash']}, {col['dirty']} = %s, "
                f"{col['last_pushed_at']} = %s, {col['last_error']} = '', {col['attempts']} = 0, "
                f"{col['next_attempt_at']} = NULL "
                f"WHERE ({col['id']}, {col['desired_hash']}) IN ({', '.join(['(%s, %s)'] * len(chunk))}) "
                f"RETURNING {col['id']}",
                [False, now, *(value for pair in chunk for value in pair)],
            )
            done.update(row[0] for row in cursor.fetchall())
    for pk, digest in items:
        if pk not in done:
            mark_pushed(Contact(pk=pk), digest)


def mark_retry(contact: Contact, error: str) -> None:
    """A transient failure: still dirty, due again after the policy's delay (no horizon: see above)."""
    attempts = contact.attempts + 1
    Contact.objects.filter(pk=contact.pk).update(
        attempts=attempts, last_error=error[:2000], next_attempt_at=timezone.now() + retries.delay(attempts)
    )


def mark_failed(contact: Contact, error: str) -> None:
    """A rejection that retrying cannot fix: visible in the admin, re-dirtied by a config change or resync."""
    Contact.objects.filter(pk=contact.pk, desired_hash=contact.desired_hash).update(
        dirty=False, last_error=error[:2000]
    )
    Contact.objects.filter(pk=contact.pk).exclude(desired_hash=contact.desired_hash).update(last_error=error[:2000])


class _HeldContacts:
    """The contacts this process's pushers hold on SQLite: a set of primary keys under one condition.

    A holder takes all of its contacts at once or waits (so two holders never deadlock), and waits
    only for a holder of one of the *same* contacts. (Lock stripes by ``pk % 256`` stood here
    before: a round of a few hundred contacts covered nearly every stripe, so each round's import
    waited for the previous round's import to end, one after the other, after a burst.)
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: set[int] = set()

    @contextmanager
    def hold(self, ids: list[int]) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._held.isdisjoint(ids))
            self._held.update(ids)
        try:
            yield
        finally:
            with self._cond:
                self._held.difference_update(ids)
                self._cond.notify_all()


_HELD = _HeldContacts()


@contextmanager
def locked_contacts(pks: Iterable[int]) -> Iterator[list[Contact]]:
    """Fresh rows of these contacts, locked until the block ends.

    PostgreSQL: ``SELECT … FOR UPDATE`` in a transaction (across processes). SQLite (the embedded
    single-process mode) has no row locks, and a transaction held across an HTTP call would block
    the webhook endpoint's writes, so there the process holds the contacts' keys instead
    (:class:`_HeldContacts`; one drainer at a time across processes, ``runtime.locks``).
    """
    ids = sorted(set(pks))
    if db_connection.vendor == "sqlite":
        with _HELD.hold(ids):
            yield list(Contact.objects.filter(pk__in=ids).order_by("pk"))
    else:
        with transaction.atomic():
            yield list(Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
