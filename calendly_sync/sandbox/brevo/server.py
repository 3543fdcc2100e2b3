"""A fake Brevo v3 API that behaves like the documented one (shared/reference/brevo-api.md).

Why: the connector's hardest failure modes (204 upserts with no body, duplicate SMS, invalid phone
numbers, 429 with ``x-sib-ratelimit-reset``, asynchronous imports) can only be tested against
something that reproduces them over real HTTP. The same server backs the no-account sandbox:
``python -m calendly_sync.sandbox.brevo.server --port 8026``.

Simulator decisions where Brevo's behaviour is UNCONFIRMED (documented here so tests can rely on it):

* ``strict_dates=True`` (default): a date attribute value that is not ``YYYY-MM-DD`` gives
  ``400 invalid_parameter`` naming the attribute. Brevo's docs say mismatching values are *ignored*
  (one third-party report saw ``400 "invalid date format"``); pass ``strict_dates=False`` for the
  documented silent drop. Other type mismatches (float/boolean) are always dropped silently.
* Unknown attribute keys (including mis-cased ones) are dropped silently and recorded in
  ``ignored_attributes`` for inspection.
* Unknown ``listIds`` on contact writes and imports → ``404 document_not_found "List ID not found"``,
  the only documented unknown-list answer (§2.6). Unknown folder on list creation → 404 likewise.
* An ``ext_id`` owned by another contact → ``400 duplicate_parameter`` naming ``EXT_ID``.
* ``SMS`` must parse as an international number (``+33…``, ``0033…`` or ``33…``) and be valid per
  ``phonenumbers``; it is stored as sent and compared by its E.164 digits.
* Contacts expose ``ext_id`` as ``attributes.EXT_ID``.
* Events for unknown contacts are stored (``contact_id: None``) but do not create a contact.
* ``/events/batch`` where every event is invalid → ``400`` (not a 207).
* Imports apply when the process completes: after ``import_delay_polls`` polls of
  ``GET /processes/{id}`` that answer ``queued`` then ``processing_status`` ("in_process", the SW2
  spelling; OAS3 says "processing"). ``import_delay_polls=0`` applies at once. ``fileUrl`` is refused.
* Rate limiting (off unless ``rate_limit_per_second`` is set) covers the contacts and events buckets
  only, as a rolling one-second window of accepted requests; ``reset`` is whole seconds.
  ``other_rate_limit_per_hour`` (off by default; Brevo's General plan: 100) limits every other
  endpoint, ``GET /processes/{id}`` among them, over a sliding hour.
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import unquote

import phonenumbers

from calendly_sync.sandbox.httpbase import Fault, Request, Response, SimServer

SANDBOX_API_KEY = "xkeysib-sandbox-0000"

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EVENT_IDENTIFIER_KEYS = ("email_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id", "contact_id")
IDENTIFIER_TYPES = ("email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id")
ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
NORMAL_TYPES = ("text", "date", "float", "boolean", "multiple-choice", "user", "id")
LIST_MEMBERSHIP_MAX = 150
EVENT_PROPERTIES_MAX_BYTES = 50 * 1024
EVENTS_BATCH_MAX = 1000  # UNCONFIRMED upstream; a simulator choice
IMPORT_MAX_BYTES = 10 * 1024 * 1024
ALREADY_IN_LIST = "Contact already in list and/or does not exist"
ALREADY_OUT_OF_LIST = "Contact already removed from list and/or does not exist"


class _Reply(Exception):
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


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}


class BrevoSim(SimServer):
    """Brevo v3 under ``/v3``: contacts, attributes, lists, folders, events, imports, processes."""

    name = "brevo"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: set[str] | None = None,
        rate_limit_per_second: int | None = None,
        other_rate_limit_per_hour: int | None = None,
        strict_dates: bool = True,
        import_delay_polls: int = 1,
        processing_status: str = "in_process",
        seed_lists: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host, port)
        self.api_keys: set[str] = set(api_keys) if api_keys is not None else {SANDBOX_API_KEY}
        self.rate_limit_per_second = rate_limit_per_second
        self.other_rate_limit_per_hour = other_rate_limit_per_hour  # "all other endpoints", e.g. /processes
        self.strict_dates = strict_dates
        self.import_delay_polls = import_delay_polls
        self.processing_status = processing_status
        self.blocked_ip: str | None = None  # set to simulate the "unrecognised IP address" 401
        self.clock = clock
        # state (guard with self.lock)
        self.contacts: dict[int, dict[str, Any]] = {}
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
        if seed_lists:
            folder = self._new_folder("Calendly")
            for list_id, list_name in ((10, "Discovery calls"), (11, "Demos"), (12, "Calendly bookings")):
                self.lists[list_id] = {"id": list_id, "name": list_name, "folderId": folder, "createdAt": _now_iso()}
        self._register_routes()

    # -- lifecycle tweaks ----------------------------------------------------------------------
    def start(self) -> "BrevoSim":
        """Start, then disable Nagle on accepted sockets.

        The base handler writes headers and body in two sends; with Nagle on, the body waits for
        the client's delayed ACK (~40 ms per response), which made paced tests measure the network.
        """
        super().start()
        server = self._server
        assert server is not None
        accept = server.get_request

        def get_request() -> tuple[socket.socket, Any]:
            conn, addr = accept()
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            return conn, addr

        server.get_request = get_request  # type: ignore[method-assign]
        return self

    def stop(self) -> None:
        """Stop without waiting out ``serve_forever``'s 0.5 s poll: poke the socket to wake it."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            address = server.server_address[:2]

            def poke() -> None:
                for _ in range(50):
                    if not thread.is_alive():
                        return
                    try:
                        socket.create_connection(address, timeout=0.2).close()
                    except OSError:
                        return
                    time.sleep(0.02)

            threading.Thread(target=poke, name="brevo-sim-stop", daemon=True).start()
        super().stop()

    # -- helpers for tests ---------------------------------------------------------------------
    def get_contact(self, email: str) -> dict[str, Any] | None:
        """The contact as ``GET /contacts/{email}`` would show it (case-insensitive), or ``None``."""
        with self.lock:
            record = self._by_email(email.strip().lower())
            return self._contact_view(record) if record else None

    def list_members(self, list_id: int) -> list[str]:
        with self.lock:
            return sorted(c["email"] or str(c["id"]) for c in self.contacts.values() if list_id in c["_lists"])

    def force_429(self, times: int = 1, reset: int | float = 1, route: str | None = None) -> Fault:
        """Answer the next ``times`` matching calls with Brevo's 429 (headers included)."""
        return self.inject(Fault(kind="rate_limit", route=route, times=times, headers={"x-sib-ratelimit-reset": str(reset)}))

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        route: str | None = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching calls with ``status``. ``body=b""`` sends an empty body."""
        return self.inject(Fault(kind="status", route=route, status=status, body=body, times=times, headers=dict(headers or {})))

    def too_early(self, times: int = 1, route: str | None = None) -> Fault:
        """Brevo's 425 (contact error model, ``account_in_process``)."""
        return self.fail_next(425, {"code": "account_in_process", "message": "Account is being processed"}, route, times=times)

    def timeout_next(self, seconds: float = 2.0, route: str | None = None, *, times: int = 1) -> Fault:
        """Hold the next matching calls for ``seconds`` (then 504) so client read-timeouts fire."""
        return self.inject(Fault(kind="timeout", route=route, seconds=seconds, times=times))

    def slow_next(self, seconds: float, route: str | None = None, *, times: int = 1) -> Fault:
        return self.inject(Fault(kind="latency", route=route, seconds=seconds, times=times))

    def complete_processes(self) -> None:
        """Finish every pending import now (as if polled to completion)."""
        with self.lock:
            for process in self.processes.values():
                if process["status"] not in ("completed", "failed"):
                    self._finish_process(process)

    def rate_limited_response(self, fault: Fault) -> Response:
        limit = self.rate_limit_per_second or 10
        headers = {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": fault.headers.get("x-sib-ratelimit-reset", "1"),
        }
        return Response(429, self._too_many_body(), headers)

    @staticmethod
    def _too_many_body() -> dict[str, str]:
        return {"code": "too_many_requests", "message": "The rate limit for this endpoint has been exceeded; retry after x-sib-ratelimit-reset seconds"}

    # -- request pipeline ----------------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return Response(404, {"code": "not_found", "message": f"Invalid route: {req.method} {req.path}"})

    def dispatch(self, req: Request) -> Response:
        """Auth → rate limit → handler (under the state lock), with Brevo-shaped errors."""
        if req.path.startswith("/_sim/"):
            return super().dispatch(req)
        if not req.path.startswith("/v3/"):
            return self.not_found(req)
        key = req.headers.get("api-key")
        if not key:
            return Response(401, {"message": "authentication not found in headers", "code": "unauthorized"})
        if key not in self.api_keys:
            return Response(401, {"message": "Key not found", "code": "unauthorized"})
        if self.blocked_ip:
            return Response(401, {
                "code": "unauthorized",
                "message": f"We have detected you are using an unrecognised IP address {self.blocked_ip}. If you performed this action make sure to add the new IP address in this link: https://app.brevo.com/security/authorised_ips",
            })
        with self.lock:
            limited, rl_headers = self._rate_check(req.path)
            if limited is not None:
                return limited
            try:
                resp = super().dispatch(req)
            except _Reply as reply:
                resp = reply.response
        resp.headers.update(rl_headers)
        resp.headers.setdefault("sib-request-id", str(uuid.uuid4()))
        return resp

    def _bucket(self, path: str) -> str:
        if path == "/v3/contacts" or path.startswith("/v3/contacts/"):
            return "contacts"
        if path == "/v3/events" or path.startswith("/v3/events/"):
            return "events"
        return "other"

    def _rate_check(self, path: str) -> tuple[Response | None, dict[str, str]]:
        bucket = self._bucket(path)
        if path.startswith("/_sim/"):
            return None, {}
        limit, span = ((self.other_rate_limit_per_hour, 3600.0) if bucket == "other"
                       else (self.rate_limit_per_second, 1.0))
        if limit is None:
            return None, {}
        now = self.clock()
        window = self._windows[bucket]
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            reset = max(1, math.ceil(window[0] + span - now))
            headers = {"x-sib-ratelimit-limit": str(limit), "x-sib-ratelimit-remaining": "0", "x-sib-ratelimit-reset": str(reset)}
            self.rate_limited += 1
            return Response(429, self._too_many_body(), headers), {}
        window.append(now)
        return None, {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": str(limit - len(window)),
            "x-sib-ratelimit-reset": str(max(1, math.ceil(window[0] + span - now))),
        }

    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/_sim/state", self._sim_state)
        r("GET", "/v3/contacts/attributes", self._get_attributes)
        r("POST", "/v3/contacts/attributes/{category}/{name}", self._create_attribute)
        r("GET", "/v3/contacts/folders", self._get_folders)
        r("POST", "/v3/contacts/folders", self._create_folder)
        r("GET", "/v3/contacts/lists", self._get_lists)
        r("POST", "/v3/contacts/lists", self._create_list)
        r("GET", "/v3/contacts/lists/{list_id}", self._get_list)
        r("GET", "/v3/contacts/lists/{list_id}/contacts", self._get_list_contacts)
        r("POST", "/v3/contacts/lists/{list_id}/contacts/add", self._list_add)
        r("POST", "/v3/contacts/lists/{list_id}/contacts/remove", self._list_remove)
        r("POST", "/v3/contacts/batch", self._batch_update)
        r("POST", "/v3/contacts/import", self._import)
        r("GET", "/v3/contacts", self._get_contacts)
        r("POST", "/v3/contacts", self._create_contact)
        r("GET", "/v3/contacts/{identifier}", self._get_contact)
        r("PUT", "/v3/contacts/{identifier}", self._update_contact)
        r("DELETE", "/v3/contacts/{identifier}", self._delete_contact)
        r("GET", "/v3/processes/{process_id}", self._get_process)
        r("POST", "/v3/events", self._post_event)
        r("POST", "/v3/events/batch", self._post_events_batch)
        r("GET", "/v3/events", self._get_events)

    # -- small validators ----------------------------------------------------------------------
    @staticmethod
    def _object_body(req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ValueError:
            raise _Reply(400, "bad_request", "Input must be a valid JSON object")
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _Reply(400, "bad_request", "Input must be a valid JSON object")
        return body

    @staticmethod
    def _int_query(req: Request, name: str, default: int, maximum: int | None = None) -> int:
        raw = req.q(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _Reply(400, "invalid_parameter", f"{name} should be type integer")
        if value < 0:
            raise _Reply(400, "out_of_range", f"{name} should be >= 0")
        if maximum is not None and value > maximum:
            raise _Reply(400, "out_of_range", f"{name} should be less than or equal to {maximum}")
        return value

    @staticmethod
    def _int_param(value: str, what: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise _Reply(400, "invalid_parameter", f"{what} should be type integer")

    def _list_ids(self, body: dict[str, Any], field: str, *, must_exist: bool = True) -> list[int]:
        raw = body.get(field)
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _Reply(400, "invalid_parameter", f"{field} should be type array")
        for i, value in enumerate(raw):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Reply(400, "invalid_parameter", f"{field}/{i} should be type number")
        if must_exist:
            for value in raw:
                if value not in self.lists:
                    raise _Reply(404, "document_not_found", "List ID not found")
        return list(raw)

    @staticmethod
    def _valid_email(raw: Any) -> str:
        if not isinstance(raw, str):
            raise _Reply(400, "invalid_parameter", "email should be type string")
        email = raw.strip().lower()
        if len(email) > 254 or not EMAIL_RE.match(email):
            raise _Reply(400, "invalid_parameter", "Invalid email address")
        return email

    # -- lookups -------------------------------------------------------------------------------
    def _by_email(self, email: str) -> dict[str, Any] | None:
        for c in self.contacts.values():
            if c["email"] is not None and c["email"] == email:
                return c
        return None

    def _by_ext_id(self, ext_id: str) -> dict[str, Any] | None:
        for c in self.contacts.values():
            if c["ext_id"] is not None and c["ext_id"] == ext_id:
                return c
        return None

    def _by_phone(self, key: str) -> dict[str, Any] | None:
        for c in self.contacts.values():
            if c["_sms"] is not None and c["_sms"] == key:
                return c
        return None

    def _by_identifier(self, identifier: str, id_type: str | None, *, allow_phone: bool) -> dict[str, Any] | None:
        if id_type is not None and id_type not in IDENTIFIER_TYPES:
            raise _Reply(400, "invalid_parameter", "identifierType is not valid")
        if id_type == "email_id" or (id_type is None and "@" in identifier):
            return self._by_email(identifier.strip().lower())
        if id_type == "contact_id" or (id_type is None and identifier.isdigit()):
            found = self.contacts.get(int(identifier)) if identifier.isdigit() else None
            if found is None and id_type is None and allow_phone:
                key = phone_key(identifier)
                return self._by_phone(key) if key else None
            return found
        if id_type == "ext_id":
            return self._by_ext_id(identifier)
        if id_type == "phone_id" or (id_type is None and allow_phone):
            key = phone_key(identifier)
            return self._by_phone(key) if key else None
        return None  # whatsapp/landline identifiers are not stored by the simulator

    def _contact_view(self, c: dict[str, Any]) -> dict[str, Any]:
        attrs = copy.deepcopy(c["attributes"])
        if c["ext_id"] is not None:
            attrs["EXT_ID"] = c["ext_id"]
        view: dict[str, Any] = {"id": c["id"]}
        if c["email"] is not None:
            view["email"] = c["email"]
        view.update(
            emailBlacklisted=c["emailBlacklisted"],
            smsBlacklisted=c["smsBlacklisted"],
            createdAt=c["createdAt"],
            modifiedAt=c["modifiedAt"],
            listIds=sorted(c["_lists"]),
            listUnsubscribed=list(c["listUnsubscribed"]),
            attributes=attrs,
            statistics={"messagesSent": [], "opened": [], "clicked": [], "delivered": []},
        )
        return view

    # -- contact writes --------------------------------------------------------------------------
    def _clean_attributes(self, attrs: dict[str, Any], who: str) -> dict[str, Any]:
        """Known attributes with acceptable values; ``None`` values mean "clear"."""
        clean: dict[str, Any] = {}
        for name, value in attrs.items():
            if name in ("EMAIL", "SMS"):
                continue  # identifiers, handled by the caller
            meta = self.attributes.get(name)
            if meta is None:
                self.ignored_attributes.append((who, name))
                continue
            if value is None or value == "":
                clean[name] = None
                continue
            kind = meta.get("type")
            if kind == "date":
                if not _valid_date(value):
                    if self.strict_dates:
                        raise _Reply(400, "invalid_parameter", f"Invalid date format for attribute {name}: expected YYYY-MM-DD")
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "boolean":
                if not isinstance(value, bool):
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "multiple-choice":
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    self.ignored_attributes.append((who, name))
                    continue
            elif isinstance(value, (dict, list)):
                self.ignored_attributes.append((who, name))
                continue
            clean[name] = value
        return clean

    def _prepare(
        self,
        contact: dict[str, Any] | None,
        body: dict[str, Any],
        *,
        verb: str,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Validate one create/update against current state; returns the change set (no mutation)."""
        attrs = body.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise _Reply(400, "invalid_parameter", "attributes should be type object")
        changes: dict[str, Any] = {"lists_add": self._list_ids(body, "listIds"), "lists_remove": self._list_ids(body, "unlinkListIds")}
        who = email or (contact and (contact["email"] or str(contact["id"]))) or "?"
        self_id = contact["id"] if contact else None

        if "EMAIL" in attrs and attrs["EMAIL"] not in (None, ""):
            new_email = self._valid_email(attrs["EMAIL"])
            owner = self._by_email(new_email)
            if contact is not None and (owner is not None or new_email == contact["email"]):
                raise _Reply(400, "duplicate_parameter", f"Unable to {verb} contact, email is already associated with another Contact", {"duplicate_identifiers": ["email"]})
            if contact is not None:
                changes["email"] = new_email
            elif email is None:
                email = new_email
        if contact is None:
            changes["email"] = email

        if "SMS" in attrs:
            raw = attrs["SMS"]
            if raw in (None, ""):
                changes["sms"] = (None, None)
            else:
                key = phone_key(raw)
                if key is None:
                    raise _Reply(400, "invalid_parameter", "Invalid phone number")
                owner = self._by_phone(key)
                if owner is not None and owner["id"] != self_id:
                    raise _Reply(400, "duplicate_parameter", f"Unable to {verb} contact, SMS is already associated with another Contact", {"duplicate_identifiers": ["SMS"]})
                changes["sms"] = (raw.strip() if isinstance(raw, str) else str(raw), key)

        if body.get("ext_id") is not None:
            ext_id = body["ext_id"]
            if not isinstance(ext_id, str) or not ext_id:
                raise _Reply(400, "invalid_parameter", "ext_id should be type string")
            owner = self._by_ext_id(ext_id)
            if owner is not None and owner["id"] != self_id:
                raise _Reply(400, "duplicate_parameter", f"Unable to {verb} contact, EXT_ID is already associated with another Contact", {"duplicate_identifiers": ["EXT_ID"]})
            changes["ext_id"] = ext_id

        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body:
                if not isinstance(body[flag], bool):
                    raise _Reply(400, "invalid_parameter", f"{flag} should be type boolean")
                changes[flag] = body[flag]
        changes["attributes"] = self._clean_attributes(attrs, who)
        return changes

    def _apply(self, contact: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
        now = _now_iso()
        if contact is None:
            self._ids["contact"] += 1
            contact = {
                "id": self._ids["contact"],
                "email": changes.get("email"),
                "ext_id": None,
                "emailBlacklisted": False,
                "smsBlacklisted": False,
                "createdAt": now,
                "modifiedAt": now,
                "listUnsubscribed": [],
                "attributes": {},
                "_lists": set(),
                "_sms": None,
            }
            self.contacts[contact["id"]] = contact
        elif changes.get("email") and changes["email"] != contact["email"]:
            contact["email"] = changes["email"]
            contact["emailBlacklisted"] = False  # documented: changing the address lifts the block
        if "ext_id" in changes:
            contact["ext_id"] = changes["ext_id"]
        if "sms" in changes:
            raw, key = changes["sms"]
            if raw is None:
                contact["attributes"].pop("SMS", None)
            else:
                contact["attributes"]["SMS"] = raw
            contact["_sms"] = key
        for name, value in changes["attributes"].items():
            if value is None:
                contact["attributes"].pop(name, None)
            else:
                contact["attributes"][name] = value
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in changes:
                contact[flag] = changes[flag]
        contact["_lists"].update(changes["lists_add"])
        contact["_lists"].difference_update(changes["lists_remove"])
        contact["modifiedAt"] = now
        return contact

    # -- contact routes ------------------------------------------------------------------------
    def _create_contact(self, req: Request) -> Response:
        body = self._object_body(req)
        attrs = body.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise _Reply(400, "invalid_parameter", "attributes should be type object")
        update_enabled = body.get("updateEnabled", False)
        if not isinstance(update_enabled, bool):
            raise _Reply(400, "invalid_parameter", "updateEnabled should be type boolean")
        email = self._valid_email(body["email"]) if body.get("email") not in (None, "") else None
        ext_id = body.get("ext_id") if isinstance(body.get("ext_id"), str) and body.get("ext_id") else None
        sms_raw = attrs.get("SMS")
        sms_key = None
        if sms_raw not in (None, ""):
            sms_key = phone_key(sms_raw)
            if sms_key is None:
                raise _Reply(400, "invalid_parameter", "Invalid phone number")
        if email is None and ext_id is None and sms_key is None:
            raise _Reply(400, "missing_parameter", "Please provide Email or SMS attribute value to create user")
        self._list_ids(body, "listIds")  # type errors before duplicate errors

        if email is not None:
            existing, ident = self._by_email(email), "email"
        elif ext_id is not None:
            existing, ident = self._by_ext_id(ext_id), "EXT_ID"
        else:
            existing, ident = self._by_phone(sms_key), "SMS"  # type: ignore[arg-type]
        if existing is not None and not update_enabled:
            raise _Reply(400, "duplicate_parameter", f"Unable to create contact, {ident} is already associated with another Contact", {"duplicate_identifiers": [ident]})
        if existing is None:
            changes = self._prepare(None, body, verb="create", email=email)
            contact = self._apply(None, changes)
            return Response(201, {"id": contact["id"]})
        changes = self._prepare(existing, body, verb="update")
        self._apply(existing, changes)
        return Response(204)

    def _get_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])  # not unquote_plus: "+" stays literal
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=True)
        if contact is None:
            raise _Reply(404, "document_not_found", "Contact does not exist")
        return Response(200, self._contact_view(contact))

    def _update_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=False)
        if contact is None:
            raise _Reply(404, "document_not_found", "Contact does not exist")
        body = self._object_body(req)
        changes = self._prepare(contact, body, verb="update")
        self._apply(contact, changes)
        return Response(204)

    def _delete_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=False)
        if contact is None:
            raise _Reply(404, "document_not_found", "Contact does not exist")
        del self.contacts[contact["id"]]
        return Response(204)

    def _get_contacts(self, req: Request) -> Response:
        limit = self._int_query(req, "limit", 50, 1000)
        offset = self._int_query(req, "offset", 0)
        ordered = sorted(self.contacts.values(), key=lambda c: c["id"], reverse=req.q("sort", "desc") != "asc")
        return Response(200, {"contacts": [self._contact_view(c) for c in ordered[offset : offset + limit]], "count": len(ordered)})

    def _batch_update(self, req: Request) -> Response:
        body = self._object_body(req)
        items = body.get("contacts")
        if not isinstance(items, list) or not items:
            raise _Reply(400, "missing_parameter", "contacts is required")
        targets: list[dict[str, Any]] = []
        missing: list[str] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise _Reply(400, "invalid_parameter", f"contacts/{i} should be type object")
            contact = None
            if item.get("email"):
                contact = self._by_email(str(item["email"]).strip().lower())
            elif item.get("id") is not None:
                contact = self.contacts.get(item["id"]) if isinstance(item["id"], int) else None
            elif item.get("sms"):
                key = phone_key(item["sms"])
                contact = self._by_phone(key) if key else None
            else:
                raise _Reply(400, "missing_parameter", f"contacts/{i} needs one of email, id or sms")
            if contact is None:
                missing.append(str(i))
            else:
                targets.append(contact)
        if missing:
            raise _Reply(404, "document_not_found", f"No contact found for indexes {','.join(missing)}")
        planned = [(c, self._prepare(c, item, verb="update")) for c, item in zip(targets, items)]
        for contact, changes in planned:  # all-or-nothing: nothing applied until all validated
            self._apply(contact, changes)
        return Response(204)

    # -- attributes ------------------------------------------------------------------------------
    def _get_attributes(self, req: Request) -> Response:
        return Response(200, {"attributes": [copy.deepcopy(a) for a in self.attributes.values()]})

    def _create_attribute(self, req: Request) -> Response:
        category = req.params["category"]
        name = unquote(req.params["name"]).upper()
        try:
            body = req.json()
        except ValueError:
            raise _Reply(400, "bad_request", "Input must be a valid JSON object")
        if not body:
            raise _Reply(400, "missing_parameter", "No inputs in the body")
        if not isinstance(body, dict):
            raise _Reply(400, "bad_request", "Input must be a valid JSON object")
        if category not in ATTRIBUTE_CATEGORIES:
            raise _Reply(400, "invalid_parameter", "Invalid attribute category")
        if not ATTRIBUTE_NAME_RE.match(name):
            raise _Reply(400, "invalid_parameter", "Attribute name is invalid")
        if name in self.attributes or name in ("EMAIL", "EXT_ID"):
            raise _Reply(400, "invalid_parameter", "Attribute name must be unique")
        record: dict[str, Any] = {"name": name, "category": category}
        if category in ("normal", "transactional"):
            kind = body.get("type")
            if kind is None:
                raise _Reply(400, "missing_parameter", "Attribute type is missing")
            if kind not in NORMAL_TYPES or (kind == "id" and category != "transactional"):
                raise _Reply(400, "invalid_parameter", "Attribute type is invalid for this category")
            record["type"] = kind
            if kind == "multiple-choice":
                options = body.get("multiCategoryOptions")
                if not isinstance(options, list) or not options:
                    raise _Reply(400, "missing_parameter", "multiCategoryOptions is required for multiple-choice")
                record["multiCategoryOptions"] = list(options)
        elif category == "category":
            enumeration = body.get("enumeration")
            if not isinstance(enumeration, list) or not enumeration:
                raise _Reply(400, "missing_parameter", "enumeration is required for category attributes")
            record.update(type="category", enumeration=enumeration)
        else:
            if not isinstance(body.get("value"), str):
                raise _Reply(400, "missing_parameter", "value is required for calculated/global attributes")
            record["calculatedValue"] = body["value"]
        self.attributes[name] = record
        return Response(201)

    # -- lists and folders -----------------------------------------------------------------------
    def _new_folder(self, name: str) -> int:
        self._ids["folder"] += 1
        self.folders[self._ids["folder"]] = {"id": self._ids["folder"], "name": name}
        return self._ids["folder"]

    def _list_view(self, lst: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        members = [c for c in self.contacts.values() if lst["id"] in c["_lists"]]
        blacklisted = sum(1 for c in members if c["emailBlacklisted"])
        view = {
            "id": lst["id"],
            "name": lst["name"],
            "folderId": lst["folderId"],
            "totalBlacklisted": blacklisted,
            "totalSubscribers": len(members) - blacklisted,
            "uniqueSubscribers": len(members),
        }
        if full:
            view.update(createdAt=lst["createdAt"], campaignStats=[], dynamicList=False)
        return view

    def _page(self, req: Request, items: list[Any]) -> list[Any]:
        limit = self._int_query(req, "limit", 10, 50)
        offset = self._int_query(req, "offset", 0)
        if req.q("sort", "desc") == "desc":
            items = list(reversed(items))
        return items[offset : offset + limit]

    def _get_lists(self, req: Request) -> Response:
        ordered = [self.lists[k] for k in sorted(self.lists)]
        page = self._page(req, ordered)
        return Response(200, {"count": len(ordered), "lists": [self._list_view(lst) for lst in page]})

    def _create_list(self, req: Request) -> Response:
        body = self._object_body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Reply(400, "missing_parameter", "List name is missing")
        folder_id = body.get("folderId")
        if folder_id is None:
            raise _Reply(400, "missing_parameter", "Folder ID is missing")
        if isinstance(folder_id, bool) or not isinstance(folder_id, int):
            raise _Reply(400, "invalid_parameter", "folderId should be type number")
        if folder_id not in self.folders:
            raise _Reply(404, "document_not_found", "Folder ID not found")
        return Response(201, {"id": self._new_list(name.strip(), folder_id)})

    def _new_list(self, name: str, folder_id: int) -> int:
        self._ids["list"] = max([self._ids["list"], *self.lists]) + 1
        self.lists[self._ids["list"]] = {"id": self._ids["list"], "name": name, "folderId": folder_id, "createdAt": _now_iso()}
        return self._ids["list"]

    def _list_or_404(self, raw: str) -> dict[str, Any]:
        list_id = self._int_param(raw, "listId")
        lst = self.lists.get(list_id)
        if lst is None:
            raise _Reply(404, "document_not_found", "List ID not found")
        return lst

    def _get_list(self, req: Request) -> Response:
        return Response(200, self._list_view(self._list_or_404(req.params["list_id"]), full=True))

    def _get_list_contacts(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        members = [c for c in sorted(self.contacts.values(), key=lambda c: c["id"]) if lst["id"] in c["_lists"]]
        limit = self._int_query(req, "limit", 50, 500)
        offset = self._int_query(req, "offset", 0)
        return Response(200, {"contacts": [self._contact_view(c) for c in members[offset : offset + limit]], "count": len(members)})

    def _get_folders(self, req: Request) -> Response:
        ordered = [self.folders[k] for k in sorted(self.folders)]
        views = []
        for folder in self._page(req, ordered):
            lists = [self._list_view(lst) for lst in self.lists.values() if lst["folderId"] == folder["id"]]
            views.append({
                "id": folder["id"],
                "name": folder["name"],
                "totalBlacklisted": sum(v["totalBlacklisted"] for v in lists),
                "totalSubscribers": sum(v["totalSubscribers"] for v in lists),
                "uniqueSubscribers": sum(v["uniqueSubscribers"] for v in lists),
            })
        return Response(200, {"count": len(ordered), "folders": views})

    def _create_folder(self, req: Request) -> Response:
        body = self._object_body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _Reply(400, "missing_parameter", "Folder name is missing")
        return Response(201, {"id": self._new_folder(name.strip())})

    def _membership_targets(self, body: dict[str, Any]) -> list[tuple[Any, dict[str, Any] | None]]:
        given = [k for k in ("emails", "ids", "extIds") if k in body]
        if not given:
            raise _Reply(400, "missing_parameter", "One of emails, ids or extIds is required")
        if len(given) > 1:
            raise _Reply(400, "invalid_parameter", "Only one of emails, ids or extIds may be given")
        field = given[0]
        values = body[field]
        if not isinstance(values, list):
            raise _Reply(400, "invalid_parameter", f"{field} should be type array")
        if len(values) < 1:
            raise _Reply(400, "invalid_parameter", f"{field} should NOT have fewer than 1 items")
        if len(values) > LIST_MEMBERSHIP_MAX:
            raise _Reply(400, "invalid_parameter", f"{field} should NOT have more than {LIST_MEMBERSHIP_MAX} items")
        out: list[tuple[Any, dict[str, Any] | None]] = []
        for i, value in enumerate(values):
            if field == "emails":
                if not isinstance(value, str):
                    raise _Reply(400, "invalid_parameter", f"emails/{i} should be type string")
                out.append((value, self._by_email(value.strip().lower())))
            elif field == "ids":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _Reply(400, "invalid_parameter", f"ids/{i} should be type number")
                out.append((value, self.contacts.get(value)))
            else:
                out.append((value, self._by_ext_id(str(value))))
        return out

    def _list_add(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        body = self._object_body(req)
        success, failure = [], []
        for given, contact in self._membership_targets(body):
            if contact is None or lst["id"] in contact["_lists"]:
                failure.append(given)
            else:
                contact["_lists"].add(lst["id"])
                contact["modifiedAt"] = _now_iso()
                success.append(given)
        if not success:
            raise _Reply(400, "invalid_parameter", ALREADY_IN_LIST)
        return Response(201, {"contacts": {"success": success, "failure": failure}})

    def _list_remove(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        body = self._object_body(req)
        if body.get("all") is True:
            removed = 0
            for contact in self.contacts.values():
                if lst["id"] in contact["_lists"]:
                    contact["_lists"].discard(lst["id"])
                    removed += 1
            process = self._new_process("REMOVE_CONTACTS_FROM_LIST", None)
            self._finish_process(process)
            return Response(201, {"contacts": {"processId": process["id"], "total": removed}})
        success, failure = [], []
        for given, contact in self._membership_targets(body):
            if contact is None or lst["id"] not in contact["_lists"]:
                failure.append(given)
            else:
                contact["_lists"].discard(lst["id"])
                contact["modifiedAt"] = _now_iso()
                success.append(given)
        if not success:
            raise _Reply(400, "invalid_parameter", ALREADY_OUT_OF_LIST)
        return Response(201, {"contacts": {"success": success, "failure": failure}})

    # -- imports and processes -------------------------------------------------------------------
    def _new_process(self, name: str, job: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
        self._ids["process"] += 1
        process = {
            "id": self._ids["process"],
            "name": name,
            "status": "queued",
            "info": None,
            "export_url": None,
            "error": None,
            "created_at": _now_iso(),
            "completed_at": None,
            "_polls": 0,
            "_job": job,
        }
        self.processes[process["id"]] = process
        return process

    def _finish_process(self, process: dict[str, Any]) -> None:
        job = process.get("_job")
        process["info"] = {"import": job()} if job else None
        process["_job"] = None
        process["status"] = "completed"
        process["completed_at"] = _now_iso()

    def _import(self, req: Request) -> Response:
        if len(req.body) > IMPORT_MAX_BYTES:
            raise _Reply(400, "out_of_range", "Request body exceeds 10MB")
        body = self._object_body(req)
        sources = [k for k in ("fileUrl", "fileBody", "jsonBody") if body.get(k) not in (None, "", [])]
        if not sources:
            raise _Reply(400, "missing_parameter", "One of fileUrl, fileBody or jsonBody is required")
        if len(sources) > 1:
            raise _Reply(400, "invalid_parameter", "Only one of fileUrl, fileBody or jsonBody may be given")
        if sources[0] == "fileUrl":
            raise _Reply(400, "invalid_parameter", "fileUrl is not supported by the simulator; use fileBody or jsonBody")
        list_ids = self._list_ids(body, "listIds")
        new_list = body.get("newList")
        if not list_ids and not new_list:
            raise _Reply(400, "missing_parameter", "listIds is mandatory if newList is not defined")
        if new_list:
            if not isinstance(new_list, dict) or not new_list.get("listName"):
                raise _Reply(400, "missing_parameter", "newList.listName is missing")
            folder_id = new_list.get("folderId")
            if folder_id is None:
                raise _Reply(400, "missing_parameter", "newList.folderId is mandatory when listName is set")
            if folder_id not in self.folders:
                raise _Reply(404, "document_not_found", "Folder ID not found")
        rows = self._import_rows(body, sources[0])
        if new_list:
            list_ids = [*list_ids, self._new_list(str(new_list["listName"]), folder_id)]
        update_existing = body.get("updateExistingContacts", True) is not False
        empty_attrs = body.get("emptyContactsAttributes", False) is True

        process = self._new_process("IMPORTUSER", lambda: self._run_import(rows, list_ids, update_existing, empty_attrs))
        if self.import_delay_polls <= 0:
            self._finish_process(process)
        return Response(202, {"processId": process["id"]})

    @staticmethod
    def _import_rows(body: dict[str, Any], source: str) -> list[dict[str, Any]]:
        """Normalise jsonBody items / semicolon CSV rows into ``{email?, ext_id?, attributes}``."""
        rows: list[dict[str, Any]] = []
        if source == "jsonBody":
            items = body["jsonBody"]
            if not isinstance(items, list):
                raise _Reply(400, "invalid_parameter", "jsonBody should be type array")
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise _Reply(400, "invalid_parameter", f"jsonBody/{i} should be type object")
                attrs = item.get("attributes") or {}
                if not isinstance(attrs, dict):
                    raise _Reply(400, "invalid_parameter", f"jsonBody/{i}/attributes should be type object")
                rows.append({"email": item.get("email"), "ext_id": item.get("ext_id"), "attributes": dict(attrs)})
            return rows
        if not isinstance(body["fileBody"], str):
            raise _Reply(400, "invalid_parameter", "fileBody should be type string")
        reader = csv.reader(io.StringIO(body["fileBody"]), delimiter=";")
        header = [h.strip().upper() for h in next(reader, [])]
        if not header:
            raise _Reply(400, "invalid_parameter", "fileBody has no header row")
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            row: dict[str, Any] = {"email": None, "ext_id": None, "attributes": {}}
            for name, value in zip(header, cells):
                value = value.strip()
                if name == "EMAIL":
                    row["email"] = value or None
                elif name == "EXT_ID":
                    row["ext_id"] = value or None
                else:
                    row["attributes"][name] = value
            rows.append(row)
        return rows

    def _run_import(self, rows: list[dict[str, Any]], list_ids: list[int], update_existing: bool, empty_attrs: bool) -> dict[str, int]:
        """Apply rows one by one with the same validation as POST /contacts; bad rows are counted."""
        counts = dict.fromkeys(
            ("new_contacts", "updated_contacts", "existing_contacts_skipped", "invalid_emails", "invalid_sms",
             "invalid_attributes", "duplicate_email_id", "duplicate_ext_id", "duplicate_phone_id", "missing_identifier"),
            0,
        )
        list_ids = [i for i in list_ids if i in self.lists]
        seen: set[str] = set()
        for row in rows:
            attrs = {str(k).upper(): v for k, v in row["attributes"].items()}
            if not empty_attrs:
                attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
            body: dict[str, Any] = {"attributes": attrs, "listIds": list_ids}
            if row.get("ext_id"):
                body["ext_id"] = str(row["ext_id"])
            try:
                email = self._valid_email(row["email"]) if row.get("email") else None
                if email is None and not row.get("ext_id") and not attrs.get("SMS"):
                    counts["missing_identifier"] += 1
                    continue
                if email is not None:
                    if email in seen:
                        counts["duplicate_email_id"] += 1
                        continue
                    seen.add(email)
                existing = self._by_email(email) if email else (self._by_ext_id(str(row["ext_id"])) if row.get("ext_id") else None)
                if existing is not None and not update_existing:
                    counts["existing_contacts_skipped"] += 1
                    continue
                if existing is None:
                    self._apply(None, self._prepare(None, body, verb="create", email=email))
                    counts["new_contacts"] += 1
                else:
                    self._apply(existing, self._prepare(existing, body, verb="update"))
                    counts["updated_contacts"] += 1
            except _Reply as reply:
                ids = (reply.metadata or {}).get("duplicate_identifiers", [])
                if reply.message == "Invalid email address":
                    counts["invalid_emails"] += 1
                elif reply.message == "Invalid phone number":
                    counts["invalid_sms"] += 1
                elif "SMS" in ids:
                    counts["duplicate_phone_id"] += 1
                elif "EXT_ID" in ids:
                    counts["duplicate_ext_id"] += 1
                elif "email" in ids:
                    counts["duplicate_email_id"] += 1
                else:
                    counts["invalid_attributes"] += 1
        return counts

    def _get_process(self, req: Request) -> Response:
        process_id = self._int_param(req.params["process_id"], "processId")
        process = self.processes.get(process_id)
        if process is None:
            raise _Reply(404, "document_not_found", "Process ID not found")
        if process["status"] not in ("completed", "failed"):
            process["_polls"] += 1
            if process["_polls"] > self.import_delay_polls:
                self._finish_process(process)
            else:
                process["status"] = "queued" if process["_polls"] == 1 else self.processing_status
        return Response(200, _public(process))

    # -- events ----------------------------------------------------------------------------------
    def _validate_event(self, event: Any) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        """Check one event; returns (stored record, contact, contact changes). Raises _Reply."""
        if not isinstance(event, dict):
            raise _Reply(400, "invalid_parameter", "event should be type object")
        name = event.get("event_name")
        if name is None or name == "":
            raise _Reply(400, "missing_parameter", "event_name is required")
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
            raise _Reply(400, "invalid_parameter", "event_name must be 1-255 characters: only alphanumeric characters, hyphens (-) and underscores (_) are allowed")
        identifiers = event.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            raise _Reply(400, "missing_parameter", "identifiers is required with at least one identifier")
        for key, value in identifiers.items():
            if key not in EVENT_IDENTIFIER_KEYS:
                raise _Reply(400, "invalid_parameter", f"identifiers.{key} is not a valid identifier")
            if key == "contact_id":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise _Reply(400, "invalid_parameter", "identifiers.contact_id should be type integer")
            elif not isinstance(value, str) or not value.strip():
                raise _Reply(400, "invalid_parameter", f"identifiers.{key} should be a non-empty string")
        if "email_id" in identifiers:
            self._valid_email(identifiers["email_id"])
        event_date = event.get("event_date")
        if event_date is not None:
            try:
                if not isinstance(event_date, str):
                    raise ValueError
                datetime.fromisoformat(event_date.replace("Z", "+00:00"))
            except ValueError:
                raise _Reply(400, "invalid_parameter", "event_date must be an ISO-8601 date-time")
        contact_props = event.get("contact_properties") or {}
        if not isinstance(contact_props, dict):
            raise _Reply(400, "invalid_parameter", "contact_properties should be type object")
        for key, value in contact_props.items():
            if not isinstance(value, (str, int, bool)) or isinstance(value, float):
                raise _Reply(400, "invalid_parameter", f"contact_properties.{key} must be a string, integer or boolean")
        event_props = event.get("event_properties") or {}
        if not isinstance(event_props, dict):
            raise _Reply(400, "invalid_parameter", "event_properties should be type object")
        for key in event_props:
            if not EVENT_NAME_RE.match(key):
                raise _Reply(400, "invalid_parameter", f"event_properties key {key!r}: only alphanumeric characters, hyphens (-) and underscores (_) are allowed, max 255")
        if len(json.dumps(event_props).encode("utf-8")) > EVENT_PROPERTIES_MAX_BYTES:
            raise _Reply(400, "invalid_parameter", "event_properties exceeds the 50KB limit")

        contact = self._event_contact(identifiers)
        changes = self._prepare(contact, {"attributes": contact_props}, verb="update") if contact and contact_props else None
        record = {
            "event_name": name,
            "event_date": event_date or _now_iso(),
            "identifiers": copy.deepcopy(identifiers),
            "contact_id": contact["id"] if contact else None,
            "contact_properties": copy.deepcopy(contact_props),
            "event_properties": copy.deepcopy(event_props),
        }
        return record, contact, changes

    def _event_contact(self, identifiers: dict[str, Any]) -> dict[str, Any] | None:
        if "contact_id" in identifiers:  # documented: takes priority over every other identifier
            return self.contacts.get(identifiers["contact_id"])
        if "email_id" in identifiers:
            return self._by_email(identifiers["email_id"].strip().lower())
        if "ext_id" in identifiers:
            return self._by_ext_id(identifiers["ext_id"])
        if "phone_id" in identifiers:
            key = phone_key(identifiers["phone_id"])
            return self._by_phone(key) if key else None
        return None

    def _store_event(self, record: dict[str, Any], contact: dict[str, Any] | None, changes: dict[str, Any] | None) -> None:
        if contact is not None and changes is not None:
            self._apply(contact, changes)
        self._ids["event"] += 1
        self.events.append({"id": self._ids["event"], **record, "received_at": _now_iso()})

    def _post_event(self, req: Request) -> Response:
        self._store_event(*self._validate_event(self._object_body(req)))
        return Response(204)

    def _post_events_batch(self, req: Request) -> Response:
        body = self._object_body(req)
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise _Reply(400, "missing_parameter", "events is required and must be a non-empty array")
        if len(events) > EVENTS_BATCH_MAX:
            raise _Reply(400, "out_of_range", f"events should NOT have more than {EVENTS_BATCH_MAX} items")
        errors: dict[str, list[int]] = {}
        accepted = 0
        for i, event in enumerate(events):
            try:
                self._store_event(*self._validate_event(event))
                accepted += 1
            except _Reply as reply:
                errors.setdefault(reply.message, []).append(i)
        if not errors:
            return Response(202, {"message": "Events accepted for processing", "count": accepted})
        if not accepted:
            first = next(iter(errors))
            raise _Reply(400, "invalid_parameter", first)
        return Response(207, {
            "status": "partial_success",
            "total_events": len(events),
            "successful_events": accepted,
            "failed_events": len(events) - accepted,
            "errors": [{"eventIndex": idx, "message": msg} for msg, idx in errors.items()],
        })

    def _get_events(self, req: Request) -> Response:
        limit = self._int_query(req, "limit", 100, 10000)
        offset = self._int_query(req, "offset", 0)
        selected = list(self.events)
        if req.q("event_name"):
            selected = [e for e in selected if e["event_name"] == req.q("event_name")]
        if req.q("contact_id"):
            cid = self._int_param(req.q("contact_id") or "", "contact_id")
            selected = [e for e in selected if e["contact_id"] == cid]
        return Response(200, {"events": copy.deepcopy(selected[offset : offset + limit]), "count": len(selected)})

    # -- sandbox/debug ---------------------------------------------------------------------------
    def _sim_state(self, req: Request) -> Response:
        with self.lock:
            return Response(200, {
                "counts": {
                    "contacts": len(self.contacts),
                    "events": len(self.events),
                    "lists": len(self.lists),
                    "folders": len(self.folders),
                    "attributes": len(self.attributes),
                    "processes": len(self.processes),
                    "calls": sum(self.calls.values()),
                },
                "contacts": [self._contact_view(c) for c in sorted(self.contacts.values(), key=lambda c: c["id"])],
                "lists": [self._list_view(lst) for lst in self.lists.values()],
                "attributes": list(self.attributes.values()),
                "events": copy.deepcopy(self.events[-100:]),
                "processes": [_public(p) for p in self.processes.values()],
            })


def _block_forever() -> None:
    while True:
        time.sleep(1)


def main(argv: Iterable[str] | None = None) -> int:
    """Run the simulator until Ctrl-C (the no-account sandbox)."""
    parser = argparse.ArgumentParser(description="Fake Brevo v3 API for the connector sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--rate-limit", type=int, default=None, help="enforce N requests/second on contacts and events")
    parser.add_argument("--lenient-dates", action="store_true", help="drop bad date values silently (Brevo's documented behaviour)")
    parser.add_argument("--import-delay-polls", type=int, default=1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    sim = BrevoSim(
        args.host,
        args.port,
        rate_limit_per_second=args.rate_limit,
        strict_dates=not args.lenient_dates,
        import_delay_polls=args.import_delay_polls,
    ).start()
    print(f"Brevo simulator at {sim.url}/v3  (api-key: {SANDBOX_API_KEY})", flush=True)
    print(f"State: {sim.url}/_sim/state  -- Ctrl-C to stop", flush=True)
    try:
        _block_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
