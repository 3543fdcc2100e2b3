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
    BrevoNotFound,
    BrevoValidationError,
    is_transient,
)
from calendly_sync.models import Connection, Contact, ContactSyncLog, HeldNumber, SyncRun
from calendly_sync.push import notices
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
from calendly_sync.sync.projection import payload_hash
from calendly_sync.sync.sms import SMS

__all__ = ["PushSummary", "due_contacts", "push_contact", "push_dirty"]

log = logging.getLogger(__name__)

PHONE_ATTRIBUTES = ("SMS", "WHATSAPP", "LANDLINE_NUMBER")

PAGE_SIZE = 1000  # contacts read (and imported) at a time: memory stays flat however large the backlog

POLLS_PER_IMPORT = 4  # GET /processes calls one import may take (polls at 0.5, 1.5, 3.5, 7.5 s: push.bulk)
POLLS_PER_NOTIFIED_IMPORT = 1  # … when Brevo calls the connector back at its end (push.notices): one read

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
    held = waiting = False
    for _ in range(len(attributes) + 1):
        try:
            result = client.upsert_contact(contact.email, attributes=attributes, list_ids=list_ids or None)
            break
        except BrevoValidationError as err:
            bad = _rejected_attribute(err, attributes)
            note = ""
            if bad == SMS and isinstance(err, BrevoDuplicateIdentifier) and attributes.get(SMS):
                verdict, note = _sms_refused(connection, contact, client, str(attributes[SMS]))
                held, waiting = held or verdict == "held", waiting or verdict == "wait"
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
                message=f"Brevo rejected {bad}={attributes[bad]!r} ({err.message}){note}; retrying without it.",
                http_status=err.status,
                code=err.code or "",
                request=request,
                sync_run=sync_run,
            )
            dropped.append(f"{bad}={attributes[bad]!r}")
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
    if waiting:  # in Brevo without the number for now; the number follows once its holder lets it go
        mark_retry(contact, f"SMS {contact.attributes.get(SMS)} waits for another contact to let it go")
        return "retry"
    if held:
        digest = _without_held_sms(contact)
    mark_pushed(contact, digest, brevo_id=result.id)
    return outcome


def _sms_refused(connection: Connection, contact: Contact, client: BrevoClient, number: str) -> tuple[str, str]:
    """Brevo refused ``number`` for this contact: another contact holds it. Who? ("held"|"wait", note).

    One look-up (``GET /contacts/{number}?identifierType=phone_id``) tells. A contact of this
    connection with a push pending (letting the number go, see :mod:`calendly_sync.sync.sms`):
    "wait", the number goes again later. Anyone else — a contact the connector did not make, or
    one that will not let it go: "held", remembered as a :class:`HeldNumber` so that no later run
    sends it again. The look-up failing, or finding nobody (let go meanwhile): "wait".
    """
    try:
        holder = client.contact_holding_sms(number)
    except BrevoAuthError:
        raise
    except BrevoNotFound:
        return "wait", f"; nobody holds {number} now: it goes again later"
    except BrevoError as err:
        return "wait", f"; could not look up who holds {number} ({err}): it goes again later"
    email = str(holder.get("email") or "").strip().lower()
    who = email or f"Brevo contact {holder.get('id')}"
    if email and Contact.objects.filter(connection=connection, email=email, dirty=True).exclude(pk=contact.pk).exists():
        return "wait", f"; {who} of this connection holds {number} and is letting it go: it goes again later"
    HeldNumber.objects.get_or_create(
        connection=connection, number=number, defaults={"holder": who[:254], "refused_for": contact.email}
    )
    return "held", f"; Brevo holds {number} for {who}: remembered, it is not sent again"


def _without_held_sms(contact: Contact) -> str:
    """This contact's desired state without the SMS number Brevo holds elsewhere, saved; its hash.

    Exactly what the projection computes for it from now on (a held number goes to nobody), so the
    next run finds the contact clean and sends nothing.
    """
    attributes = {k: v for k, v in (contact.attributes or {}).items() if k != SMS}
    digest = payload_hash(
        {
            "attributes": attributes,
            "listIds": list(contact.list_ids or []),
            "unlinkListIds": list(contact.unlink_list_ids or []),
        }
    )
    Contact.objects.filter(pk=contact.pk, desired_hash=contact.desired_hash).update(
        attributes=attributes, desired_hash=digest
    )
    return digest


def _count(summary: PushSummary, outcome: str) -> None:
    if outcome in ("created", "updated", "unchanged"):
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    elif outcome == "retry":
        summary.retry += 1
    elif outcome == "failed":
        summary.failed += 1


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
        per_import = POLLS_PER_NOTIFIED_IMPORT if notices.usable() else POLLS_PER_IMPORT
        polls_needed = per_import * -(-total // IMPORT_CHUNK) + POLL_RESERVE
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
    if client is not None and connection.sync_contacts:
        # A contact letting an SMS number go (another contact keeps it now) goes first, so that
        # Brevo no longer holds the number when its new owner is sent it.
        releasing = due_contacts(connection).filter(**{f"attributes__{SMS}": ""})
        if emails is not None:
            claimed = Contact.objects.filter(connection=connection, email__in=list(emails)).exclude(sms_number="")
            releasing = releasing.filter(Q(email__in=list(emails)) | Q(sms_number__in=claimed.values("sms_number")))
        for contact in releasing.iterator(chunk_size=PAGE_SIZE):
            _count(summary, push_contact(connection, contact, client, sync_run=sync_run))
            if progress:
                progress(1)
    last_pk = 0
    while True:  # in pages of primary keys: memory stays flat however large the backlog
        page = list(qs.filter(pk__gt=last_pk).order_by("pk")[:PAGE_SIZE])
        if not page:
            break
        last_pk = page[-1].pk
        if bulk:
            page = import_contacts(connection, client, page, summary, sync_run=sync_run, progress=progress)
        for contact in page:
            _count(summary, push_contact(connection, contact, client, sync_run=sync_run))
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
