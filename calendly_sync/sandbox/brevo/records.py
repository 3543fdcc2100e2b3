"""The simulated Brevo account's records, the error every handler raises, and shared validators.

Why a module of its own: contacts, lists, events, imports, rate limits and the control routes all
read and write the same dictionaries under the same lock and answer errors in Brevo's
``{"code", "message"}`` shape; keeping that here lets each part be a small mixin over one base.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from calendly_sync.sandbox.httpbase import Request, Response, SimServer

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class Reply(Exception):
    """Raised inside handlers to short-circuit with an error response."""

    def __init__(self, status: int, code: str, message: str, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        body: dict[str, Any] = {"code": code, "message": message}
        if metadata is not None:
            body["metadata"] = metadata
        self.response = Response(status, body)
        self.code = code
        self.message = message
        self.metadata = metadata


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def phone_key(raw: Any) -> str | None:
    """E.164 digits of an international phone number, or ``None`` when Brevo would say "Invalid".

    Accepts the documented spellings ``+33612345678``, ``0033612345678`` and ``33612345678``;
    national numbers without a country code are invalid.
    """
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    compact = re.sub(r"[\s().\-]", "", str(raw).strip())
    if compact.startswith("+"):
        candidate = compact
    elif compact.startswith("00"):
        candidate = "+" + compact[2:]
    elif compact.isdigit():
        candidate = "+" + compact
    else:
        return None
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


class ContactTable(dict[int, dict[str, Any]]):
    """Contacts by id, and by each of Brevo's unique identifiers (email, ``ext_id``, SMS number).

    Why: looking a contact up by scanning every record made an import of ``m`` rows into an account
    of ``n`` contacts cost ``m × n`` comparisons; a benchmark's burst (12,000 rows into 30,000
    contacts) then spent minutes in the simulator, which real Brevo does not. The indexes follow
    every insertion and deletion here; a record's identifiers changed in place go through
    :meth:`changing`. A lookup answers the oldest contact holding the value, as the scan did.
    """

    KEYS = ("email", "ext_id", "_sms")

    def __init__(self, records: dict[int, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self._by: dict[str, dict[Any, list[dict[str, Any]]]] = {key: {} for key in self.KEYS}
        for contact_id, contact in (records or {}).items():
            self[contact_id] = contact

    def _index(self, contact: dict[str, Any]) -> None:
        for key, index in self._by.items():
            value = contact.get(key)
            if value is not None:
                index.setdefault(value, []).append(contact)

    def _unindex(self, contact: dict[str, Any]) -> None:
        for key, index in self._by.items():
            holders = index.get(contact.get(key))
            if holders is not None:
                holders[:] = [c for c in holders if c is not contact]
                if not holders:
                    del index[contact.get(key)]

    def __setitem__(self, contact_id: int, contact: dict[str, Any]) -> None:
        old = self.get(contact_id)
        if old is not None:
            self._unindex(old)
        super().__setitem__(contact_id, contact)
        self._index(contact)

    def __delitem__(self, contact_id: int) -> None:
        self._unindex(self[contact_id])
        super().__delitem__(contact_id)

    def pop(self, contact_id: int, *default: Any) -> Any:
        if contact_id in self:
            self._unindex(self[contact_id])
        return super().pop(contact_id, *default)

    def clear(self) -> None:
        super().clear()
        for index in self._by.values():
            index.clear()

    @contextmanager
    def changing(self, contact: dict[str, Any]) -> Iterator[None]:
        """Change a stored contact's identifiers in place inside this block."""
        stored = self.get(contact.get("id")) is contact  # type: ignore[arg-type]
        if stored:
            self._unindex(contact)
        try:
            yield
        finally:
            if stored:
                self._index(contact)

    def find(self, key: str, value: Any) -> dict[str, Any] | None:
        """The oldest contact whose ``key`` (one of :data:`KEYS`) is ``value``, or None."""
        holders = self._by[key].get(value)
        return min(holders, key=lambda c: c["id"]) if holders else None


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}


