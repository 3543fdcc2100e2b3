"""Bulk writes for large backfills: Brevo's asynchronous contact import instead of one call each.

An import needs a destination list, cannot remove list memberships and reports rejected rows only
as counts, so contacts without lists or with removals go one by one, and a chunk whose import
rejected any row is sent again one by one (upserts are idempotent) so nobody is silently lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import BrevoAuthError, BrevoError
from calendly_sync.models import Connection, Contact, ContactSyncLog, SyncRun
from calendly_sync.push.ledger import (
    PushSummary,
    locked_contacts,
    mark_pushed_many,
    mark_retry,
    record_many,
)

log = logging.getLogger(__name__)
IMPORT_CHUNK = 1000  # rows per import: well under Brevo's 10 MB body limit, and bounded memory
IMPORT_TIMEOUT = 1800  # seconds an import is followed before its contacts are retried later


def _retry_later(
    connection: Connection,
    contacts: list[Contact],
    list_ids: tuple[int, ...],
    error: str,
    summary: PushSummary,
    sync_run: SyncRun | None,
) -> None:
    """These contacts go again after a backoff; each keeps a log row saying why."""
    record_many(
        connection, contacts, "import", ContactSyncLog.Status.RETRY, message=error, list_ids=list_ids, sync_run=sync_run
    )
    for contact in contacts:
        mark_retry(contact, error)
    summary.retry += len(contacts)


def import_contacts(
    connection: Connection,
    client: BrevoClient | None,
    contacts: list[Contact],
    summary: PushSummary,
    *,
    sync_run: SyncRun | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Contact]:
    """Import what can be imported; return the contacts left for one-by-one upserts.

    Every chunk's import is sent before any is polled, so they are waited for together (one
    2 s poll round, not one per chunk). The contacts stay locked until their imports have ended,
    so no other pusher can send an older or newer state in between.
    """
    assert client is not None
    groups: dict[tuple[int, ...], list[Contact]] = defaultdict(list)
    rest: list[Contact] = []
    for contact in contacts:
        if contact.list_ids and not contact.unlink_list_ids and contact.desired_hash != contact.pushed_hash:
            groups[tuple(sorted(contact.list_ids))].append(contact)
        else:
            rest.append(contact)
    if not groups:
        return rest
    wanted = {c.pk: c.desired_hash for members in groups.values() for c in members}
    refused: list[tuple[list[Contact], tuple[int, ...]]] = []  # the chunk whose import Brevo's key refused
    try:
        return _import_locked(connection, client, groups, wanted, rest, refused, summary, sync_run, progress)
    except BrevoAuthError as err:
        # Logged after the lock's transaction was rolled back (PostgreSQL), so the rows survive it.
        for chunk, list_ids in refused:
            record_many(
                connection,
                chunk,
                "import",
                ContactSyncLog.Status.ERROR,
                message=str(err),
                list_ids=list_ids,
                http_status=err.status,
                sync_run=sync_run,
            )
        raise


def _import_locked(
    connection: Connection,
    client: BrevoClient,
    groups: dict[tuple[int, ...], list[Contact]],
    wanted: dict[int, str],
    rest: list[Contact],
    refused: list[tuple[list[Contact], tuple[int, ...]]],
    summary: PushSummary,
    sync_run: SyncRun | None,
    progress: Callable[[int], None] | None,
) -> list[Contact]:
    with locked_contacts(wanted) as locked:  # locked while Brevo imports them
        current = {c.pk: c for c in locked}
        started: list[tuple[list[Contact], tuple[int, ...], int]] = []
        for list_ids, members in groups.items():
            for start in range(0, len(members), IMPORT_CHUNK):
                rows = [current[c.pk] for c in members[start : start + IMPORT_CHUNK] if c.pk in current]
                # A contact whose projection moved on since it was listed goes the single way, with its new state.
                chunk = [c for c in rows if c.desired_hash == wanted[c.pk] and c.dirty]
                rest.extend(c for c in rows if c.dirty and c.desired_hash != wanted[c.pk])
                if not chunk:
                    continue
                try:
                    process_id = client.import_contacts(
                        [{"email": c.email, "attributes": c.attributes} for c in chunk],
                        list(list_ids),
                        update_existing=True,
                    )
                except BrevoAuthError:
                    refused.append((chunk, list_ids))
                    raise
                except BrevoError as err:
                    log.warning(
                        "bulk import of %d contacts failed (%s); falling back to single upserts", len(chunk), err
                    )
                    rest.extend(chunk)
                    continue
                started.append((chunk, list_ids, process_id))
        if not started:
            return rest
        try:
            outcomes = client.wait_for_processes(
                [pid for _, _, pid in started], poll_interval=2.0, timeout=IMPORT_TIMEOUT
            )
        except BrevoAuthError:
            raise
        except BrevoError as err:
            # The imports may still land: sending these contacts now could be overtaken by an older
            # state. They stay dirty and go again after a backoff, by when the imports have ended.
            log.warning("polling %d bulk imports failed (%s); their contacts go again later", len(started), err)
            for chunk, list_ids, _ in started:
                _retry_later(connection, chunk, list_ids, f"could not follow Brevo import: {err}", summary, sync_run)
            return rest
        for chunk, list_ids, process_id in started:
            rest.extend(
                _record_import(
                    connection, chunk, list_ids, process_id, outcomes[process_id], summary, sync_run, progress
                )
            )
    return rest


def _record_import(
    connection: Connection,
    chunk: list[Contact],
    list_ids: tuple[int, ...],
    process_id: int,
    outcome: dict[str, Any] | BrevoError,
    summary: PushSummary,
    sync_run: SyncRun | None,
    progress: Callable[[int], None] | None,
) -> list[Contact]:
    """Record one finished import; returns the contacts to send one by one instead."""
    if isinstance(outcome, BrevoError):
        if outcome.code == "timeout":  # still running: it may land later, so no single upserts now
            log.warning(
                "bulk import %s of %d contacts has not ended (%s); they go again later", process_id, len(chunk), outcome
            )
            _retry_later(connection, chunk, list_ids, str(outcome), summary, sync_run)
            return []
        log.warning(
            "bulk import %s of %d contacts failed (%s); falling back to single upserts", process_id, len(chunk), outcome
        )
        return chunk
    info = (outcome.get("info") or {}).get("import") or {}
    problems = {
        k: v for k, v in info.items() if v and any(word in k for word in ("invalid", "duplicate", "missing", "skipped"))
    }
    if problems:
        # An import only counts its rejected rows; it does not say which. Rather than lose a
        # person, send this chunk again one by one: upserts are idempotent, and the single path
        # knows how to retry without a rejected phone number.
        log.warning("import %s rejected rows %s; resending %d contacts one by one", process_id, problems, len(chunk))
        return chunk
    record_many(
        connection,
        chunk,
        "import",
        ContactSyncLog.Status.OK,
        message=f"imported in process {process_id}",
        list_ids=list_ids,
        sync_run=sync_run,
    )
    mark_pushed_many({c.pk: c.desired_hash for c in chunk})
    new = info.get("new_contacts")
    if isinstance(new, int) and 0 <= new <= len(chunk):
        summary.created += new
        summary.updated += len(chunk) - new
    else:
        summary.updated += len(chunk)
    if progress:
        progress(len(chunk))
    return []
