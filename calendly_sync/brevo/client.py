"""A thin, typed Brevo v3 client over ``requests``.

Why not the official SDK: the connector needs ~10 endpoints and must see exact statuses (201 vs 204
on upsert), the ``x-sib-ratelimit-*`` headers and Brevo's error bodies verbatim; the generated SDK
hides or retries those (see shared/reference/brevo-api.md §9). Framework-free on purpose: the
Django side passes ``api_key``/``base_url`` in.

Behaviour worth knowing:

* Pacing: Brevo allows 10 requests/second on ``/contacts*`` and on ``/events`` (§7). A per-bucket
  :class:`~calendly_sync.brevo.pacing.Pacer` spaces calls so a sync loop never trips the limit.
* Retries: 429 waits for ``x-sib-ratelimit-reset`` (or backs off with jitter); 425/5xx/timeouts back
  off with jitter. All bounded by :class:`~calendly_sync.http.RetryPolicy`; the longest a request
  can take is :attr:`BrevoClient.worst_case_request_seconds`.
* Requests that are not safe to repeat (``POST /events``, ``POST /events/batch``, list and folder
  creation: ``replay_safe=False``) are sent again only when Brevo surely did not apply them: a
  connection that was never made, or an answer that says so (429, 425, 5xx other than 504). After
  a read timeout, a connection broken once the request was sent, or a gateway's 504, Brevo may
  have applied it: the client raises :class:`~calendly_sync.brevo.errors.BrevoOutcomeUnknown`
  instead of sending it twice. Upserts, updates and list membership are desired state: repeating
  them is harmless, so they are retried after a read timeout too.
* 204 responses have no body and are never parsed.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from calendly_sync.brevo.errors import (
    BrevoError,
    BrevoOutcomeUnknown,
    BrevoTransportError,
    BrevoValidationError,
    error_from_response,
)
from calendly_sync.brevo.pacing import ClientStats, HourlyBudget, Pacer, bucket_for
from calendly_sync.http import DEFAULT_TIMEOUT, RetryPolicy, header_seconds, new_session

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.brevo.com/v3"
LIST_CONTACTS_PAGE_SIZE = 500  # documented maximum limit of GET /contacts/lists/{id}/contacts
LIST_BATCH_SIZE = 150  # documented maxItems for /contacts/lists/{id}/contacts/add|remove
PAGE_SIZE = 50  # documented max ``limit`` for lists and folders
READ_BACK_PAGE = 1000  # documented max ``limit`` of GET /contacts
MAX_IMPORT_BYTES = 10 * 1024 * 1024  # documented jsonBody/fileBody limit
TERMINAL_OK = {"completed"}
TERMINAL_FAILED = {"failed", "cancelled", "canceled"}
# A gateway that gave up waiting for Brevo (its own read timeout): Brevo may have applied the request.
OUTCOME_UNKNOWN_STATUSES = frozenset({504})
DEFAULT_RETRY = RetryPolicy()
# The longest one request of a client with the default policy and timeouts can take (775 s).
DEFAULT_WORST_CASE_REQUEST_SECONDS = DEFAULT_RETRY.worst_case_seconds(DEFAULT_TIMEOUT)
_ATTRIBUTE_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of ``POST /contacts`` with ``updateEnabled``: 201 carries an id, 204 carries nothing."""

    created: bool
    id: int | None


def _normalise_email(email: str) -> str:
    if not isinstance(email, str) or not email.strip():
        raise ValueError("email must be a non-empty string")
    return email.strip().lower()


def _normalise_attributes(attributes: Mapping[str, Any] | None, *, allow_email: bool = False) -> dict[str, Any]:
    """Upper-case keys (Brevo silently drops mis-cased ones) and refuse ``EMAIL`` where it is a trap.

    Brevo answers 400 when ``attributes.EMAIL`` equals the contact's own address (§2.2/§10.8), so
    upserts must never carry it; only an explicit rename via ``update_contact`` may.
    """
    result: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        name = str(key).strip().upper()
        if name == "EMAIL" and not allow_email:
            raise ValueError("never send EMAIL inside attributes on upsert; pass the address as `email`")
        if name in result:
            raise ValueError(f"attribute {name} given twice with different case")
        if isinstance(value, datetime):
            value = value.date().isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        result[name] = value
    return result