class BrevoRecords(SimServer):
    """Everything the simulated account holds (guard with ``self.lock``) and the request validators."""

    name = "brevo"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.contacts = ContactTable()
        self.events: list[dict[str, Any]] = []
        self.attributes: dict[str, dict[str, Any]] = {}
        self.lists: dict[int, dict[str, Any]] = {}
        self.folders: dict[int, dict[str, Any]] = {}
        self.processes: dict[int, dict[str, Any]] = {}
        self.ignored_attributes: list[tuple[str, str]] = []  # (identifier, attribute name)
        self.rate_limited: int = 0  # 429s served by the rate limiter (not forced ones)
        self._windows: dict[str, deque[float]] = {"contacts": deque(), "events": deque(), "other": deque()}
        self._ids = {"contact": 0, "list": 100, "folder": 0, "process": 0, "event": 0}
        for name in ("FIRSTNAME", "LASTNAME", "SMS"):
            self.attributes[name] = {"name": name, "category": "normal", "type": "text"}

    # -- saving and restoring (the sandbox's state file, see sandbox/statefile.py) --------------
    #: records kept by id (JSON object keys are strings, so these are saved as lists of records)
    SAVED_BY_ID = ("contacts", "lists", "folders", "processes")

    def snapshot(self) -> dict[str, Any]:
        """The account's records (encode them under ``self.lock``); rate windows are not kept.

        A pending process keeps what it will do as data (an import's ``_import``), never the
        callable that does it, which ``restore`` rebuilds.
        """
        data: dict[str, Any] = {
            name: list(getattr(self, name).values()) for name in self.SAVED_BY_ID if name != "processes"
        }
        data["processes"] = [{k: v for k, v in p.items() if k != "_job"} for p in self.processes.values()]
        data.update(
            events=self.events,
            attributes=self.attributes,
            ignored_attributes=self.ignored_attributes,
            ids=self._ids,
        )
        return data

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            for name in self.SAVED_BY_ID:
                setattr(self, name, {record["id"]: record for record in data[name]})
            self.contacts = ContactTable(self.contacts)
            for process in self.processes.values():
                process["_job"] = None
            self.events = data["events"]
            self.attributes = data["attributes"]
            self.ignored_attributes = [(ident, attr) for ident, attr in data["ignored_attributes"]]
            self._ids = data["ids"]

    # -- small validators ----------------------------------------------------------------------
    @staticmethod
    def _object_body(req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ValueError:
            raise Reply(400, "bad_request", "Input must be a valid JSON object") from None
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise Reply(400, "bad_request", "Input must be a valid JSON object")
        return body

    @staticmethod
    def _int_query(req: Request, name: str, default: int, maximum: int | None = None) -> int:
        raw = req.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise Reply(400, "invalid_parameter", f"{name} should be type integer") from None
        if value < 0:
            raise Reply(400, "out_of_range", f"{name} should be >= 0")
        if maximum is not None and value > maximum:
            raise Reply(400, "out_of_range", f"{name} should be less than or equal to {maximum}")
        return value

    @staticmethod
    def _int_param(value: str, what: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise Reply(400, "invalid_parameter", f"{what} should be type integer") from None

    def _list_ids(self, body: dict[str, Any], field: str, *, must_exist: bool = True) -> list[int]:
        raw = body.get(field)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise Reply(400, "invalid_parameter", f"{field} should be type array")
        for i, value in enumerate(raw):
            if isinstance(value, bool) or not isinstance(value, int):
                raise Reply(400, "invalid_parameter", f"{field}/{i} should be type number")
        if must_exist:
            for value in raw:
                if value not in self.lists:
                    raise Reply(404, "document_not_found", "List ID not found")
        return list(raw)

    @staticmethod
    def _valid_email(raw: Any) -> str:
        if not isinstance(raw, str):
            raise Reply(400, "invalid_parameter", "email should be type string")
        email = raw.strip().lower()
        if len(email) > 254 or not EMAIL_RE.match(email):
            raise Reply(400, "invalid_parameter", "Invalid email address")
        return email
