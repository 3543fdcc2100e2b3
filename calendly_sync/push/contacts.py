"""Contact projection → Brevo: idempotent upserts of each contact's desired state.

Brevo sees desired state, never a diff, so pushing twice is harmless and every retry is safe.
A contact stays ``dirty`` until Brevo has exactly what we last computed; a transient failure
(429, 5xx, timeout) leaves it dirty with a backoff, so a later pass (worker thread, Celery beat,
``process_deliveries``, ``sync_calendly``) finishes the job. A backlog goes through Brevo's bulk
import (:mod:`calendly_sync.push.bulk`); the contacts' automation events follow
(:mod:`calendly_sync.push.events`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import (
    BrevoAuthError,
    BrevoDuplicateIdentifier,
    BrevoError,
    BrevoInvalidPhone,
    BrevoValidationError,
    is_transient,
)
from calendly_sync.models import Connection, Contact, ContactSyncLog, SyncRun
from calendly_sync.push.attributes import ensure_attributes
from calendly_sync.push.bulk import IMPORT_CHUNK, import_contacts
from calendly_sync.push.events import send_due_events
from calendly_sync.push.ledger import (
    PushSummary,
    locked_contacts,
    mark_failed,
    mark_pushed,
    mark_retry,
    record,
)

__all__ = ["PushSummary", "due_contacts", "push_contact", "push_dirty"]

log = logging.getLogger(__name__)

PHONE_ATTRIBUTES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER")

PAGE_SIZE = 1000  # contacts read (and imported) at a time: memory stays flat however large the backlog

POLLS_PER_IMPORT = 4  # GET /processes calls one import may take (the poll interval grows 2 s, 3 s, 4.5 s …)

POLL_RESERVE = 10  # of Brevo's hourly "other" budget, kept for everything else


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


def push_contact(
    connection: Connection,
    contact: Contact,
    client: BrevoClient | None,
    *,
    dry_run: bool = False,
    sync_run: SyncRun | None = None,
) -> str:
    """Upsert one contact's desired state. Returns created|updated|unchanged|retry|failed|dry_run.

    The contact's row stays locked from reading its desired state until the result is recorded,
    so two workers never race: without it, an older state could reach Brevo last while the row
    says the newer one was pushed.
    """
    if dry_run:
        return "dry_run"
    try:
        with locked_contacts([contact.pk]) as rows:
            if not rows:
                return "unchanged"
            return _push_locked(connection, rows[0], client, sync_run)
    except BrevoAuthError as err:
        # Logged after the lock's transaction was rolled back (PostgreSQL), so the row survives it.
        record(
            connection,
            contact,
            contact.email,
            "upsert",
            ContactSyncLog.Status.ERROR,
            message=str(err),
            http_status=err.status,
            code=err.code or "",
            request=_upsert_request(contact),
            sync_run=sync_run,
        )
        raise


def _upsert_request(contact: Contact) -> dict[str, Any]:
    """What an upsert of this contact sends (as its log row shows it)."""
    return {
        "email": contact.email,
        "attributes": dict(contact.attributes or {}),
        "listIds": list(contact.list_ids or []),
        "updateEnabled": True,
    }


def _push_locked(connection: Connection, contact: Contact, client: BrevoClient | None, sync_run: SyncRun | None) -> str:
    digest = contact.desired_hash
    if digest and digest == contact.pushed_hash:
        if contact.dirty:
            Contact.objects.filter(pk=contact.pk, desired_hash=digest).update(dirty=False)
        return "unchanged"
    request = _upsert_request(contact)
    attributes: dict[str, Any] = request["attributes"]
    list_ids: list[int] = request["listIds"]
    assert client is not None
    dropped: list[str] = []
    for _ in range(len(attributes) + 1):
        try:
            result = client.upsert_contact(contact.email, attributes=attributes, list_ids=list_ids or None)
            break
        except BrevoValidationError as err:
            bad = _rejected_attribute(err, attributes)
            if bad is None:
                record(
                    connection,
                    contact,
                    contact.email,
                    "upsert",
                    ContactSyncLog.Status.ERROR,
                    message=err.message,
                    http_status=err.status,
                    code=err.code or "",
                    request=request,
                    sync_run=sync_run,
                )
                mark_failed(contact, str(err))
                return "failed"
            record(
                connection,
                contact,
                contact.email,
                "upsert",
                ContactSyncLog.Status.WARNING,
                message=f"Brevo rejected {bad}={attributes[bad]!r} ({err.message}); retrying without it.",
                http_status=err.status,
                code=err.code or "",
                request=request,
                sync_run=sync_run,
            )
            dropped.append(bad)
            attributes.pop(bad)
            request["attributes"] = attributes
        except BrevoAuthError:
            raise  # logged by push_contact, outside the lock's transaction
        except BrevoError as err:
            transient = is_transient(err)
            record(
                connection,
                contact,
                contact.email,
                "upsert",
                ContactSyncLog.Status.RETRY if transient else ContactSyncLog.Status.ERROR,
                message=str(err),
                http_status=err.status,
                code=err.code or "",
                request=request,
                sync_run=sync_run,
            )
            if transient:
                mark_retry(contact, str(err))
                return "retry"
            mark_failed(contact, str(err))
            return "failed"
    else:  # pragma: no cover - every attribute rejected
        mark_failed(contact, "Brevo rejected every attribute")
        return "failed"

    if contact.unlink_list_ids:
        try:
            client.update_contact(contact.email, unlink_list_ids=list(contact.unlink_list_ids))
        except BrevoError as err:
            transient = is_transient(err)
            record(
                connection,
                contact,
                contact.email,
                "unlink",
                ContactSyncLog.Status.RETRY if transient else ContactSyncLog.Status.WARNING,
                message=str(err),
                http_status=err.status,
                code=err.code or "",
                sync_run=sync_run,
            )
            if transient:
                mark_retry(contact, str(err))
                return "retry"
    outcome = "created" if result.created else "updated"
    status = ContactSyncLog.Status.WARNING if dropped else ContactSyncLog.Status.OK
    message = f"{outcome}" + (f"; sent without {', '.join(dropped)}" if dropped else "")
    record(
        connection,
        contact,
        contact.email,
        "upsert",
        status,
        message=message,
        http_status=201 if result.created else 204,
        request=request,
        sync_run=sync_run,
    )
    mark_pushed(contact, digest, brevo_id=result.id)
    return outcome


def due_contacts(connection: Connection, emails: Iterable[str] | None = None) -> QuerySet[Contact]:
    """Dirty contacts whose backoff has passed (of these emails, when given), oldest first."""
    now = timezone.now()
    qs = Contact.objects.filter(connection=connection, dirty=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    if emails is not None:
        qs = qs.filter(email__in=list(emails))
    return qs.order_by("id")


def push_dirty(
    connection: Connection,
    client: BrevoClient | None,
    *,
    attribute_types: Mapping[str, str],
    emails: Iterable[str] | None = None,
    dry_run: bool = False,
    sync_run: SyncRun | None = None,
    bulk_threshold: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> PushSummary:
    """Push every due dirty contact (in bulk above ``bulk_threshold``), then its pending events.

    ``attribute_types`` (the projection's ``Rules.attribute_types``) are the Brevo attributes the
    contacts carry, created in Brevo first when missing: the pusher reads what the projection
    declares instead of looking into the mapping rules itself.
    """
    summary = PushSummary()
    qs = due_contacts(connection, emails) if connection.sync_contacts else Contact.objects.none()
    total = qs.count()
    if client is not None and total and not dry_run:
        ensure_attributes(connection, client, attribute_types)
    if dry_run:
        for c in qs.iterator(chunk_size=PAGE_SIZE):
            summary.dry_run_writes.append(
                {
                    "POST /contacts": {
                        "email": c.email,
                        "attributes": c.attributes,
                        "listIds": c.list_ids,
                        "updateEnabled": True,
                    }
                }
            )
            if c.unlink_list_ids:
                summary.dry_run_writes.append(
                    {"PUT /contacts/{email}": {"email": c.email, "unlinkListIds": c.unlink_list_ids}}
                )
        return summary
    bulk = bulk_threshold is not None and total >= bulk_threshold
    if bulk and client is not None:
        polls_needed = POLLS_PER_IMPORT * -(-total // IMPORT_CHUNK) + POLL_RESERVE
        left = client.other_budget.left()
        if left is not None and left < polls_needed:
            # Brevo allows 100 calls an hour outside /contacts and /events, and following an
            # import takes some: with too few left, single upserts (10/s) beat a 429 that waits an hour.
            log.info(
                "connection %s: %d contacts go one by one, not by import: %d of Brevo's hourly "
                "/processes budget left, %d needed",
                connection.name,
                total,
                left,
                polls_needed,
            )
            bulk = False
    last_pk = 0
    while True:  # in pages of primary keys: memory stays flat however large the backlog
        page = list(qs.filter(pk__gt=last_pk).order_by("pk")[:PAGE_SIZE])
        if not page:
            break
        last_pk = page[-1].pk
        if bulk:
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
    summary.warnings = (
        ContactSyncLog.objects.filter(
            connection=connection, status=ContactSyncLog.Status.WARNING, sync_run=sync_run
        ).count()
        if sync_run
        else 0
    )
    sent, failed = send_due_events(connection, client, emails=emails)
    summary.events_sent += sent
    summary.events_failed += failed
    return summary
