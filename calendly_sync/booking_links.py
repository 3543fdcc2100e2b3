"""Personalised booking links in Brevo: one single-use, prefilled link per contact of a Brevo list.

Why: a campaign that says "book your call" works best with a link that already knows the contact
(Calendly's booking page pre-fills name and email) and that only this contact can use once. The
links are written to a Brevo attribute (made if missing, type text) for the campaign to insert.
Each link carries ``utm_content=cbl-<token>``; when a booking arrives through it, the projection
marks the link used and empties the attribute in the contact's next push (``sync/projection``),
so a campaign never sends a used link.

A contact that holds an unused link in the attribute keeps it, so a second run creates none.
Links are made and written in chunks: per chunk, the links are created at Calendly (its client
waits out a ``429`` as its headers say), written to Brevo in one import (the client paces itself
under Brevo's limits), and only then recorded; a run stopped half-way leaves at most one chunk of
unrecorded links, which the next run replaces.

The door for ``manage.py create_booking_links`` and the contacts admin's action.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from calendly_sync.backfill import UnknownEventType
from calendly_sync.backfill import resolve_event_type as find_event_type
from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import BrevoError, BrevoNotFound
from calendly_sync.calendly.client import CalendlyClient, uuid_from_uri
from calendly_sync.calendly.errors import CalendlyError
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for, calendly_client_for, identify
from calendly_sync.credentials.tokens import ReconnectRequired
from calendly_sync.models import BookingLink, Connection
from calendly_sync.push.attributes import create_missing_attributes
from calendly_sync.scheduling.errors import ConnectionUnusable, MissingScope, SchedulingError
from calendly_sync.scheduling.service import calendly_errors, create_link, resolve_event_type
from calendly_sync.storable import unstorable
from calendly_sync.sync import links

log = logging.getLogger(__name__)

DEFAULT_ATTRIBUTE = "BOOKING_LINK"
#: Links created, written to Brevo in one import, then recorded, per chunk.
CHUNK = 500


class LinksError(Exception):
    """What stops a run before any link is made: an unknown list or event type, an unusable connection."""


@dataclass
class LinksResult:
    """What a run did, for its one summary line."""

    list_id: int
    attribute: str
    event_type: str = ""
    contacts: int = 0
    created: int = 0
    kept: int = 0
    failed: int = 0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would create" if self.dry_run else "created"
        line = (
            f"list {self.list_id}: {self.contacts} contacts, {verb} {self.created} booking links for "
            f"{self.event_type!r} in {self.attribute}, {self.kept} kept an unused link"
        )
        if self.failed:
            line += f", {self.failed} failed (first: {self.errors[0]})"
        return line


def attribute_name(value: str) -> str:
    """Brevo's attribute names are upper case letters, digits and underscores."""
    name = (value or "").strip().upper()
    if not name or not all(ch.isalnum() or ch == "_" for ch in name) or not name[0].isalpha():
        raise LinksError(f"{value!r} is not a Brevo attribute name (letters, digits and _; starting with a letter)")
    return name


def _event_type(connection: Connection, calendly: CalendlyClient, wanted: str) -> dict[str, Any]:
    """The active event type the operator named (name, slug, UUID or URI)."""
    try:
        with calendly_errors("list the event types"):
            identify(connection, calendly)
            uri = find_event_type(connection, calendly, wanted)
        return resolve_event_type(connection, uuid_from_uri(uri), client=calendly)
    except UnknownEventType as exc:
        raise LinksError(str(exc)) from None
    except SchedulingError as exc:
        raise LinksError(f"event type {wanted!r}: {exc}") from None


def _prefill(email: str, attributes: Mapping[str, Any]) -> dict[str, str]:
    """Name (from Brevo's FIRSTNAME/LASTNAME when it has them) and email for the booking page."""
    name = " ".join(str(attributes.get(k) or "").strip() for k in ("FIRSTNAME", "LASTNAME")).strip()
    return {"email": email, "name": name} if name else {"email": email}


