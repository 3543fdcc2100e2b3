"""Bulk writes for large backfills: Brevo's asynchronous contact import instead of one call each.

An import needs a destination list and cannot remove list memberships or clear an attribute, so
contacts without lists, with removals or letting an SMS number go go one by one. Brevo's report of
a finished import does not say which rows it rejected (per reason a count, or a URL to a CSV file,
depending on the account and the documentation one reads), and does not always say that it
rejected any. So after every import the connector reads back what Brevo now holds —
``GET /contacts?modifiedSince=<just before the import>``, one call per 1,000 contacts, in the
contacts bucket (10/s) rather than the 100-an-hour one of ``/processes`` — and only the rows that
did not land (absent, or without the SMS number they carried) go again one by one, where a refused
number is looked into and dropped with a warning (:mod:`calendly_sync.push.contacts`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from calendly_sync.brevo.client import READ_BACK_PAGE, BrevoClient, process_outcome
from calendly_sync.brevo.errors import BrevoAuthError, BrevoError
from calendly_sync.models import Connection, Contact, ContactSyncLog, ImportNotice, SyncRun
from calendly_sync.push import notices as import_notices
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
READ_BACK_MARGIN = timedelta(minutes=2)  # read back from this long before the first import (clock skew)
READ_BACK_SLACK_PAGES = 3  # pages of other contacts' changes tolerated before giving up reading back
# Following an import: GET /processes/{id} is in Brevo's bucket of 100 requests an hour for every
# endpoint its rate-limit table does not list (https://developers.brevo.com/docs/api-limits,
# "General rate limits"; /contacts has 10 requests/s), so the polls are few and spaced out. Brevo
# queues an import before running it, so the first poll waits FIRST_POLL seconds instead of
# asking at once; then every POLL_INTERVAL × POLL_GROWTH^n: at 0.5, 1.5, 3.5, 7.5, 15.5 s … — an
# import of up to ~7 s costs at most the 4 polls push.contacts.POLLS_PER_IMPORT budgets, as the
# earlier schedule (at once, 2, 5, 9.5 s) did, and a small one (the drain's) is seen done sooner.
FIRST_POLL = 0.5
POLL_INTERVAL = 1.0
POLL_GROWTH = 2.0
# With BREVO_IMPORT_NOTIFY, Brevo calls the connector back when an import ends (push.notices): the
# pusher waits on the notices in the database and then reads each import with one GET /processes.
clock = time.monotonic
sleep = time.sleep  # the waits between reads of the notices (real time: the callback is a real request)


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _landed(contact: Contact, seen: dict[str, dict[str, Any]]) -> bool:
    """Did this row reach Brevo? Its contact was modified since the import began and holds the SMS
    number the row carried (a row refused for its number is left out whole, or — on a Brevo that
    imports it without the number — lands without it)."""
    view = seen.get(contact.email.lower())
    if view is None:
        return False
    sent = (contact.attributes or {}).get("SMS")
    if isinstance(sent, str) and sent:
        return _digits((view.get("attributes") or {}).get("SMS")) == _digits(sent)
    return True


def _read_back(client: BrevoClient, since: datetime, rows: int) -> dict[str, dict[str, Any]] | None:
    """Email → what Brevo holds, for every contact modified since ``since``; None when unknown."""
    pages = -(-rows // READ_BACK_PAGE) + READ_BACK_SLACK_PAGES
    try:
        views = client.contacts_modified_since(since, max_pages=pages)
    except BrevoAuthError:
        raise
    except BrevoError as err:
        log.warning("reading back %d imported contacts failed (%s); trusting the import's report", rows, err)
        return None
    if views is None:
        log.warning("more than %d pages of contacts changed since the import began; trusting its report", pages)
        return None
    return {str(v["email"]).lower(): v for v in views if v.get("email")}


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
        if (
            contact.list_ids
            and not contact.unlink_list_ids
            and contact.desired_hash != contact.pushed_hash
            and (contact.attributes or {}).get("SMS") != ""  # letting a number go: an import cannot clear it
        ):
            groups[tuple(sorted(contact.list_ids))].append(contact)
        else:
            rest.append(contact)
    if not groups:
        return rest
    since = timezone.now() - READ_BACK_MARGIN
    wanted = {c.pk: c.desired_hash for members in groups.values() for c in members}
    refused: list[tuple[list[Contact], tuple[int, ...]]] = []  # the chunk whose import Brevo's key refused
    # Committed before the contacts are locked (on PostgreSQL in a transaction the endpoint could not see into).
    chunks = sum(-(-len(members) // IMPORT_CHUNK) for members in groups.values())
    notices = import_notices.open_notices(connection, chunks) if import_notices.usable() else []
    try:
        return _import_locked(
            connection, client, groups, wanted, rest, refused, summary, sync_run, progress, since, notices
        )
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
    finally:
        if notices:
            import_notices.close(notices)


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
    since: datetime,
    notices: list[ImportNotice],
) -> list[Contact]:
    spare = list(notices)
    followed: dict[int, ImportNotice] = {}  # process id → its notice
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
                notice = spare.pop() if spare else None
                try:
                    process_id = client.import_contacts(
                        [{"email": c.email, "attributes": c.attributes} for c in chunk],
                        list(list_ids),
                        update_existing=True,
                        notify_url=import_notices.notify_url(notice) if notice else None,
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
                if notice is not None:
                    followed[process_id] = notice
        if not started:
            return rest
        try:
            outcomes = _follow(client, [pid for _, _, pid in started], followed)
        except BrevoAuthError:
            raise
        except BrevoError as err:
            # The imports may still land: sending these contacts now could be overtaken by an older
            # state. They stay dirty and go again after a backoff, by when the imports have ended.
            log.warning("polling %d bulk imports failed (%s); their contacts go again later", len(started), err)
            for chunk, list_ids, _ in started:
                _retry_later(connection, chunk, list_ids, f"could not follow Brevo import: {err}", summary, sync_run)
            return rest
        finished = sum(len(chunk) for chunk, _, pid in started if not isinstance(outcomes[pid], BrevoError))
        seen = _read_back(client, since, finished) if finished else None
        for chunk, list_ids, process_id in started:
            rest.extend(
                _record_import(
                    connection,
                    chunk,
                    list_ids,
                    process_id,
                    outcomes[process_id],
                    summary,
                    sync_run,
                    progress,
                    seen=seen,
                    since=since,
                )
            )
    return rest


def _follow(
    client: BrevoClient, process_ids: list[int], followed: dict[int, ImportNotice]
) -> dict[int, dict[str, Any] | BrevoError]:
    """Wait until these imports have ended: woken by their notices where they have one, else polled.

    A woken import is read with one ``GET /processes/{id}`` (the wake-up's body is never read); if
    Brevo does not say it ended, it is polled like the others. An import whose wake-up has not come
    after ``push.notices.NOTICE_WAIT`` seconds is polled too.
    """
    outcomes: dict[int, dict[str, Any] | BrevoError] = {}
    polled = [pid for pid in process_ids if pid not in followed]
    waiting = dict(followed)
    deadline = clock() + import_notices.NOTICE_WAIT
    while waiting:
        woken = import_notices.woken(waiting.values())
        late = clock() >= deadline
        for pid, notice in list(waiting.items()):
            if notice.pk not in woken and not late:
                continue
            del waiting[pid]
            outcome = process_outcome(pid, client.get_process(pid))
            if outcome is None:
                polled.append(pid)  # woken (or late) but not ended: polled from here
                continue
            if notice.pk not in woken:
                import_notices.missed()  # it had ended, and no wake-up came
            outcomes[pid] = outcome
        if waiting:
            sleep(import_notices.NOTICE_CHECK)
    if polled:
        outcomes.update(
            client.wait_for_processes(
                polled,
                first_poll=POLL_INTERVAL if followed else FIRST_POLL,  # a followed one was read just now
                poll_interval=POLL_INTERVAL,
                growth=POLL_GROWTH,
                timeout=IMPORT_TIMEOUT,
            )
        )
    return outcomes


def _record_import(
    connection: Connection,
    chunk: list[Contact],
    list_ids: tuple[int, ...],
    process_id: int,
    outcome: dict[str, Any] | BrevoError,
    summary: PushSummary,
    sync_run: SyncRun | None,
    progress: Callable[[int], None] | None,
    *,
    seen: dict[str, dict[str, Any]] | None = None,
    since: datetime | None = None,
) -> list[Contact]:
    """Record one finished import; returns the contacts to send one by one instead.

    ``seen``: what Brevo holds now (read back after the imports), which tells the rows that landed
    from those it rejected; without it, a report that counts any rejected row sends the whole chunk
    again one by one (upserts are idempotent), so nobody is silently lost.
    """
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
    if seen is not None:
        landed = [c for c in chunk if _landed(c, seen)]
        rejected = [c for c in chunk if not _landed(c, seen)]
        if rejected:
            log.warning(
                "import %s: %d of %d rows did not land (report: %s); sending those one by one",
                process_id,
                len(rejected),
                len(chunk),
                ", ".join(sorted(problems)) or "no problem reported",
            )
        _record_landed(connection, landed, list_ids, process_id, seen, since, summary, sync_run, progress)
        return rejected
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


def _record_landed(
    connection: Connection,
    landed: list[Contact],
    list_ids: tuple[int, ...],
    process_id: int,
    seen: dict[str, dict[str, Any]],
    since: datetime | None,
    summary: PushSummary,
    sync_run: SyncRun | None,
    progress: Callable[[int], None] | None,
) -> None:
    if not landed:
        return
    record_many(
        connection,
        landed,
        "import",
        ContactSyncLog.Status.OK,
        message=f"imported in process {process_id}",
        list_ids=list_ids,
        sync_run=sync_run,
    )
    mark_pushed_many({c.pk: c.desired_hash for c in landed})
    created = 0
    if since is not None:
        for c in landed:
            stamp = str(seen[c.email.lower()].get("createdAt") or "")
            with contextlib.suppress(ValueError):
                created += datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= since
    summary.created += created
    summary.updated += len(landed) - created
    if progress:
        progress(len(landed))
