"""Bulk writes for large backfills: Brevo's asynchronous contact import instead of one call each.

An import needs a destination list, cannot remove list memberships and reports rejected rows only
as counts, so contacts without lists or with removals go one by one, and a chunk whose import
rejected any row is sent again one by one (upserts are idempotent) so nobody is silently lost.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

from .brevo.client import BrevoClient
from .brevo.errors import BrevoAuthError, BrevoError
from .models import Connection, Contact, ContactSyncLog, SyncRun
from .push import locked_contacts

log = logging.getLogger(__name__)
IMPORT_CHUNK = 1000  # rows per import: well under Brevo's 10 MB body limit, and bounded memory


def import_contacts(connection: Connection, client: BrevoClient | None, contacts: list[Contact], summary, *,
                    sync_run: SyncRun | None = None, progress: Callable[[int], None] | None = None) -> list[Contact]:
    """Import what can be imported; return the contacts left for one-by-one upserts."""
    assert client is not None
    groups: dict[tuple[int, ...], list[Contact]] = defaultdict(list)
    rest: list[Contact] = []
    for contact in contacts:
        if contact.list_ids and not contact.unlink_list_ids and contact.desired_hash != contact.pushed_hash:
            groups[tuple(sorted(contact.list_ids))].append(contact)
        else:
            rest.append(contact)
    for list_ids, members in groups.items():
        for start in range(0, len(members), IMPORT_CHUNK):
            chunk = members[start:start + IMPORT_CHUNK]
            with locked_contacts(c.pk for c in chunk) as rows:  # locked while Brevo imports them
                rest.extend(_import_chunk(connection, client, chunk, rows, list_ids, summary, sync_run, progress))
    return rest


def _import_chunk(connection: Connection, client: BrevoClient, members: list[Contact], locked: list[Contact],
                  list_ids: tuple[int, ...], summary, sync_run: SyncRun | None,
                  progress: Callable[[int], None] | None) -> list[Contact]:
    """Import one chunk under lock; returns the contacts to send one by one instead."""
    from .push import mark_pushed_many

    wanted = {c.pk: c.desired_hash for c in members}
    # A contact whose projection moved on since it was listed goes the single way, with its new state.
    chunk = [c for c in locked if c.desired_hash == wanted[c.pk] and c.dirty]
    taken = {c.pk for c in chunk}
    rest = [c for c in locked if c.pk not in taken and c.dirty]
    if not chunk:
        return rest
    rows = [{"email": c.email, "attributes": c.attributes} for c in chunk]
    try:
        process_id = client.import_contacts(rows, list(list_ids), update_existing=True)
        process = client.wait_for_process(process_id, poll_interval=2.0, timeout=1800)
    except BrevoAuthError:
        raise
    except BrevoError as err:
        log.warning("bulk import of %d contacts failed (%s); falling back to single upserts", len(chunk), err)
        return rest + chunk
    info = (process.get("info") or {}).get("import") or {}
    problems = {k: v for k, v in info.items()
                if v and any(word in k for word in ("invalid", "duplicate", "missing", "skipped"))}
    if problems:
        # An import only counts its rejected rows; it does not say which. Rather than lose a
        # person, send this chunk again one by one: upserts are idempotent, and the single path
        # knows how to retry without a rejected phone number.
        log.warning("import %s rejected rows %s; resending %d contacts one by one", process_id, problems, len(chunk))
        return rest + chunk
    ContactSyncLog.objects.bulk_create([
        ContactSyncLog(connection=connection, contact=c, email=c.email, action="import",
                       status=ContactSyncLog.Status.OK, message=f"imported in process {process_id}",
                       request={"attributes": c.attributes, "listIds": list(list_ids)}, sync_run=sync_run)
        for c in chunk
    ])
    mark_pushed_many({c.pk: c.desired_hash for c in chunk})
    new = info.get("new_contacts")
    if isinstance(new, int) and 0 <= new <= len(chunk):
        summary.created += new
        summary.updated += len(chunk) - new
    else:
        summary.updated += len(chunk)
    if progress:
        progress(len(chunk))
    return rest