def create_booking_links(
    connection: Connection,
    list_id: int,
    event_type: str,
    *,
    attribute: str = DEFAULT_ATTRIBUTE,
    dry_run: bool = False,
    emails: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> LinksResult:
    """Give every contact of Brevo list ``list_id`` (only ``emails`` of it, when given) a booking link.

    ``progress(n)`` is called as contacts are handled and ``on_total(n)`` once the list's size is
    known (a terminal's progress bar). Raises :class:`LinksError` before any write when the list,
    the event type or the connection cannot be used.
    """
    name = attribute_name(attribute)
    result = LinksResult(list_id=list_id, attribute=name, dry_run=dry_run)
    try:
        brevo = brevo_client_for(connection)
        calendly = calendly_client_for(connection)
    except (MissingCredentials, ReconnectRequired) as exc:
        raise LinksError(str(exc)) from None
    et = _event_type(connection, calendly, event_type)
    result.event_type = str(et.get("name") or et["uri"])
    try:
        info = brevo.get_list(list_id)
    except BrevoNotFound:
        raise LinksError(f"Brevo has no contact list {list_id}") from None
    except BrevoError as exc:
        raise LinksError(f"Brevo list {list_id} could not be read: {exc}") from None
    if on_total is not None:
        total = info.get("uniqueSubscribers", info.get("totalSubscribers"))
        if isinstance(total, int):
            on_total(len(set(emails)) if emails is not None else total)
    if not dry_run:
        create_missing_attributes(brevo, {name: "text"})
    wanted = {e.strip().lower() for e in emails} if emails is not None else None
    holders = set(
        BookingLink.objects.filter(connection=connection, attribute=name, used_at__isnull=True).values_list(
            "email", flat=True
        )
    )
    todo: list[tuple[str, dict[str, str]]] = []
    for contact in brevo.iter_list_contacts(list_id):
        email = str(contact.get("email") or "").strip().lower()
        if not email or (wanted is not None and email not in wanted):
            continue
        result.contacts += 1
        if email in holders:
            result.kept += 1
            if progress:
                progress(1)
            continue
        holders.add(email)  # a contact listed twice gets one link
        prefill = _prefill(email, contact.get("attributes") or {})
        problem = unstorable(prefill)  # a NUL or an unpaired surrogate: no URL, no row for it
        if problem:
            result.failed += 1
            result.errors.append(f"{email!r}: its Brevo data {problem}")
            if progress:
                progress(1)
            continue
        todo.append((email, prefill))
        if len(todo) >= CHUNK:
            _issue(connection, calendly, brevo, et, list_id, name, todo, result, progress)
            todo = []
    if todo:
        _issue(connection, calendly, brevo, et, list_id, name, todo, result, progress)
    log.info("booking links for connection %s: %s", connection.name, result.summary())
    return result


def _issue(
    connection: Connection,
    calendly: CalendlyClient,
    brevo: BrevoClient,
    et: Mapping[str, Any],
    list_id: int,
    attribute: str,
    todo: list[tuple[str, dict[str, str]]],
    result: LinksResult,
    progress: Callable[[int], None] | None,
) -> None:
    """Create the chunk's links, write them to Brevo in one import, then record them."""
    made: list[BookingLink] = []
    for email, prefill in todo:
        if result.dry_run:
            result.created += 1
        else:
            token = secrets.token_urlsafe(12)
            try:
                url = create_link(connection, et, prefill=prefill, tracking=links.marker(token), client=calendly)
            except (ConnectionUnusable, MissingScope) as exc:
                raise LinksError(str(exc)) from None
            except (SchedulingError, CalendlyError) as exc:  # this contact only
                result.failed += 1
                result.errors.append(f"{email}: {exc}")
            else:
                made.append(
                    BookingLink(
                        connection=connection,
                        email=email,
                        token=token,
                        url=url,
                        event_type_uri=str(et["uri"]),
                        attribute=attribute,
                        created_at=timezone.now(),
                    )
                )
        if progress:
            progress(1)
    if not made:
        return
    process = brevo.import_contacts(
        [{"email": link.email, "attributes": {attribute: link.url}} for link in made], [list_id]
    )
    brevo.wait_for_process(process)
    BookingLink.objects.bulk_create(made)
    result.created += len(made)