def _int_list(values: Iterable[int] | None, name: str) -> list[int] | None:
    """Brevo rejects non-integer list ids ("listIds/0 should be type number"); fail before sending."""
    if values is None:
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{name} must be integers, got {v!r}")
        out.append(v)
    return out


class BrevoClient:
    """Brevo v3 API client with pacing, bounded retries and typed errors (see module docstring)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        requests_per_second: float | None = 10.0,
        other_requests_per_hour: int | None = 100,
        clock: Callable[[], float] = time.monotonic,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a Brevo API key is required")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.session = session or new_session("brevo")
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.pacer = Pacer(requests_per_second, clock=clock, sleep=sleep)
        self.other_budget = HourlyBudget(other_requests_per_hour, clock=clock)
        self.stats = ClientStats()

    def __repr__(self) -> str:  # never show the key
        return f"BrevoClient(base_url={self.base_url!r}, api_key='{self._api_key[:8]}***')"

    @property
    def worst_case_request_seconds(self) -> float:
        """The longest one call of this client can take, retries and waits included."""
        return self.retry.worst_case_seconds(self.timeout)

    # -- transport ----------------------------------------------------------------------------
    @property
    def _headers(self) -> dict[str, str]:
        return {"api-key": self._api_key, "accept": "application/json", "content-type": "application/json"}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        replay_safe: bool = True,
    ) -> requests.Response:
        """Send one logical request: pace, retry transient failures, raise typed errors.

        ``replay_safe=False`` for a request whose repetition repeats its effect (an event): it is
        sent again only when Brevo surely did not apply it (see the module docstring).
        """
        bucket = bucket_for(path.split("?", 1)[0])
        url = self.base_url + path
        attempt = 0
        while True:
            if self.pacer.acquire(bucket) > 0:
                self.stats.incr("paced")
            self.stats.incr("calls")
            if bucket == "other":
                self.other_budget.spend()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=None if json_body is None else json.dumps(json_body),
                    headers=self._headers,
                    timeout=self.timeout,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                if not replay_safe and not _never_sent(exc):
                    raise BrevoOutcomeUnknown(
                        f"{type(exc).__name__} after the request was sent: Brevo may have applied it, "
                        "so it was not sent again",
                        method=method,
                        path=path,
                    ) from exc
                if attempt < self.retry.max_retries:
                    attempt += 1
                    wait = self.retry.backoff(attempt, self._rng)
                    log.warning(
                        "Brevo %s %s%s: %s; retry %d in %.2fs",
                        method,
                        self.base_url,
                        path,
                        type(exc).__name__,
                        attempt,
                        wait,
                    )
                    self._retry_after(bucket, wait)
                    continue
                raise BrevoTransportError(
                    f"{type(exc).__name__} after {attempt + 1} attempts: {exc}",
                    method=method,
                    path=path,
                    host=self.base_url,
                ) from exc

            status = resp.status_code
            if bucket == "other":
                remaining = resp.headers.get("x-sib-ratelimit-remaining")
                self.other_budget.observe(
                    int(remaining) if remaining and remaining.strip().isdigit() else None,
                    header_seconds(resp.headers, "x-sib-ratelimit-reset"),
                )
            if status < 400:
                return resp
            body = _body(resp)
            if not replay_safe and status in OUTCOME_UNKNOWN_STATUSES:
                raise BrevoOutcomeUnknown(
                    f"HTTP {status} (a gateway timed out waiting for Brevo): Brevo may have applied it, "
                    "so it was not sent again",
                    status=status,
                    method=method,
                    path=path.split("?", 1)[0],
                    request_id=resp.headers.get("sib-request-id"),
                    body=body,
                )
            reset = header_seconds(resp.headers, "x-sib-ratelimit-reset", "retry-after") if status == 429 else None
            if status == 429:
                self.stats.incr("rate_limited")
            retryable = status in (425, 429) or status >= 500
            too_long = reset is not None and reset > self.retry.max_rate_limit_wait
            if retryable and attempt < self.retry.max_retries and not too_long:
                attempt += 1
                wait = reset if reset is not None else self.retry.backoff(attempt, self._rng)
                log.warning("Brevo %s %s -> %d; retry %d in %.2fs", method, path, status, attempt, wait)
                self._retry_after(bucket, wait)
                continue
            raise error_from_response(
                status,
                body,
                method=method,
                path=path.split("?", 1)[0],
                request_id=resp.headers.get("sib-request-id"),
                reset=reset,
            )

    def _retry_after(self, bucket: str, wait: float) -> None:
        """Push the bucket back by ``wait``; the next ``acquire`` does the (injected) sleeping."""
        self.stats.incr("retries")
        self.pacer.defer(bucket, wait)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        return _body(resp)

    # -- contacts -----------------------------------------------------------------------------
    def upsert_contact(
        self,
        email: str,
        attributes: Mapping[str, Any] | None = None,
        list_ids: Iterable[int] | None = None,
        ext_id: str | None = None,
    ) -> UpsertResult:
        """Create or update a contact by email (``POST /contacts`` with ``updateEnabled``).

        201 → ``created=True`` with the new id; 204 → updated, Brevo returns no id (§10.3).
        """
        body: dict[str, Any] = {"email": _normalise_email(email), "updateEnabled": True}
        attrs = _normalise_attributes(attributes)
        if attrs:
            body["attributes"] = attrs
        ids = _int_list(list_ids, "list_ids")
        if ids:
            body["listIds"] = ids
        if ext_id is not None:
            body["ext_id"] = str(ext_id)
        resp = self._request("POST", "/contacts", json_body=body)
        if resp.status_code == 201:
            data = _body(resp)
            return UpsertResult(created=True, id=data.get("id") if isinstance(data, dict) else None)
        return UpsertResult(created=False, id=None)

    @staticmethod
    def _contact_path(email: str) -> str:
        # quote(safe="") turns "@" into %40 and "+" into %2B so a plus-address survives (§2.2).
        return f"/contacts/{quote(_normalise_email(email), safe='')}"

    def get_contact(self, email: str) -> dict[str, Any]:
        """``GET /contacts/{email}``; raises :class:`BrevoNotFound` for an unknown address."""
        contact: dict[str, Any] = self._json("GET", self._contact_path(email), params={"identifierType": "email_id"})
        return contact

    def contact_holding_sms(self, number: str) -> dict[str, Any]:
        """``GET /contacts/{number}?identifierType=phone_id``: the contact Brevo holds this SMS number
        on; raises :class:`BrevoNotFound` when nobody holds it."""
        path = f"/contacts/{quote(str(number).strip(), safe='')}"
        contact: dict[str, Any] = self._json("GET", path, params={"identifierType": "phone_id"})
        return contact

    def contacts_modified_since(self, since: datetime, *, max_pages: int | None = None) -> list[dict[str, Any]] | None:
        """Every contact modified at or after ``since`` (``GET /contacts?modifiedSince=…``, 1,000 a page,
        oldest first), or ``None`` when there are more than ``max_pages`` pages of them.

        Brevo moves a contact's modification date on any update, so this reads back what an import
        just wrote for the price of one call per 1,000 contacts, in the contacts bucket (10/s)
        rather than the 100-an-hour one of ``/processes``.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
        items: list[dict[str, Any]] = []
        offset = pages = 0
        while True:
            if max_pages is not None and pages >= max_pages:
                return None
            params = {"modifiedSince": stamp, "limit": READ_BACK_PAGE, "offset": offset, "sort": "asc"}
            data = self._json("GET", "/contacts", params=params) or {}
            pages += 1
            page = list(data.get("contacts") or [])
            items.extend(page)
            offset += len(page)
            if len(page) < READ_BACK_PAGE or offset >= int(data.get("count") or 0):
                return items

    def update_contact(
        self,
        email: str,
        attributes: Mapping[str, Any] | None = None,
        list_ids: Iterable[int] | None = None,
        unlink_list_ids: Iterable[int] | None = None,
        *,
        ext_id: str | None = None,
    ) -> None:
        """``PUT /contacts/{email}``: update only (404 for unknown). ``attributes.EMAIL`` renames."""
        body: dict[str, Any] = {}
        attrs = _normalise_attributes(attributes, allow_email=True)
        if attrs:
            body["attributes"] = attrs
        ids = _int_list(list_ids, "list_ids")
        if ids:
            body["listIds"] = ids
        unlink = _int_list(unlink_list_ids, "unlink_list_ids")
        if unlink:
            body["unlinkListIds"] = unlink
        if ext_id is not None:
            body["ext_id"] = str(ext_id)
        self._request("PUT", self._contact_path(email), params={"identifierType": "email_id"}, json_body=body)

    def delete_contact(self, email: str) -> None:
        """``DELETE /contacts/{email}?identifierType=email_id``: 204; :class:`BrevoNotFound` for an unknown address.

        Brevo's documented identifier is the URL-encoded address; ``identifierType`` says it is one,
        so an address made of digits is never taken for a contact id.
        """
        self._request("DELETE", self._contact_path(email), params={"identifierType": "email_id"})

    def _list_membership(self, list_id: int, emails: Iterable[str], action: str) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {"success": [], "failure": []}
        unique = list(dict.fromkeys(_normalise_email(e) for e in emails))
        for start in range(0, len(unique), LIST_BATCH_SIZE):
            chunk = unique[start : start + LIST_BATCH_SIZE]
            try:
                path = f"/contacts/lists/{int(list_id)}/contacts/{action}"
                data = self._json("POST", path, json_body={"emails": chunk})
            except BrevoValidationError as err:
                # "nothing could be added": already members or unknown contacts. Idempotent, not fatal.
                if "already" in err.message.lower() and "does not exist" in err.message.lower():
                    result["failure"].extend(chunk)
                    continue
                raise
            contacts = (data or {}).get("contacts", {}) if isinstance(data, dict) else {}
            result["success"].extend(contacts.get("success", []))
            result["failure"].extend(contacts.get("failure", []))
        return result

    def add_contacts_to_list(self, list_id: int, emails: Iterable[str]) -> dict[str, list[str]]:
        """Add existing contacts to a list, 150 per call. Failures = already in list or unknown.

        Brevo's 400 "Contact already in list and/or does not exist" becomes an all-failure chunk.
        """
        return self._list_membership(list_id, emails, "add")

    def list_attributes(self) -> list[dict[str, Any]]:
        """All contact attributes in the account (``name``, ``category``, ``type``…)."""
        data = self._json("GET", "/contacts/attributes")
        return list((data or {}).get("attributes", []))

    def create_attribute(
        self,
        name: str,
        type: str = "text",
        category: str = "normal",
        *,
        enumeration: list[dict[str, Any]] | None = None,
    ) -> None:
        """``POST /contacts/attributes/{category}/{NAME}`` → 201. Already existing → BrevoValidationError."""
        upper = name.strip().upper()
        if not _ATTRIBUTE_NAME_RE.match(upper):
            raise ValueError(f"attribute names must match {_ATTRIBUTE_NAME_RE.pattern}: {name!r}")
        body: dict[str, Any] = {"type": type}
        if enumeration is not None:
            body["enumeration"] = enumeration
        self._request("POST", f"/contacts/attributes/{quote(category, safe='')}/{upper}", json_body=body)

    # -- lists and folders --------------------------------------------------------------------
    def _paged(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self._json("GET", path, params={"limit": PAGE_SIZE, "offset": offset}) or {}
            page = list(data.get(key) or [])
            items.extend(page)
            offset += len(page)
            if not page or len(page) < PAGE_SIZE or offset >= int(data.get("count") or 0):
                return items

    def get_list(self, list_id: int) -> dict[str, Any]:
        """``GET /contacts/lists/{listId}``; raises :class:`BrevoNotFound` for an unknown list."""
        return self._json("GET", f"/contacts/lists/{int(list_id)}") or {}

    def iter_list_contacts(self, list_id: int, *, page_size: int = LIST_CONTACTS_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every contact of a list (``GET /contacts/lists/{listId}/contacts``), page by page.

        Brevo pages with ``limit`` (at most 500) and ``offset``; the answer's ``count`` is the list's
        size. An unknown list raises :class:`BrevoNotFound`.
        """
        offset = 0
        while True:
            params = {"limit": page_size, "offset": offset, "sort": "asc"}
            data = self._json("GET", f"/contacts/lists/{int(list_id)}/contacts", params=params) or {}
            page = list(data.get("contacts") or [])
            yield from page
            offset += len(page)
            if not page or len(page) < page_size or offset >= int(data.get("count") or 0):
                return

    def list_lists(self) -> list[dict[str, Any]]:
        """Every contact list, fetched in pages of 50 (the documented maximum)."""
        return self._paged("/contacts/lists", "lists")

    def create_list(self, name: str, folder_id: int) -> int:
        """``POST /contacts/lists`` → new list id."""
        data = self._json(
            "POST", "/contacts/lists", json_body={"name": name, "folderId": int(folder_id)}, replay_safe=False
        )
        return int(data["id"])

    def list_folders(self) -> list[dict[str, Any]]:
        """Every contact folder, in pages of 50."""
        return self._paged("/contacts/folders", "folders")

    def create_folder(self, name: str) -> int:
        """``POST /contacts/folders`` → new folder id."""
        data = self._json("POST", "/contacts/folders", json_body={"name": name}, replay_safe=False)
        return int(data["id"])

    # -- events -------------------------------------------------------------------------------
    @staticmethod
    def build_event(
        event_name: str,
        *,
        email: str,
        event_date: datetime | str | None = None,
        event_properties: Mapping[str, Any] | None = None,
        contact_properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``/events`` payload for one event identified by email (also usable in batches)."""
        body: dict[str, Any] = {"event_name": event_name, "identifiers": {"email_id": _normalise_email(email)}}
        if event_date is not None:
            body["event_date"] = event_date.isoformat() if isinstance(event_date, datetime) else str(event_date)
        if event_properties:
            body["event_properties"] = dict(event_properties)
        if contact_properties:
            body["contact_properties"] = _normalise_attributes(contact_properties)
        return body

    def send_event(
        self,
        event_name: str,
        *,
        email: str,
        event_date: datetime | str | None = None,
        event_properties: Mapping[str, Any] | None = None,
        contact_properties: Mapping[str, Any] | None = None,
    ) -> None:
        """``POST /events`` (204). Upsert the contact first: auto-creation by events is unconfirmed.

        Never sent twice by the client: after a read timeout it raises
        :class:`~calendly_sync.brevo.errors.BrevoOutcomeUnknown` (Brevo has no idempotency key for events).
        """
        body = self.build_event(
            event_name,
            email=email,
            event_date=event_date,
            event_properties=event_properties,
            contact_properties=contact_properties,
        )
        self._request("POST", "/events", json_body=body, replay_safe=False)

    def send_events_batch(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /events/batch``: 202 ``{message, count}`` or 207 partial report (returned as-is).

        Not sent twice after a lost answer either (:class:`~calendly_sync.brevo.errors.BrevoOutcomeUnknown`).
        """
        if not events:
            return {"message": "nothing to send", "count": 0}
        return self._json("POST", "/events/batch", json_body={"events": list(events)}, replay_safe=False) or {}

    # -- imports ------------------------------------------------------------------------------
    def import_contacts(
        self,
        contacts: list[dict[str, Any]],
        list_ids: Iterable[int],
        *,
        update_existing: bool = True,
        empty_contacts_attributes: bool = False,
        notify_url: str | None = None,
    ) -> int:
        """Start an asynchronous ``POST /contacts/import``; returns the processId to poll.

        Each contact is ``{"email": ..., "attributes": {...}}`` (optionally ``ext_id``).
        ``notify_url``: Brevo calls it once the import has ended (what it sends is not documented).
        """
        rows = []
        for contact in contacts:
            row: dict[str, Any] = {"email": _normalise_email(contact["email"])}
            attrs = _normalise_attributes(contact.get("attributes"))
            if attrs:
                row["attributes"] = attrs
            if contact.get("ext_id") is not None:
                row["ext_id"] = str(contact["ext_id"])
            rows.append(row)
        ids = _int_list(list_ids, "list_ids")
        if not ids:
            raise ValueError("Brevo imports need at least one destination list id")
        body = {
            "jsonBody": rows,
            "listIds": ids,
            "updateExistingContacts": bool(update_existing),
            "emptyContactsAttributes": bool(empty_contacts_attributes),
        }
        if notify_url:
            body["notifyUrl"] = notify_url
        if len(json.dumps(body)) > MAX_IMPORT_BYTES:
            raise ValueError("import body exceeds Brevo's 10 MB limit; split it")
        data = self._json("POST", "/contacts/import", json_body=body)
        return int(data["processId"])

    def get_process(self, process_id: int) -> dict[str, Any]:
        """``GET /processes/{id}``. Note: this sits in Brevo's 100 requests/hour bucket."""
        return self._json("GET", f"/processes/{int(process_id)}") or {}

    def wait_for_process(
        self,
        process_id: int,
        *,
        poll_interval: float = 2.0,
        timeout: float = 600,
        max_poll_interval: float = 60.0,
    ) -> dict[str, Any]:
        """Poll until the process completes; raises :class:`BrevoError` if it fails or times out."""
        outcome = self.wait_for_processes(
            [process_id], poll_interval=poll_interval, timeout=timeout, max_poll_interval=max_poll_interval
        )[process_id]
        if isinstance(outcome, BrevoError):
            raise outcome
        return outcome

    def wait_for_processes(
        self,
        process_ids: list[int],
        *,
        poll_interval: float = 2.0,
        timeout: float = 600,
        max_poll_interval: float = 60.0,
        first_poll: float = 0.0,
        growth: float = 1.5,
    ) -> dict[int, dict[str, Any] | BrevoError]:
        """Poll several processes in rounds until each has ended: its process, or the error it ended with.

        One sleep per round for all of them, so imports sent together are waited for together.
        The first round after ``first_poll`` seconds; then the interval starts at ``poll_interval``
        and grows ×``growth`` up to ``max_poll_interval``, because ``/processes`` is limited to
        100 requests/hour. Elapsed time counts both the clock and the requested sleeps, so an
        injected no-op sleep still times out deterministically. A failing poll (after the
        client's own retries) raises.
        """
        start = self._clock()
        waited = 0.0
        interval = poll_interval
        if first_poll > 0:
            self._sleep(first_poll)
            waited += first_poll
        outcomes: dict[int, dict[str, Any] | BrevoError] = {}
        waiting = list(dict.fromkeys(int(pid) for pid in process_ids))
        last: dict[int, dict[str, Any]] = {}
        while waiting:
            for process_id in list(waiting):
                process = last[process_id] = self.get_process(process_id)
                outcome = process_outcome(process_id, process)
                if outcome is None:
                    continue
                outcomes[process_id] = outcome
                waiting.remove(process_id)
            if not waiting:
                break
            elapsed = max(self._clock() - start, waited)
            if elapsed + interval > timeout:
                for process_id in waiting:
                    status = str(last[process_id].get("status", "")).lower()
                    outcomes[process_id] = BrevoError(
                        f"process {process_id} still {status!r} after {elapsed:.0f}s",
                        code="timeout",
                        metadata={"process": last[process_id]},
                        method="GET",
                        path=f"/processes/{process_id}",
                    )
                break
            self._sleep(interval)
            waited += interval
            interval = min(max_poll_interval, interval * growth)
        return outcomes


def process_outcome(process_id: int, process: dict[str, Any]) -> dict[str, Any] | BrevoError | None:
    """What a ``GET /processes/{id}`` answer says: the process if it completed, the error it ended
    with if it failed, or None while it is still queued or running."""
    status = str(process.get("status", "")).lower()
    if status in TERMINAL_OK:
        return process
    if status in TERMINAL_FAILED:
        return BrevoError(
            f"process {process_id} ended with status {status!r}: {process.get('error')!r}",
            code=status,
            metadata={"process": process},
            method="GET",
            path=f"/processes/{process_id}",
        )
    return None


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request surely never reached Brevo: no connection was ever made.

    A connect timeout, a refused connection or a name that did not resolve: safe to send again.
    Anything later (a read timeout, a connection reset mid-answer) may follow Brevo applying it.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the underlying error
    return isinstance(cause, NewConnectionError)


def _body(resp: requests.Response) -> Any:
    """Parsed JSON, or the raw text for non-JSON bodies; ``None`` for 204/empty (never ``.json()`` them)."""
    if resp.status_code == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return resp.text
