"""Forget one person: delete every row that holds their data here, and keep them from coming back.

``manage.py forget_invitee EMAIL`` and the contacts admin's "Forget" action call
:func:`forget_invitee`. In one transaction it records a :class:`~calendly_sync.models.Suppression`
(a keyed hash of the address and the time, never the address), deletes the person's bookings,
contacts, deliveries, sync logs and automation events, and blanks the address wherever else it
appears (another invitee's answers, a run's error). The apply path then skips every observation of
the address whose booking predates the erasure, so a backfill over the old window or a late
webhook never re-creates the contact; a booking made afterwards syncs as usual. Then, outside the
transaction, Brevo's contact is deleted (unless asked to keep it) and, if asked, Calendly is asked
to delete the invitee's data (Enterprise plans only).

Concurrent work: the transaction takes the bookings table's lock (PostgreSQL: ``EXCLUSIVE``, which
plain reads pass; SQLite: the write lock every transaction takes) and the contacts' row locks, so
an apply that began before the erasure finishes first and is deleted with the rest, and one that
begins after it sees the suppression. A push in flight holds its contact's lock until Brevo
answered, so the Brevo deletion comes after it.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.apps import apps
from django.db import connection as db_connection
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils import timezone

from calendly_sync.brevo.errors import BrevoError, BrevoNotFound
from calendly_sync.calendly.errors import CalendlyError, CalendlyPermissionError
from calendly_sync.credentials.clients import brevo_client_for, calendly_client_for
from calendly_sync.credentials.tokens import ReconnectRequired
from calendly_sync.models import (
    AutomationEvent,
    Booking,
    BookingLink,
    Connection,
    Contact,
    ContactSyncLog,
    Suppression,
    WebhookDelivery,
)
from calendly_sync.models.fields import EncryptedTextField
from calendly_sync.models.privacy import email_hashes, normalize_email
from calendly_sync.push.ledger import locked_contacts

log = logging.getLogger(__name__)

REDACTED = "[erased]"
APP_LABEL = "calendly_sync"

CALENDLY_NOT_ENTERPRISE = (
    "Calendly refused the deletion request: its data-compliance API needs an Enterprise plan and a token "
    "with the data_compliance:write scope. Delete the invitee's data in Calendly's own settings, or ask "
    "Calendly support. (Calendly said: {error})"
)


class NotAnEmail(ValueError):
    """What was given to forget is not an email address."""


@dataclass
class ErasureReport:
    """What an erasure did: rows deleted and blanked here, and what Brevo and Calendly answered."""

    reference: str  # names the erasure in logs without the address: the start of its hash
    connections: list[str]
    deleted: Counter[str] = field(default_factory=Counter)  # by model, e.g. "booking": 2
    redacted: Counter[str] = field(default_factory=Counter)  # rows where the address was blanked
    brevo: list[str] = field(default_factory=list)  # one line per Brevo account
    calendly: list[str] = field(default_factory=list)  # one line per Calendly organization
    failures: list[str] = field(default_factory=list)  # steps asked for that could not be done

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        """A summary for the operator (counts, and each outside service's answer; never the address)."""
        deleted = ", ".join(f"{name} {n}" for name, n in sorted(self.deleted.items()) if n) or "nothing"
        out = [
            f"erasure {self.reference} on {', '.join(self.connections) or 'every connection'}",
            f"deleted: {deleted}",
        ]
        if self.redacted:
            out.append("address blanked in: " + ", ".join(f"{k} {n}" for k, n in sorted(self.redacted.items())))
        return [*out, *self.brevo, *self.calendly]


def forget_invitee(
    email: str,
    *,
    connections: Sequence[Connection] | None = None,
    brevo_delete: bool = True,
    calendly: bool = False,
) -> ErasureReport:
    """Erase one person (see the module docstring). ``connections``: these only; None: all of them."""
    address = normalize_email(email)
    if "@" not in address or len(address) > 254:
        raise NotAnEmail(f"not an email address: {email.strip()[:60]!r}")
    hashes = email_hashes(address)
    scope = None if connections is None else list(connections)
    report = ErasureReport(hashes[0][:12], [c.name for c in scope or []])
    variants = sorted({address, email.strip().lower()})

    with transaction.atomic():
        now = timezone.now()
        for target in scope if scope is not None else [None]:
            Suppression.objects.update_or_create(
                connection=target, email_hash=hashes[0], defaults={"forgotten_at": now}
            )
        _lock_bookings()
        _delete_rows(variants, scope, report)
        _blank_elsewhere(_needles(variants), scope, report)
    log.info(
        "erasure %s: deleted %s; address blanked in %d rows",
        report.reference,
        dict(report.deleted),
        sum(report.redacted.values()),
    )

    targets = list(scope) if scope is not None else list(Connection.objects.order_by("pk"))
    _brevo(address, targets, brevo_delete, report)
    if calendly:
        _calendly(sorted({email.strip(), address}), targets, report)
    return report


# --- here -------------------------------------------------------------------------------------


def _lock_bookings() -> None:
    """Wait for applies in flight and hold new ones until the erasure commits (see module docstring)."""
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {db_connection.ops.quote_name(Booking._meta.db_table)} IN EXCLUSIVE MODE")


def _in_scope(scope: list[Connection] | None) -> Q:
    return Q() if scope is None else Q(connection__in=scope)


def _delete_rows(variants: list[str], scope: list[Connection] | None, report: ErasureReport) -> None:
    """Delete the person's own rows: what the connector stored because of them."""
    where = _in_scope(scope)
    bookings = Booking.objects.filter(where, email__in=variants)
    invitee_uris = list(bookings.values_list("invitee_uri", flat=True))
    contact_ids = list(Contact.objects.filter(where, email__in=variants).values_list("pk", flat=True))
    with locked_contacts(contact_ids):  # a push in flight finishes first
        report.deleted["sync log"] += _delete(
            ContactSyncLog.objects.filter(where, Q(email__in=variants) | Q(contact_id__in=contact_ids))
        )
        report.deleted["automation event"] += _delete(
            AutomationEvent.objects.filter(where, Q(email__in=variants) | Q(booking__in=bookings))
        )
        report.deleted["webhook delivery"] += _delete(
            WebhookDelivery.objects.filter(where, Q(email__in=variants) | Q(invitee_uri__in=invitee_uris))
        )
        links = _delete(BookingLink.objects.filter(where, email__in=variants))
        if links:  # booking links exist only where create_booking_links was used
            report.deleted["booking link"] += links
        report.deleted["contact"] += _delete(Contact.objects.filter(pk__in=contact_ids))
        report.deleted["booking"] += _delete(bookings)


def _delete(queryset: models.QuerySet[Any]) -> int:
    """Rows of the queryset's own model deleted (what ``SET_NULL`` relations changed is not counted)."""
    return queryset.delete()[1].get(queryset.model._meta.label, 0)


def _matcher(needles: list[str]) -> re.Pattern[str]:
    """Any of the needles, in any case, as a whole address: ``jo.levi@x.com`` or ``levi@x.com.au`` is
    someone else, and is left alone when ``levi@x.com`` is forgotten."""
    alternatives = "|".join(re.escape(n) for n in needles)
    return re.compile(rf"(?<![\w.+-])(?:{alternatives})(?![\w-]|\.\w)", re.IGNORECASE)


def _needles(variants: list[str]) -> list[str]:
    """The forms the address is stored in: as is, JSON-escaped (non-ASCII) and URL-encoded (API paths)."""
    forms: set[str] = set()
    for variant in variants:
        forms.update({variant, json.dumps(variant)[1:-1], quote(variant, safe="")})
    return sorted(forms, key=len, reverse=True)


def _text_fields(model: type[models.Model]) -> Iterator[models.Field[Any, Any]]:
    """The columns that can hold an address: text and JSON (secrets are encrypted: never readable)."""
    for f in model._meta.concrete_fields:
        if isinstance(f, EncryptedTextField) or f.is_relation:
            continue
        if isinstance(f, (models.CharField, models.TextField, models.JSONField)):
            yield f


def _blank_elsewhere(needles: list[str], scope: list[Connection] | None, report: ErasureReport) -> None:
    """Blank the address in every other row of the app that mentions it (any case, any column).

    Another invitee's answers ("referred by …"), a guest list in a pending delivery, an error
    message: those rows are not the person's to delete, so only the address goes.
    """
    pattern = _matcher(needles)
    for model in apps.get_app_config(APP_LABEL).get_models():
        fields = list(_text_fields(model))
        if not fields:
            continue
        queryset = model._default_manager.all()
        if scope is not None:
            names = {f.name for f in model._meta.fields}
            queryset = queryset.filter(pk__in=[c.pk for c in scope]) if model is Connection else queryset
            if "connection" in names:
                queryset = queryset.filter(connection__in=scope)
        annotations = {
            f"_text_{f.name}": Cast(f.name, models.TextField()) for f in fields if isinstance(f, models.JSONField)
        }
        matches = Q()
        for f in fields:
            column = f"_text_{f.name}" if isinstance(f, models.JSONField) else f.name
            for needle in needles:
                matches |= Q(**{f"{column}__icontains": needle})
        for row in queryset.annotate(**annotations).filter(matches).only(*[f.name for f in fields]):
            changed = []
            for f in fields:
                value = getattr(row, f.attname)
                blanked = _blank(value, pattern)
                if blanked != value:
                    setattr(row, f.attname, blanked)
                    changed.append(f.name)
            if changed:
                row.save(update_fields=changed)
                report.redacted[str(model._meta.verbose_name)] += 1
    _forget_admin_log(needles)


def _blank(value: Any, pattern: re.Pattern[str]) -> Any:
    """The value with every match replaced, through JSON objects and lists (keys too)."""
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [_blank(v, pattern) for v in value]
    if isinstance(value, dict):
        return {_blank(k, pattern): _blank(v, pattern) for k, v in value.items()}
    return value


def _forget_admin_log(needles: Iterable[str]) -> None:
    """The admin's history names rows by their text (a contact by its address): forget those lines too."""
    if not apps.is_installed("django.contrib.admin"):
        return
    log_entry = apps.get_model("admin", "LogEntry")
    matches = Q()
    for needle in needles:
        matches |= Q(object_repr__icontains=needle) | Q(change_message__icontains=needle)
    log_entry._default_manager.filter(matches, content_type__app_label=APP_LABEL).delete()


# --- Brevo and Calendly ---------------------------------------------------------------------------


def _brevo(address: str, targets: list[Connection], delete: bool, report: ErasureReport) -> None:
    if not delete:
        report.brevo.append("Brevo: contact kept (--brevo keep)")
        return
    seen: set[str] = set()
    for conn in targets:
        key = conn.effective_brevo_api_key()
        if not key:
            report.brevo.append(f"Brevo ({conn.name}): no API key, nothing to delete")
            continue
        if key in seen:  # another connection on the same Brevo account: already done
            continue
        seen.add(key)
        try:
            brevo_client_for(conn).delete_contact(address)
        except BrevoNotFound:
            report.brevo.append(f"Brevo ({conn.name}): no such contact")
        except BrevoError as exc:
            message = f"Brevo ({conn.name}): the contact could not be deleted: {_without(address, str(exc))}"
            report.brevo.append(message)
            report.failures.append(message)
        else:
            report.brevo.append(f"Brevo ({conn.name}): contact deleted")


def _calendly(emails: list[str], targets: list[Connection], report: ErasureReport) -> None:
    seen: set[str] = set()
    for conn in targets:
        organization = conn.calendly_organization_uri or f"connection:{conn.pk}"
        if organization in seen:  # one request per Calendly organization
            continue
        seen.add(organization)
        try:
            calendly_client_for(conn).delete_invitee_data(emails)
        except CalendlyPermissionError as exc:
            message = f"Calendly ({conn.name}): " + CALENDLY_NOT_ENTERPRISE.format(error=_without(emails, str(exc)))
        except (CalendlyError, ReconnectRequired) as exc:
            message = f"Calendly ({conn.name}): the deletion could not be requested: {_without(emails, str(exc))}"
        else:
            report.calendly.append(f"Calendly ({conn.name}): deletion requested (Calendly completes it within 7 days)")
            continue
        report.calendly.append(message)
        report.failures.append(message)


def _without(address: str | list[str], text: str) -> str:
    """An outside service's message, with the address blanked (it may be quoted back)."""
    variants = [address] if isinstance(address, str) else address
    return _matcher(_needles(variants)).sub(REDACTED, text)


__all__ = ["ErasureReport", "NotAnEmail", "forget_invitee"]
