"""A fake Calendly (API v2 + auth.calendly.com OAuth) served over real HTTP.

Why: the connector must be developed and tested without a Calendly account, against the
*documented* behaviour (shared/reference/calendly-api.md): keyset pagination with opaque tokens,
per-user rate limits with ``X-RateLimit-*`` headers, 401 variants for invalid/expired/revoked
tokens, scope-based 403s, role rules, single-use rotating refresh tokens, and signed webhook
deliveries with retries and silent disabling.

URIs inside stored records use the canonical ``https://api.calendly.com`` host and are rewritten
to this server's own URL when rendered, so objects created before ``start()`` still work and a
client following ``uri`` fields talks to the simulator.
"""
from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import html
import json
import math
import random
import secrets
import socket
import sys
import threading
import time
import uuid as uuidlib
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from calendly_sync.sandbox.httpbase import Fault, Request, Response, SimServer
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery

API = "https://api.calendly.com"  # canonical host stored in records, rewritten on render
SANDBOX_TOKEN = "sandbox-calendly-token"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
SANDBOX_WEBHOOK_SIGNING_KEY = "sandbox-webhook-signing-key"

INVITEE_EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted")
EVENT_TYPE_EVENTS = ("event_type.created", "event_type.updated", "event_type.deleted")
ALL_WEBHOOK_EVENTS = (
    *INVITEE_EVENTS,
    "routing_form_submission.created",
    *EVENT_TYPE_EVENTS,
    "meeting_recap.created", "meeting_recap.updated", "meeting_recap.deleted",
    "contact.created", "contact.updated", "contact.deleted",
)
ORG_ONLY_EVENTS = ("routing_form_submission.created",)
PLAN_GATED_EVENTS = ("routing_form_submission.created", "meeting_recap.created", "meeting_recap.updated", "meeting_recap.deleted")
QUESTION_TYPES = ("string", "text", "single_select", "multi_select", "phone_number")
TRACKING_KEYS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection "
    "URI used in the authorization request, or was issued to another client."
)
CODE_TTL = 600  # authorization codes live 10 minutes

# GET/POST /event_types… need event_types:read, etc. (§1 Scopes). Tuples mean "any of".
SCOPE_USERS = ("users:read",)
SCOPE_ORGS = ("organizations:read",)
SCOPE_ET = ("event_types:read",)
SCOPE_AVAIL = ("event_types:read", "availability:read")
SCOPE_SE_R = ("scheduled_events:read",)
SCOPE_SE_W = ("scheduled_events:write",)
SCOPE_LINKS = ("scheduling_links:write",)
SCOPE_WH_R = ("webhooks:read",)
SCOPE_WH_W = ("webhooks:write",)


# ---------------------------------------------------------------------------------------------
# time helpers
def fmt_time(ts: float) -> str:
    """Calendly timestamp: UTC with microseconds, e.g. ``2026-08-22T17:13:17.150860Z``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_ts(value: datetime | str | float | int) -> float:
    """Accept a datetime (naive = UTC), an ISO string (``Z`` or offset) or epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


class ApiError(Exception):
    """Raised by handlers; rendered as the §12 error shape."""

    def __init__(self, status: int, title: str, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.details = status, title, message, details

    def response(self) -> Response:
        body: dict[str, Any] = {"title": self.title, "message": self.message}
        if self.details:
            body["details"] = self.details
        return Response(self.status, body)


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(400, "Invalid Argument", "The supplied parameters are invalid.", [{"parameter": parameter, "message": message}])


def forbidden(message: str = "You do not have permission to access this resource.") -> ApiError:
    return ApiError(403, "Permission Denied", message)


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The server could not find the requested resource.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Desc:
    """Wraps a sort value so descending fields can share one tuple ordering with ascending ones."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: "_Desc") -> bool:
        return self.v > other.v

    def __gt__(self, other: "_Desc") -> bool:
        return self.v < other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


@dataclass
class _Ctx:
    """The authenticated caller of one API request."""

    token: str
    user: dict[str, Any]
    scopes: set[str] | None
    kind: str  # "pat" | "oauth"
    client_id: str | None

    @property
    def uid(self) -> str:
        return self.user["_id"]

    @property
    def org(self) -> str:
        return self.user["_org"]

    @property
    def is_admin(self) -> bool:
        return self.user["_role"] in ("owner", "admin")


def has_scope(scopes: set[str] | None, required: str) -> bool:
    """``None`` = legacy full access; ``x:write`` implies ``x:read``."""
    if scopes is None:
        return True
    if required in scopes:
        return True
    if required.endswith(":read"):
        return required[: -len(":read")] + ":write" in scopes
    return False


def quiet_disconnects(server: SimServer) -> None:
    """Don't print tracebacks when a client gave up (timeout faults): that is the point of the fault."""
    httpd = server._server
    assert httpd is not None
    default = httpd.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        default(request, client_address)

    httpd.handle_error = handle_error  # type: ignore[method-assign]


def fast_stop(server: SimServer) -> None:
    """Stop a SimServer promptly: poke its socket so ``select()`` wakes and sees the shutdown flag."""
    httpd = server._server
    if httpd is None:
        return
    stopper = threading.Thread(target=httpd.shutdown, daemon=True)
    stopper.start()
    address = httpd.server_address[:2]
    while stopper.is_alive():
        try:
            socket.create_connection(address, timeout=0.2).close()
        except OSError:
            pass
        stopper.join(0.01)
    httpd.server_close()
    server._server = None


# ---------------------------------------------------------------------------------------------
class CalendlySim(SimServer):
    """Calendly API v2 + OAuth, in-process. See the module docstring for why."""

    name = "calendly"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        events: int = 40,
        rate_limit_per_minute: int | None = None,
        reset_seconds: int = 60,
        allow_http_callbacks: bool = False,
        access_token_ttl: int = 7200,
        default_token: bool = False,
        clock: Callable[[], float | datetime] | None = None,
        deliver_sync: bool = False,
        disable_after_failures: int | None = None,
        delivery_retries: int = 3,
        delivery_backoff: float = 0.05,
        delivery_timeout: tuple[float, float] = (10.0, 15.0),
        token_requests_per_minute: int | None = None,
        max_available_days: int = 31,
        plan: str = "paid",
    ) -> None:
        super().__init__(host, port)
        self.clock = clock or time.time
        self.rng = random.Random(seed)
        self.rate_limit_per_minute = rate_limit_per_minute
        self.reset_seconds = reset_seconds
        self.allow_http_callbacks = allow_http_callbacks
        self.access_token_ttl = access_token_ttl
        self.deliver_sync = deliver_sync
        self.disable_after_failures = disable_after_failures
        self.delivery_retries = delivery_retries
        self.delivery_backoff = delivery_backoff
        self.delivery_timeout = delivery_timeout
        self.token_requests_per_minute = token_requests_per_minute
        self.max_available_days = max_available_days
        self.plan = plan  # "free" → plan-gated webhook events get 403
        # None | "bad_signature" | "stale" | "missing_header": corrupt outgoing deliveries on purpose
        self.delivery_tamper: str | None = None

        self.orgs: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.event_types: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.invitees: dict[str, dict[str, Any]] = {}
        self.no_shows: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.scheduling_links: list[dict[str, Any]] = []
        self.tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.oauth_clients: dict[str, dict[str, Any]] = {}
        self.token_requests: Counter[str] = Counter()  # every POST /oauth/token, by grant_type
        self.token_grants: Counter[str] = Counter()  # successful ones, by grant_type
        self.outbox: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._delivered = threading.Condition(self.lock)
        self._windows: dict[str, deque[float]] = {}
        self._token_windows: dict[str, deque[float]] = {}

        self._org_id = self.uuid_of(self.add_organization("Acme Sales")["uri"])
        self._admin_id = self.uuid_of(self.add_user("Avery Admin", "avery.admin@acme-sales.example", role="owner",
                                                    org_uri=f"{API}/organizations/{self._org_id}")["uri"])
        self.oauth_user_uri = self.admin["uri"]  # who "logs in" on the consent page
        self.register_oauth_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, webhook_signing_key=SANDBOX_WEBHOOK_SIGNING_KEY)
        if seed is not None or default_token:
            self.add_token(SANDBOX_TOKEN, self.admin["uri"])
        self._register_routes()
        if seed is not None:
            from calendly_sync.sandbox.calendly import seeding as calendly_data

            calendly_data.populate(self, seed, events=events)

    # =========================================================================================
    # basics
    def now(self) -> float:
        value = self.clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

    def new_uuid(self) -> str:
        with self.lock:
            return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def org(self) -> dict[str, Any]:
        """The default organization, rendered with the live URL."""
        return self.render(self.orgs[self._org_id])

    @property
    def admin(self) -> dict[str, Any]:
        """The default owner/admin user (bound to ``SANDBOX_TOKEN``), rendered with the live URL."""
        return self.render(self.users[self._admin_id])

    @property
    def started(self) -> bool:
        return self._server is not None

    def render(self, obj: Any) -> Any:
        """Deep copy without private ``_`` keys, with API URIs pointing at this server."""
        text = json.dumps(self._strip(obj))
        if self.started:
            text = text.replace(f'"{API}/', f'"{self.url}/')
        return json.loads(text)

    def _strip(self, obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: self._strip(v) for k, v in obj.items() if not k.startswith("_")}
        if isinstance(obj, list):
            return [self._strip(v) for v in obj]
        return obj

    @staticmethod
    def uuid_of(uri_or_uuid: str, kind: str | None = None) -> str:
        """Last path segment of a URI (any host) or the bare UUID itself."""
        value = (uri_or_uuid or "").strip()
        if "/" not in value:
            return value
        parts = [p for p in urlsplit(value).path.split("/") if p]
        if not parts:
            return ""
        if kind and kind in parts:
            idx = parts.index(kind)
            return parts[idx + 1] if idx + 1 < len(parts) else ""
        return parts[-1]

    def _user_rec(self, uri: str) -> dict[str, Any] | None:
        return self.users.get(self.uuid_of(uri, "users"))

    # =========================================================================================
    # Python API: organizations, users, groups, tokens
    def add_organization(self, name: str) -> dict[str, Any]:
        with self.lock:
            oid = self.new_uuid()
            ts = self.now()
            rec = {"uri": f"{API}/organizations/{oid}", "name": name, "plan": "teams", "stage": "paid",
                   "created_at": fmt_time(ts), "updated_at": fmt_time(ts), "_id": oid}
            self.orgs[oid] = rec
            return self.render(rec)

    def add_user(self, name: str, email: str, role: str = "admin", *, org_uri: str | None = None,
                 timezone_name: str = "America/New_York") -> dict[str, Any]:
        """A user in ``org_uri`` (default org). ``role``: owner | admin | user (member)."""
        if role not in ("owner", "admin", "user"):
            raise ValueError("role must be owner, admin or user")
        with self.lock:
            uid = self.new_uuid()
            org_id = self.uuid_of(org_uri, "organizations") if org_uri else self._org_id
            slug = "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c == "-") or "user"
            ts = self.now()
            rec = {
                "uri": f"{API}/users/{uid}", "name": name, "slug": slug, "email": email,
                "scheduling_url": f"https://calendly.com/{slug}", "timezone": timezone_name,
                "time_notation": "12h", "avatar_url": None, "created_at": fmt_time(ts), "updated_at": fmt_time(ts),
                "current_organization": f"{API}/organizations/{org_id}", "resource_type": "User", "locale": "en",
                "_id": uid, "_org": org_id, "_role": role,
            }
            self.users[uid] = rec
            return self.render(rec)

    def add_group(self, name: str, member_uris: Iterable[str]) -> dict[str, Any]:
        with self.lock:
            gid = self.new_uuid()
            rec = {"uri": f"{API}/groups/{gid}", "name": name, "organization": f"{API}/organizations/{self._org_id}",
                   "_id": gid, "_members": {self.uuid_of(u, "users") for u in member_uris}}
            self.groups[gid] = rec
            return self.render(rec)

    def add_token(self, token: str, user_uri: str, scopes: set[str] | None = None, expired: bool = False,
                  revoked: bool = False, *, kind: str = "pat", client_id: str | None = None,
                  ttl: float | None = None) -> str:
        """Register a bearer token (PAT by default; ``scopes=None`` = legacy full access)."""
        with self.lock:
            uid = self.uuid_of(user_uri, "users")
            if uid not in self.users:
                raise KeyError(f"unknown user {user_uri}")
            now = self.now()
            expires_at = now - 1 if expired else (now + ttl if ttl is not None else None)
            self.tokens[token] = {"user": uid, "scopes": set(scopes) if scopes is not None else None,
                                  "expires_at": expires_at, "revoked": revoked, "kind": kind,
                                  "client_id": client_id, "created_at": now}
            return token

    def expire_token(self, token: str) -> None:
        with self.lock:
            self.tokens[token]["expires_at"] = self.now() - 1

    def revoke_token(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token]["revoked"] = True
            if token in self.refresh_tokens:
                self.refresh_tokens[token]["revoked"] = True

    def register_oauth_client(self, client_id: str, client_secret: str | None, redirect_uris: list[str] | None = None,
                              *, name: str = "Calendly → Brevo connector", kind: str = "web",
                              webhook_signing_key: str | None = None) -> dict[str, Any]:
        """``redirect_uris=None`` accepts any redirect URI (sandbox convenience)."""
        with self.lock:
            rec = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris,
                   "name": name, "kind": kind, "webhook_signing_key": webhook_signing_key or secrets.token_urlsafe(32)}
            self.oauth_clients[client_id] = rec
            return dict(rec)

    # =========================================================================================
    # Python API: event types
    def add_event_type(self, name: str, questions: list[str | dict[str, Any]] | None = None, *,
                       owner_uri: str | None = None, duration: int = 30, kind: str = "solo",
                       active: bool = True, locations: list[dict[str, Any]] | None = None,
                       split_name: bool = False, invitee_limit: int | None = None, slug: str | None = None,
                       color: str = "#0069ff", description: str | None = None, secret: bool = False,
                       fire_webhooks: bool = True) -> dict[str, Any]:
        """Create an event type. ``questions`` items are names or full custom_question dicts.

        ``split_name`` makes bookings carry first_name/last_name (null otherwise, per §5).
        """
        out: list[dict[str, Any]] = []
        with self.lock:
            owner = self.users[self.uuid_of(owner_uri, "users")] if owner_uri else self.users[self._admin_id]
            etid = self.new_uuid()
            ts = self.now()
            slug = slug or "-".join(name.lower().split())
            cq = []
            for pos, q in enumerate(questions or []):
                q = {"name": q} if isinstance(q, str) else dict(q)
                qtype = q.get("type", "string")
                if qtype not in QUESTION_TYPES:
                    raise ValueError(f"unknown question type {qtype}")
                cq.append({"name": q["name"], "type": qtype, "position": q.get("position", pos),
                           "enabled": q.get("enabled", True), "required": q.get("required", False),
                           "answer_choices": list(q.get("answer_choices", [])),
                           "include_other": q.get("include_other", False)})
            limit = invitee_limit or (1 if kind == "solo" else 10)
            rec = {
                "uri": f"{API}/event_types/{etid}", "name": name, "active": active, "booking_method": "instant",
                "slug": slug, "scheduling_url": f"https://calendly.com/{owner['slug']}/{slug}",
                "duration": duration, "duration_options": None, "kind": kind, "pooling_type": None,
                "type": "StandardEventType", "color": color, "created_at": fmt_time(ts), "updated_at": fmt_time(ts),
                "internal_note": None, "is_paid": False, "description_plain": description or name,
                "description_html": f"<p>{html.escape(description or name)}</p>",
                "profile": {"type": "User", "name": owner["name"], "owner": owner["uri"]},
                "secret": secret, "deleted_at": None, "admin_managed": False,
                "locations": locations or [{"kind": "zoom_conference"}],
                "position": len(self.event_types), "locale": "en", "custom_questions": cq,
                "start_time_increment": 30 if duration <= 30 else 60, "before_buffer": 0, "after_buffer": 0,
                "_id": etid, "_owner": owner["_id"], "_org": owner["_org"], "_split_name": split_name,
                "_limit": limit, "_created": ts, "_updated": ts,
            }
            self.event_types[etid] = rec
            if fire_webhooks:
                self._fire_event_type("event_type.created", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    def update_event_type(self, uri: str, *, fire_webhooks: bool = True, **changes: Any) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        with self.lock:
            rec = self.event_types[self.uuid_of(uri, "event_types")]
            for key, value in changes.items():
                if key.startswith("_") or key in ("uri", "created_at"):
                    raise ValueError(f"cannot change {key}")
                rec[key] = value
            ts = self.now()
            rec["updated_at"], rec["_updated"] = fmt_time(ts), ts
            if fire_webhooks:
                self._fire_event_type("event_type.updated", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    def delete_event_type(self, uri: str, *, fire_webhooks: bool = True) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        with self.lock:
            rec = self.event_types[self.uuid_of(uri, "event_types")]
            ts = self.now()
            rec.update(active=False, deleted_at=fmt_time(ts), updated_at=fmt_time(ts), _updated=ts)
            if fire_webhooks:
                self._fire_event_type("event_type.deleted", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    # =========================================================================================
    # Python API: bookings
    def book(self, event_type_uri: str, email: str, name: str, start_time: datetime | str | float, *,
             questions_and_answers: list[dict[str, Any]] | None = None, first_name: str | None = None,
             last_name: str | None = None, tracking: dict[str, Any] | None = None,
             text_reminder_number: str | None = None, timezone: str | None = "America/New_York",
             fire_webhooks: bool = True, scheduling_method: str | None = None,
             event_uri: str | None = None, created_at: datetime | str | float | None = None,
             payment: dict[str, Any] | None = None, location: dict[str, Any] | None = None,
             event_guests: list[str] | None = None, invitee_scheduled_by: str | None = None) -> dict[str, Any]:
        """Book (no availability check: tests need freedom). Group types join an open event at the slot."""
        out: list[dict[str, Any]] = []
        with self.lock:
            inv = self._book_locked(
                event_type_uri, email, name, to_ts(start_time), questions_and_answers=questions_and_answers,
                first_name=first_name, last_name=last_name, tracking=tracking,
                text_reminder_number=text_reminder_number, tz=timezone, scheduling_method=scheduling_method,
                event_uri=event_uri, created=to_ts(created_at) if created_at is not None else None,
                payment=payment, location=location, event_guests=event_guests,
                invitee_scheduled_by=invitee_scheduled_by)
            if fire_webhooks:
                self._fire_invitee("invitee.created", inv, out)
            result = self.render(inv)
        self._send(out)
        return result

    def _book_locked(self, event_type_uri: str, email: str, name: str, start: float, *,
                     questions_and_answers: list[dict[str, Any]] | None, first_name: str | None,
                     last_name: str | None, tracking: dict[str, Any] | None, text_reminder_number: str | None,
                     tz: str | None, scheduling_method: str | None, event_uri: str | None, created: float | None,
                     payment: dict[str, Any] | None = None, location: dict[str, Any] | None = None,
                     event_guests: list[str] | None = None, old_invitee: str | None = None,
                     invitee_scheduled_by: str | None = None) -> dict[str, Any]:
        et = self.event_types[self.uuid_of(event_type_uri, "event_types")]
        ts = created if created is not None else self.now()
        event = None
        if event_uri:
            event = self.events[self.uuid_of(event_uri, "scheduled_events")]
        elif et["kind"] == "group":
            for ev in self.events.values():
                if (ev["_event_type"] == et["_id"] and ev["_start"] == start and ev["status"] == "active"
                        and ev["invitees_counter"]["active"] < ev["invitees_counter"]["limit"]):
                    event = ev
                    break
        if event is None:
            event = self._new_event(et, start, ts, location=location, invitee_phone=text_reminder_number,
                                    event_guests=event_guests)
        if et["_split_name"]:
            if first_name is None and last_name is None:
                first_name, _, last_name = name.partition(" ")
                last_name = last_name or None
        else:
            first_name = last_name = None
        iid = self.new_uuid()
        full_tracking = {k: None for k in TRACKING_KEYS}
        full_tracking.update(tracking or {})
        inv = {
            "uri": f"{event['uri']}/invitees/{iid}", "email": email, "first_name": first_name,
            "last_name": last_name, "name": name, "status": "active",
            "questions_and_answers": [
                {"question": qa["question"], "answer": qa["answer"], "position": qa.get("position", i)}
                for i, qa in enumerate(questions_and_answers or [])
            ],
            "timezone": tz, "event": event["uri"], "created_at": fmt_time(ts), "updated_at": fmt_time(ts),
            "tracking": full_tracking, "text_reminder_number": text_reminder_number, "rescheduled": False,
            "old_invitee": old_invitee, "new_invitee": None,
            "cancel_url": f"https://calendly.com/cancellations/{iid}",
            "reschedule_url": f"https://calendly.com/reschedulings/{iid}",
            "routing_form_submission": None, "payment": payment, "no_show": None, "reconfirmation": None,
            "scheduling_method": scheduling_method, "invitee_scheduled_by": invitee_scheduled_by,
            "_id": iid, "_event": event["_id"], "_created": ts,
        }
        self.invitees[iid] = inv
        counter = event["invitees_counter"]
        counter["total"] += 1
        counter["active"] += 1
        event["updated_at"] = fmt_time(max(ts, event["_created"]))
        return inv

    def _new_event(self, et: dict[str, Any], start: float, created: float, *, location: dict[str, Any] | None = None,
                   invitee_phone: str | None = None, event_guests: list[str] | None = None) -> dict[str, Any]:
        host = self.users[et["_owner"]]
        eid = self.new_uuid()
        end = start + et["duration"] * 60
        kind = (location or {}).get("kind") or (et["locations"][0]["kind"] if et["locations"] else "ask_invitee")
        loc: dict[str, Any]
        if kind == "zoom_conference":
            mid = self.rng.randrange(10**10, 10**11)
            loc = {"type": "zoom", "status": "pushed", "join_url": f"https://us06web.zoom.us/j/{mid}", "data": {"id": mid}}
        elif kind == "google_conference":
            code = "-".join("".join(self.rng.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(n)) for n in (3, 4, 3))
            loc = {"type": "google_conference", "status": "pushed", "join_url": f"https://meet.google.com/{code}", "data": {}}
        elif kind == "microsoft_teams_conference":
            loc = {"type": "microsoft_teams_conference", "status": "pushed",
                   "join_url": f"https://teams.microsoft.com/l/meetup-join/{eid}", "data": {}}
        elif kind == "outbound_call":
            loc = {"type": "outbound_call", "location": (location or {}).get("location") or invitee_phone}
        else:
            default = next((l.get("location") for l in et["locations"] if l.get("kind") == kind), None)
            loc = {"type": kind, "location": (location or {}).get("location") or default}
        ev = {
            "uri": f"{API}/scheduled_events/{eid}", "name": et["name"], "meeting_notes_plain": None,
            "meeting_notes_html": None, "status": "active", "start_time": fmt_time(start), "end_time": fmt_time(end),
            "event_type": et["uri"], "location": loc,
            "invitees_counter": {"total": 0, "active": 0, "limit": et["_limit"]},
            "created_at": fmt_time(created), "updated_at": fmt_time(created),
            "event_memberships": [{"user": host["uri"], "user_email": host["email"], "user_name": host["name"]}],
            "event_guests": [{"email": g, "created_at": fmt_time(created), "updated_at": fmt_time(created)} for g in event_guests or []],
            "calendar_event": {"kind": "google", "external_id": "%020x" % self.rng.getrandbits(80)},
            "_id": eid, "_event_type": et["_id"], "_host": host["_id"], "_org": et["_org"],
            "_start": start, "_created": created,
        }
        self.events[eid] = ev
        return ev

    def _invitee_rec(self, invitee_uri: str) -> dict[str, Any]:
        iid = self.uuid_of(invitee_uri, "invitees")
        if iid not in self.invitees:
            raise KeyError(f"unknown invitee {invitee_uri}")
        return self.invitees[iid]

    def cancel(self, invitee_uri: str, reason: str | None = None, canceler_type: str = "invitee", *,
               fire_webhooks: bool = True, canceled_by: str | None = None,
               at: datetime | str | float | None = None) -> dict[str, Any]:
        """Cancel one invitee (a solo event is canceled with it). Returns the invitee."""
        out: list[dict[str, Any]] = []
        with self.lock:
            inv = self._invitee_rec(invitee_uri)
            if inv["status"] == "canceled":
                raise ValueError("invitee already canceled")
            ts = to_ts(at) if at is not None else self.now()
            ev = self.events[inv["_event"]]
            if canceled_by is None:
                canceled_by = inv["name"] if canceler_type == "invitee" else self.users[ev["_host"]]["name"]
            self._cancel_invitee_locked(inv, reason, canceler_type, canceled_by, ts)
            if fire_webhooks:
                self._fire_invitee("invitee.canceled", inv, out)
            result = self.render(inv)
        self._send(out)
        return result

    def _cancel_invitee_locked(self, inv: dict[str, Any], reason: str | None, canceler_type: str,
                               canceled_by: str, ts: float) -> None:
        cancellation = {"canceled_by": canceled_by, "reason": reason, "canceler_type": canceler_type, "created_at": fmt_time(ts)}
        inv.update(status="canceled", cancellation=cancellation, updated_at=fmt_time(ts))
        ev = self.events[inv["_event"]]
        ev["invitees_counter"]["active"] -= 1
        ev["updated_at"] = fmt_time(ts)
        if ev["invitees_counter"]["limit"] == 1 and ev["status"] == "active":
            ev["status"] = "canceled"
            ev["cancellation"] = dict(cancellation)

    def reschedule(self, invitee_uri: str, new_start_time: datetime | str | float, *, fire_webhooks: bool = True,
                   at: datetime | str | float | None = None) -> dict[str, Any]:
        """The documented pair: old invitee canceled+rescheduled→new_invitee; new invitee on a NEW event."""
        out: list[dict[str, Any]] = []
        with self.lock:
            old = self._invitee_rec(invitee_uri)
            if old["status"] != "active":
                raise ValueError("only active invitees can be rescheduled")
            ts = to_ts(at) if at is not None else self.now()
            old_ev = self.events[old["_event"]]
            et = self.event_types[old_ev["_event_type"]]
            new = self._book_locked(
                et["uri"], old["email"], old["name"], to_ts(new_start_time),
                questions_and_answers=old["questions_and_answers"], first_name=old["first_name"],
                last_name=old["last_name"], tracking=old["tracking"], text_reminder_number=old["text_reminder_number"],
                tz=old["timezone"], scheduling_method=old["scheduling_method"], event_uri=None, created=ts,
                payment=old["payment"], old_invitee=old["uri"])
            self._cancel_invitee_locked(old, None, "invitee", old["name"], ts)
            old.update(rescheduled=True, new_invitee=new["uri"])
            if fire_webhooks:
                self._fire_invitee("invitee.canceled", old, out)
                self._fire_invitee("invitee.created", new, out)
            result = self.render(new)
        self._send(out)
        return result

    def mark_no_show(self, invitee_uri: str, *, fire_webhooks: bool = True,
                     at: datetime | str | float | None = None) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        with self.lock:
            ns = self._mark_no_show_locked(self._invitee_rec(invitee_uri), to_ts(at) if at is not None else self.now())
            if fire_webhooks:
                self._fire_invitee("invitee_no_show.created", self.invitees[ns["_invitee"]], out)
            result = self.render(ns)
        self._send(out)
        return result

    def _mark_no_show_locked(self, inv: dict[str, Any], ts: float) -> dict[str, Any]:
        if inv["no_show"] is not None:
            raise invalid("invitee", "Invitee is already marked as no-show")
        nid = self.new_uuid()
        ns = {"uri": f"{API}/invitee_no_shows/{nid}", "invitee": inv["uri"], "created_at": fmt_time(ts),
              "_id": nid, "_invitee": inv["_id"]}
        self.no_shows[nid] = ns
        inv["no_show"] = {"uri": ns["uri"], "created_at": ns["created_at"]}
        inv["updated_at"] = fmt_time(ts)
        return ns

    def unmark_no_show(self, no_show_uri: str, *, fire_webhooks: bool = True) -> None:
        out: list[dict[str, Any]] = []
        with self.lock:
            ns = self.no_shows.pop(self.uuid_of(no_show_uri, "invitee_no_shows"))
            inv = self.invitees[ns["_invitee"]]
            inv["no_show"] = None
            inv["updated_at"] = fmt_time(self.now())
            if fire_webhooks:
                self._fire_invitee("invitee_no_show.deleted", inv, out)
        self._send(out)

    def disable_subscription(self, uri: str) -> dict[str, Any]:
        """What Calendly does silently after 24 h of failed deliveries."""
        with self.lock:
            sub = self.subscriptions[self.uuid_of(uri, "webhook_subscriptions")]
            ts = self.now()
            sub["state"] = "disabled"
            if sub["retry_started_at"] is None:
                sub["retry_started_at"] = fmt_time(ts)
            sub["updated_at"] = fmt_time(ts)
            return self.render(sub)

    def start(self) -> "CalendlySim":
        super().start()
        quiet_disconnects(self)
        return self

    def stop(self) -> None:
        """Like ``SimServer.stop`` but without waiting out the 0.5 s ``serve_forever`` poll."""
        fast_stop(self)

    # =========================================================================================
    # faults
    def force_429(self, times: int = 1, reset: int = 1, route: str | None = r"^\w+ /(?!_sim/|oauth/)") -> Fault:
        """The next ``times`` API calls get 429 with ``X-RateLimit-Reset: reset``."""
        limit = str(self.rate_limit_per_minute or 500)
        return self.inject(Fault(kind="rate_limit", route=route, times=times, headers={
            "X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}))

    def fail(self, status: int = 500, times: int | None = 1, route: str | None = r"^\w+ /(?!_sim/|oauth/)") -> Fault:
        return self.inject(Fault(kind="status", status=status, route=route, times=times))

    def rate_limited_response(self, fault: Fault) -> Response:
        headers = {"X-RateLimit-Limit": str(self.rate_limit_per_minute or 500), "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset": str(self.reset_seconds)}
        headers.update(fault.headers)
        return Response(429, {"title": "Too Many Requests", "message": "You have exceeded the rate limit. Retry after the reset."}, headers)

    def fault_response(self, fault: Fault, req: Request) -> Response | None:
        if fault.kind == "status" and fault.body is None:
            title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(fault.status, "Error")
            msg = "The server encountered an unexpected condition that prevented it from fulfilling the request."
            return Response(fault.status, {"title": title, "message": msg}, dict(fault.headers))
        return super().fault_response(fault, req)

    def not_found(self, req: Request) -> Response:
        return not_found().response()

    # =========================================================================================
    # auth, rate limit, scopes
    def _authenticate(self, req: Request) -> _Ctx:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        rec = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if rec is None:
            raise ApiError(401, "Unauthenticated", "The access token is invalid")
        if rec["revoked"]:
            raise ApiError(401, "Unauthenticated", "The access token was revoked")
        if rec["expires_at"] is not None and self.now() >= rec["expires_at"]:
            raise ApiError(401, "Unauthenticated", "The access token expired")
        return _Ctx(token.strip(), self.users[rec["user"]], rec["scopes"], rec["kind"], rec["client_id"])

    def _rate(self, uid: str | None) -> tuple[bool, dict[str, str]]:
        """Sliding window per user. Returns (allowed, headers). Rejected calls are not counted."""
        limit = self.rate_limit_per_minute or 500
        window = float(self.reset_seconds)
        now = self.now()
        if uid is None:
            return True, {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(limit),
                          "X-RateLimit-Reset": str(int(window))}
        dq = self._windows.setdefault(uid, deque())
        while dq and dq[0] <= now - window:
            dq.popleft()
        allowed = self.rate_limit_per_minute is None or len(dq) < limit
        if allowed:
            dq.append(now)
        reset = max(1, math.ceil(dq[0] + window - now)) if dq else int(window)
        return allowed, {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - len(dq))),
                         "X-RateLimit-Reset": str(reset)}

    def _api(self, method: str, pattern: str, scopes: tuple[str, ...] | None,
             fn: Callable[[Request, _Ctx, list[dict[str, Any]]], Response]) -> None:
        """Register an authenticated, rate-limited, scope-checked API route."""

        def handler(req: Request) -> Response:
            out: list[dict[str, Any]] = []
            with self.lock:
                uid = None
                try:
                    ctx = self._authenticate(req)
                    uid = ctx.uid
                    allowed, rl_headers = self._rate(uid)
                    if not allowed:
                        resp = Response(429, {"title": "Too Many Requests",
                                              "message": "You have exceeded the rate limit. Retry after the reset."})
                    else:
                        if scopes and not any(has_scope(ctx.scopes, s) for s in scopes):
                            raise ApiError(403, "Permission Denied",
                                           f"The access token is missing the required scope: {' or '.join(scopes)}",
                                           [{"parameter": "scope", "message": f"Missing required scope: {s}"} for s in scopes[:1]])
                        resp = fn(req, ctx, out)
                except ApiError as err:
                    resp = err.response()
                    if uid is None:
                        rl_headers = self._rate(None)[1]
                resp.headers.update(rl_headers)
            self._send(out)
            return resp

        self.route(method, pattern, handler)

    # =========================================================================================
    # request parsing helpers
    def _count(self, req: Request) -> int:
        raw = req.q("count")
        if raw is None:
            return 20
        try:
            value = int(raw)
        except ValueError:
            raise invalid("count", "must be an integer between 1 and 100") from None
        if not 1 <= value <= 100:
            raise invalid("count", "must be between 1 and 100")
        return value

    @staticmethod
    def _sort(req: Request, allowed: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
        raw = req.q("sort") or default
        spec = []
        for part in raw.split(","):
            field, _, direction = part.strip().partition(":")
            direction = direction or "asc"
            if field not in allowed or direction not in ("asc", "desc"):
                raise invalid("sort", f"must be one of {', '.join(a + ':asc|desc' for a in allowed)}")
            spec.append((field, direction == "desc"))
        return spec

    @staticmethod
    def _time_param(req: Request, name: str) -> float | None:
        raw = req.q(name)
        if raw is None or raw == "":
            return None
        try:
            return to_ts(raw)
        except ValueError:
            raise invalid(name, "must be a valid UTC timestamp like 2020-01-02T03:04:05.678123Z") from None

    @staticmethod
    def _bool_param(req: Request, name: str) -> bool | None:
        raw = req.q(name)
        if raw is None:
            return None
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise invalid(name, "must be true or false")

    def _paginate(self, req: Request, items: list[dict[str, Any]], sort: list[tuple[str, bool]],
                  keyfn: Callable[[dict[str, Any], str], Any]) -> Response:
        """Keyset pagination with opaque tokens bound to the request's filters (§6)."""
        count = self._count(req)
        filters = [(k, v) for k in sorted(req.query) if k not in ("count", "page_token") for v in req.query[k]]
        fhash = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
        dirs = [desc for _, desc in sort] + [False]

        def raw_key(rec: dict[str, Any]) -> list[Any]:
            return [keyfn(rec, f) for f, _ in sort] + [rec["_id"]]

        def rank(values: list[Any]) -> tuple[Any, ...]:
            return tuple(_Desc(v) if d else v for v, d in zip(values, dirs))

        keyed = sorted(((raw_key(r), r) for r in items), key=lambda p: rank(p[0]))
        ranks = [rank(k) for k, _ in keyed]
        token = req.q("page_token")
        start = 0
        if token:
            try:
                data = json.loads(_unb64(token))
                direction, cursor, th = data["d"], data["k"], data["h"]
                cursor_rank = rank(cursor)
            except Exception:
                raise invalid("page_token", "is invalid") from None
            if th != fhash:
                raise invalid("page_token", "does not match the other query parameters")
            if direction == "n":
                start = bisect.bisect_right(ranks, cursor_rank)
            else:
                start = max(0, bisect.bisect_left(ranks, cursor_rank) - count)
        page = keyed[start:start + count]
        end = start + len(page)

        def tok(direction: str, key: list[Any]) -> str:
            return _b64(json.dumps({"d": direction, "k": key, "h": fhash}).encode())

        next_tok = tok("n", keyed[end - 1][0]) if page and end < len(keyed) else None
        prev_tok = tok("p", keyed[start][0]) if page and start > 0 else None

        def link(t: str | None) -> str | None:
            if t is None:
                return None
            return f"{self.url}{req.path}?{urlencode(filters + [('count', str(count)), ('page_token', t)])}"

        return Response(200, {
            "collection": [self.render(r) for _, r in page],
            "pagination": {"count": len(page), "next_page": link(next_tok), "previous_page": link(prev_tok),
                           "next_page_token": next_tok, "previous_page_token": prev_tok},
        })

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        try:
            data = req.json()
        except (ValueError, UnicodeDecodeError):
            raise invalid("body", "must be valid JSON") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise invalid("body", "must be a JSON object")
        return data

    def _event_for(self, ctx: _Ctx, uuid: str, denied: str = "You do not have permission to access this resource.") -> dict[str, Any]:
        ev = self.events.get(uuid)
        if ev is None:
            raise not_found()
        if ev["_host"] != ctx.uid and not (ctx.is_admin and ev["_org"] == ctx.org):
            raise forbidden(denied)
        return ev

    # =========================================================================================
    # routes
    def _register_routes(self) -> None:
        a = self._api
        a("GET", "/users/me", SCOPE_USERS, self._h_me)
        a("GET", "/users/{uuid}", SCOPE_USERS, self._h_user)
        a("GET", "/organizations/{uuid}", SCOPE_ORGS, self._h_org)
        a("GET", "/event_types", SCOPE_ET, self._h_event_types)
        a("GET", "/event_types/{uuid}", SCOPE_ET, self._h_event_type)
        a("GET", "/event_type_available_times", SCOPE_AVAIL, self._h_available_times)
        a("GET", "/scheduled_events", SCOPE_SE_R, self._h_events)
        a("GET", "/scheduled_events/{uuid}", SCOPE_SE_R, self._h_event)
        a("GET", "/scheduled_events/{uuid}/invitees", SCOPE_SE_R, self._h_invitees)
        a("GET", "/scheduled_events/{uuid}/invitees/{inv}", SCOPE_SE_R, self._h_invitee)
        a("POST", "/scheduled_events/{uuid}/cancellation", SCOPE_SE_W, self._h_cancel_event)
        a("POST", "/invitee_no_shows", SCOPE_SE_W, self._h_create_no_show)
        a("GET", "/invitee_no_shows/{uuid}", SCOPE_SE_R, self._h_get_no_show)
        a("DELETE", "/invitee_no_shows/{uuid}", SCOPE_SE_W, self._h_delete_no_show)
        a("POST", "/invitees", SCOPE_SE_W, self._h_create_invitee)
        a("POST", "/scheduling_links", SCOPE_LINKS, self._h_scheduling_link)
        a("GET", "/webhook_subscriptions", SCOPE_WH_R, self._h_list_subs)
        a("POST", "/webhook_subscriptions", SCOPE_WH_W, self._h_create_sub)
        a("GET", "/webhook_subscriptions/{uuid}", SCOPE_WH_R, self._h_get_sub)
        a("DELETE", "/webhook_subscriptions/{uuid}", SCOPE_WH_W, self._h_delete_sub)
        a("GET", "/sample_webhook_data", SCOPE_WH_R, self._h_sample)
        self.route("GET", "/oauth/authorize", self._h_authorize_page)
        self.route("POST", "/oauth/authorize", self._h_authorize_decide)
        self.route("POST", "/oauth/token", self._h_token)
        self.route("POST", "/oauth/revoke", self._h_revoke)
        self.route("POST", "/oauth/introspect", self._h_introspect)
        self.route("POST", "/_sim/book", self._h_sim_book)
        self.route("POST", "/_sim/cancel", self._h_sim_cancel)
        self.route("POST", "/_sim/reschedule", self._h_sim_reschedule)
        self.route("POST", "/_sim/no_show", self._h_sim_no_show)
        self.route("GET", "/_sim/state", self._h_sim_state)

    # -- users / orgs ----------------------------------------------------------------------------
    def _h_me(self, req: Request, ctx: _Ctx, out: list) -> Response:
        return Response(200, {"resource": self.render(ctx.user)})

    def _h_user(self, req: Request, ctx: _Ctx, out: list) -> Response:
        user = self.users.get(req.params["uuid"])
        if user is None:
            raise not_found()
        if user["_org"] != ctx.org:
            raise forbidden("This user is not in your organization")
        return Response(200, {"resource": self.render(user)})

    def _h_org(self, req: Request, ctx: _Ctx, out: list) -> Response:
        org = self.orgs.get(req.params["uuid"])
        if org is None:
            raise not_found()
        if org["_id"] != ctx.org:
            raise forbidden()
        return Response(200, {"resource": self.render(org)})

    # -- event types -----------------------------------------------------------------------------
    def _h_event_types(self, req: Request, ctx: _Ctx, out: list) -> Response:
        user_q, org_q = req.q("user"), req.q("organization")
        if not user_q and not org_q:
            raise invalid("organization", "one of user or organization is required")
        items = [et for et in self.event_types.values() if et["deleted_at"] is None]
        if org_q:
            if self.uuid_of(org_q, "organizations") != ctx.org:
                raise forbidden()
            items = [et for et in items if et["_org"] == ctx.org]
        if user_q:
            user = self._user_rec(user_q)
            if user is None or user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            items = [et for et in items if et["_owner"] == user["_id"]]
        active = self._bool_param(req, "active")
        if active is not None:
            items = [et for et in items if et["active"] == active]
        sort = self._sort(req, ("name", "position", "created_at", "updated_at"), "name:asc")
        keymap = {"created_at": "_created", "updated_at": "_updated"}
        return self._paginate(req, items, sort, lambda r, f: r[keymap.get(f, f)])

    def _h_event_type(self, req: Request, ctx: _Ctx, out: list) -> Response:
        et = self.event_types.get(req.params["uuid"])
        if et is None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        return Response(200, {"resource": self.render(et)})

    def _slots(self, et: dict[str, Any], start: float, end: float) -> list[tuple[float, int]]:
        """Open slots (start, remaining) on a 09:00–17:00 UTC weekday grid."""
        step = et["start_time_increment"] * 60
        dur = et["duration"] * 60
        now = self.now()
        t = math.ceil(start / step) * step
        result = []
        while t < end:
            dt = datetime.fromtimestamp(t, timezone.utc)
            day_start = dt.replace(hour=9, minute=0, second=0, microsecond=0).timestamp()
            day_end = dt.replace(hour=17, minute=0, second=0, microsecond=0).timestamp()
            if dt.weekday() < 5 and day_start <= t and t + dur <= day_end and t >= now:
                remaining = self._remaining(et, t)
                if remaining > 0:
                    result.append((float(t), remaining))
            t += step
        return result

    def _remaining(self, et: dict[str, Any], t: float) -> int:
        dur = et["duration"] * 60
        for ev in self.events.values():
            if ev["status"] != "active" or ev["_host"] != et["_owner"]:
                continue
            ev_end = ev["_start"] + (to_ts(ev["end_time"]) - to_ts(ev["start_time"]))
            if ev["_start"] < t + dur and t < ev_end:
                if et["kind"] == "group" and ev["_event_type"] == et["_id"] and ev["_start"] == t:
                    return ev["invitees_counter"]["limit"] - ev["invitees_counter"]["active"]
                return 0
        return et["_limit"]

    def _h_available_times(self, req: Request, ctx: _Ctx, out: list) -> Response:
        for name in ("event_type", "start_time", "end_time"):
            if not req.q(name):
                raise invalid(name, "is required")
        et = self.event_types.get(self.uuid_of(req.q("event_type") or "", "event_types"))
        if et is None:
            raise not_found()
        start, end = self._time_param(req, "start_time"), self._time_param(req, "end_time")
        assert start is not None and end is not None
        if start < self.now() - 60:
            raise invalid("start_time", "must be in the future")
        if end <= start:
            raise invalid("end_time", "must be after start_time")
        if end - start > self.max_available_days * 86400:
            raise invalid("end_time", f"date range can be no greater than {self.max_available_days} days")
        owner = self.users[et["_owner"]]
        collection = []
        for t, remaining in self._slots(et, start, end):
            day = datetime.fromtimestamp(t, timezone.utc)
            collection.append({
                "status": "available", "invitees_remaining": remaining, "start_time": fmt_time(t),
                "scheduling_url": f"https://calendly.com/{owner['slug']}/{et['slug']}/"
                                  f"{day.strftime('%Y-%m-%dT%H:%M:%SZ')}?month={day.strftime('%Y-%m')}&date={day.strftime('%Y-%m-%d')}",
            })
        return Response(200, {"collection": collection})

    # -- scheduled events ------------------------------------------------------------------------
    def _h_events(self, req: Request, ctx: _Ctx, out: list) -> Response:
        user_q, org_q, group_q = req.q("user"), req.q("organization"), req.q("group")
        if not (user_q or org_q or group_q):
            raise invalid("user", "one of user, organization or group is required")
        items = list(self.events.values())
        if org_q:
            if self.uuid_of(org_q, "organizations") != ctx.org or not ctx.is_admin:
                raise forbidden()
            items = [e for e in items if e["_org"] == ctx.org]
        if user_q:
            user = self._user_rec(user_q)
            if user is None or user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            if user["_id"] != ctx.uid and not org_q:
                raise forbidden("Please also specify organization when requesting events for a user within your organization.")
            items = [e for e in items if e["_host"] == user["_id"]]
        if group_q:
            if not org_q:
                raise forbidden("Please also specify organization when requesting events for a group within your organization.")
            group = self.groups.get(self.uuid_of(group_q, "groups"))
            if group is None:
                raise not_found()
            items = [e for e in items if e["_host"] in group["_members"]]
        status = req.q("status")
        if status is not None:
            if status not in ("active", "canceled"):
                raise invalid("status", "must be active or canceled")
            items = [e for e in items if e["status"] == status]
        lo, hi = self._time_param(req, "min_start_time"), self._time_param(req, "max_start_time")
        if lo is not None:
            items = [e for e in items if e["_start"] >= lo]
        if hi is not None:
            items = [e for e in items if e["_start"] < hi]
        email = req.q("invitee_email")
        if email:
            with_email = {i["_event"] for i in self.invitees.values() if i["email"].lower() == email.lower()}
            items = [e for e in items if e["_id"] in with_email]
        sort = self._sort(req, ("start_time",), "start_time:asc")
        return self._paginate(req, items, sort, lambda r, f: r["_start"])

    def _h_event(self, req: Request, ctx: _Ctx, out: list) -> Response:
        return Response(200, {"resource": self.render(self._event_for(ctx, req.params["uuid"]))})

    def _h_invitees(self, req: Request, ctx: _Ctx, out: list) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to view this event")
        items = [i for i in self.invitees.values() if i["_event"] == ev["_id"]]
        status = req.q("status")
        if status is not None:
            if status not in ("active", "canceled"):
                raise invalid("status", "must be active or canceled")
            items = [i for i in items if i["status"] == status]
        email = req.q("email")
        if email:
            items = [i for i in items if i["email"].lower() == email.lower()]
        sort = self._sort(req, ("created_at",), "created_at:asc")
        return self._paginate(req, items, sort, lambda r, f: r["_created"])

    def _h_invitee(self, req: Request, ctx: _Ctx, out: list) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to view this event")
        inv = self.invitees.get(req.params["inv"])
        if inv is None or inv["_event"] != ev["_id"]:
            raise not_found()
        return Response(200, {"resource": self.render(inv)})

    def _h_cancel_event(self, req: Request, ctx: _Ctx, out: list) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to cancel this event")
        body = self._body(req)
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise invalid("reason", "must be a string")
        if ev["status"] == "canceled":
            raise forbidden("Event is already canceled")
        now = self.now()
        if ev["_start"] < now:
            raise forbidden("Event in the past")
        for inv in [i for i in self.invitees.values() if i["_event"] == ev["_id"] and i["status"] == "active"]:
            self._cancel_invitee_locked(inv, reason, "host", ctx.user["name"], now)
            self._fire_invitee("invitee.canceled", inv, out)
        cancellation = {"canceled_by": ctx.user["name"], "reason": reason, "canceler_type": "host", "created_at": fmt_time(now)}
        ev.update(status="canceled", cancellation=cancellation, updated_at=fmt_time(now))
        return Response(201, {"resource": self.render(cancellation)})

    # -- no-shows --------------------------------------------------------------------------------
    def _h_create_no_show(self, req: Request, ctx: _Ctx, out: list) -> Response:
        body = self._body(req)
        uri = body.get("invitee")
        if not isinstance(uri, str) or not uri:
            raise invalid("invitee", "is required")
        inv = self.invitees.get(self.uuid_of(uri, "invitees"))
        if inv is None:
            raise not_found()
        self._event_for(ctx, inv["_event"])
        ns = self._mark_no_show_locked(inv, self.now())
        self._fire_invitee("invitee_no_show.created", inv, out)
        return Response(201, {"resource": self.render(ns)})

    def _no_show_for(self, ctx: _Ctx, uuid: str) -> dict[str, Any]:
        ns = self.no_shows.get(uuid)
        if ns is None:
            raise not_found()
        self._event_for(ctx, self.invitees[ns["_invitee"]]["_event"])
        return ns

    def _h_get_no_show(self, req: Request, ctx: _Ctx, out: list) -> Response:
        return Response(200, {"resource": self.render(self._no_show_for(ctx, req.params["uuid"]))})

    def _h_delete_no_show(self, req: Request, ctx: _Ctx, out: list) -> Response:
        ns = self._no_show_for(ctx, req.params["uuid"])
        del self.no_shows[ns["_id"]]
        inv = self.invitees[ns["_invitee"]]
        inv["no_show"] = None
        inv["updated_at"] = fmt_time(self.now())
        self._fire_invitee("invitee_no_show.deleted", inv, out)
        return Response(204)

    # -- scheduling API --------------------------------------------------------------------------
    def _h_create_invitee(self, req: Request, ctx: _Ctx, out: list) -> Response:
        body = self._body(req)
        et_uri, start_raw, invitee = body.get("event_type"), body.get("start_time"), body.get("invitee")
        if not et_uri:
            raise invalid("event_type", "is required")
        if not start_raw:
            raise invalid("start_time", "is required")
        if not isinstance(invitee, dict):
            raise invalid("invitee", "is required")
        et = self.event_types.get(self.uuid_of(str(et_uri), "event_types"))
        if et is None or et["deleted_at"] is not None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        try:
            start = to_ts(str(start_raw))
        except ValueError:
            raise invalid("start_time", "must be a valid UTC timestamp") from None
        email = invitee.get("email")
        if not email or "@" not in str(email):
            raise invalid("invitee.email", "is required and must be a valid email")
        tz = invitee.get("timezone")
        if not tz:
            raise invalid("invitee.timezone", "is required")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("invitee.timezone", "must be a valid IANA time zone") from None
        name = invitee.get("name")
        first, last = invitee.get("first_name"), invitee.get("last_name")
        if not name and not first:
            raise invalid("invitee.name", "name or first_name is required")
        name = name or " ".join(p for p in (first, last) if p)
        qas = body.get("questions_and_answers") or []
        names = {q["name"]: q for q in et["custom_questions"] if q["enabled"]}
        if not isinstance(qas, list):
            raise invalid("questions_and_answers", "must be a list")
        answered = set()
        for qa in qas:
            if not isinstance(qa, dict) or qa.get("question") not in names:
                raise invalid("questions_and_answers", f"unknown question {qa.get('question') if isinstance(qa, dict) else qa!r}")
            answered.add(qa["question"])
        for qname, q in names.items():
            if q["required"] and qname not in answered:
                raise invalid("questions_and_answers", f"answer required for {qname}")
        tracking = body.get("tracking")
        if tracking is not None:
            if not isinstance(tracking, dict) or set(TRACKING_KEYS) - set(tracking):
                raise invalid("tracking", f"must include all of {', '.join(TRACKING_KEYS)}")
        guests = body.get("event_guests") or []
        if not isinstance(guests, list) or len(guests) > 10:
            raise invalid("event_guests", "at most 10 guests are allowed")
        location = body.get("location")
        if location is not None:
            kinds = {l["kind"] for l in et["locations"]}
            if not isinstance(location, dict) or location.get("kind") not in kinds:
                raise invalid("location.kind", f"must be one of {', '.join(sorted(kinds))}")
        if not any(abs(t - start) < 1 for t, _ in self._slots(et, start - 1, start + 1)):
            raise invalid("start_time", "The selected time is not available")
        inv = self._book_locked(
            et["uri"], str(email), str(name), start, questions_and_answers=qas, first_name=first,
            last_name=last, tracking=tracking, text_reminder_number=invitee.get("text_reminder_number"),
            tz=str(tz), scheduling_method="api", event_uri=None, created=None, location=location,
            event_guests=guests)
        self._fire_invitee("invitee.created", inv, out)
        return Response(201, {"resource": self.render(inv)})

    def _h_scheduling_link(self, req: Request, ctx: _Ctx, out: list) -> Response:
        body = self._body(req)
        for name in ("max_event_count", "owner", "owner_type"):
            if body.get(name) in (None, ""):
                raise invalid(name, "is required")
        if body["max_event_count"] != 1:
            raise invalid("max_event_count", "must be 1")
        if body["owner_type"] != "EventType":
            raise invalid("owner_type", "must be EventType")
        et = self.event_types.get(self.uuid_of(str(body["owner"]), "event_types"))
        if et is None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        code = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        link = {"booking_url": f"https://calendly.com/d/{code[:4]}-{code[4:]}/{et['slug']}", "owner": et["uri"], "owner_type": "EventType"}
        self.scheduling_links.append(link)
        return Response(201, {"resource": self.render(link)})

    # -- webhook subscriptions -------------------------------------------------------------------
    def _scope_target(self, ctx: _Ctx, scope: str | None, user_q: str | None, group_q: str | None,
                      write: bool) -> tuple[str | None, str | None]:
        """Validate scope + user/group against the caller's role; return (user_id, group_id)."""
        if scope not in ("organization", "user", "group"):
            raise invalid("scope", "must be one of organization, user, group")
        if scope == "organization":
            if not ctx.is_admin:
                raise forbidden("You do not have permission")
            return None, None
        if scope == "user":
            if not user_q:
                raise invalid("user", "is required when scope is user")
            user = self._user_rec(user_q)
            if user is None:
                raise not_found()
            if user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            if user["_id"] != ctx.uid and not ctx.is_admin:
                raise forbidden("You do not have permission")
            return user["_id"], None
        if not group_q:
            raise invalid("group", "is required when scope is group")
        group = self.groups.get(self.uuid_of(group_q, "groups"))
        if group is None:
            raise not_found()
        if not ctx.is_admin and ctx.uid not in group["_members"]:
            raise forbidden("You do not have permission")
        return None, group["_id"]

    def _h_list_subs(self, req: Request, ctx: _Ctx, out: list) -> Response:
        org_q, scope = req.q("organization"), req.q("scope")
        if not org_q:
            raise invalid("organization", "is required")
        if not scope:
            raise invalid("scope", "is required")
        if self.uuid_of(org_q, "organizations") != ctx.org:
            raise forbidden()
        uid, gid = self._scope_target(ctx, scope, req.q("user"), req.q("group"), write=False)
        items = [s for s in self.subscriptions.values() if s["_org"] == ctx.org and s["scope"] == scope
                 and (uid is None or s["_user"] == uid) and (gid is None or s["_group"] == gid)]
        sort = self._sort(req, ("created_at",), "created_at:asc")
        return self._paginate(req, items, sort, lambda r, f: r["_created"])

    def _h_create_sub(self, req: Request, ctx: _Ctx, out: list) -> Response:
        body = self._body(req)
        for name in ("url", "events", "organization", "scope"):
            if body.get(name) in (None, "", []):
                raise invalid(name, "is required")
        url, events = body["url"], body["events"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise invalid("events", "must be a list of event names")
        unknown = [e for e in events if e not in ALL_WEBHOOK_EVENTS]
        if unknown:
            raise invalid("events", f"unknown event(s): {', '.join(unknown)}")
        split = urlsplit(str(url))
        if split.scheme not in ("http", "https") or not split.netloc:
            raise invalid("url", "must be a valid URL")
        if split.scheme != "https" and not self.allow_http_callbacks:
            raise invalid("url", "must be a valid HTTPS URL")
        if body["scope"] != "organization" and any(e in ORG_ONLY_EVENTS for e in events):
            raise invalid("events", "routing_form_submission.created requires organization scope")
        if self.uuid_of(str(body["organization"]), "organizations") != ctx.org:
            raise forbidden()
        uid, gid = self._scope_target(ctx, body["scope"], body.get("user"), body.get("group"), write=True)
        if self.plan == "free" and any(e in PLAN_GATED_EVENTS for e in events):
            raise forbidden("Please upgrade to a paid Calendly account.")
        if any(s["callback_url"] == url and s["_org"] == ctx.org for s in self.subscriptions.values()):
            raise ApiError(409, "Already Exists", "Hook with this url already exists")
        key = body.get("signing_key")
        if not key and ctx.kind == "oauth" and ctx.client_id in self.oauth_clients:
            key = self.oauth_clients[ctx.client_id]["webhook_signing_key"]
        sid = self.new_uuid()
        ts = self.now()
        sub = {
            "uri": f"{API}/webhook_subscriptions/{sid}", "callback_url": url, "created_at": fmt_time(ts),
            "updated_at": fmt_time(ts), "retry_started_at": None, "state": "active", "events": list(events),
            "scope": body["scope"], "organization": f"{API}/organizations/{ctx.org}",
            "user": f"{API}/users/{uid}" if uid else None, "group": f"{API}/groups/{gid}" if gid else None,
            "creator": ctx.user["uri"],
            "_id": sid, "_org": ctx.org, "_user": uid, "_group": gid, "_creator": ctx.uid,
            "_signing_key": key or None, "_created": ts, "_failures": 0,
        }
        self.subscriptions[sid] = sub
        rendered = self.render(sub)
        return Response(201, {"resource": rendered}, {"Location": rendered["uri"]})

    def _sub_for(self, ctx: _Ctx, uuid: str) -> dict[str, Any]:
        sub = self.subscriptions.get(uuid)
        if sub is None or sub["_org"] != ctx.org:
            raise not_found()
        if not ctx.is_admin and sub["_user"] != ctx.uid:
            raise forbidden()
        return sub

    def _h_get_sub(self, req: Request, ctx: _Ctx, out: list) -> Response:
        return Response(200, {"resource": self.render(self._sub_for(ctx, req.params["uuid"]))})

    def _h_delete_sub(self, req: Request, ctx: _Ctx, out: list) -> Response:
        sub = self._sub_for(ctx, req.params["uuid"])
        del self.subscriptions[sub["_id"]]
        return Response(204)

    def _h_sample(self, req: Request, ctx: _Ctx, out: list) -> Response:
        event, org_q, scope = req.q("event"), req.q("organization"), req.q("scope")
        for name, value in (("event", event), ("organization", org_q), ("scope", scope)):
            if not value:
                raise invalid(name, "is required")
        if event not in ALL_WEBHOOK_EVENTS:
            raise invalid("event", "is not a known event")
        if self.uuid_of(str(org_q), "organizations") != ctx.org:
            raise forbidden()
        self._scope_target(ctx, scope, req.q("user"), req.q("group"), write=False)
        if event in EVENT_TYPE_EVENTS:
            ets = [e for e in self.event_types.values() if e["_org"] == ctx.org]
            payload = self._strip(ets[-1]) if ets else {}
        else:
            invs = sorted((i for i in self.invitees.values() if self.events[i["_event"]]["_org"] == ctx.org),
                          key=lambda i: i["_created"])
            payload = self._invitee_payload(invs[-1]) if invs else {}
        envelope = {"created_at": datetime.fromtimestamp(int(self.now()), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                    "created_by": ctx.user["uri"], "event": event, "payload": payload}
        return Response(200, self.render(envelope))

    # =========================================================================================
    # webhook delivery
    def _invitee_payload(self, inv: dict[str, Any]) -> dict[str, Any]:
        ev = self._strip(self.events[inv["_event"]])
        ev.pop("calendar_event", None)
        ev.pop("cancellation", None)
        payload = self._strip(inv)
        payload["scheduled_event"] = ev
        return payload

    def _subscribers(self, event: str, org: str, host: str | None) -> list[dict[str, Any]]:
        subs = []
        for sub in sorted(self.subscriptions.values(), key=lambda s: s["_created"]):
            if sub["state"] != "active" or event not in sub["events"] or sub["_org"] != org:
                continue
            if sub["scope"] == "user" and sub["_user"] != host:
                continue
            if sub["scope"] == "group" and host not in self.groups.get(sub["_group"], {}).get("_members", set()):
                continue
            subs.append(sub)
        return subs

    def _fire_invitee(self, event: str, inv: dict[str, Any], out: list[dict[str, Any]]) -> None:
        ev = self.events[inv["_event"]]
        subs = self._subscribers(event, ev["_org"], ev["_host"])
        if subs:
            payload = self._invitee_payload(inv)
            for sub in subs:
                out.append(self._envelope(sub, event, payload))

    def _fire_event_type(self, event: str, et: dict[str, Any], out: list[dict[str, Any]]) -> None:
        for sub in self._subscribers(event, et["_org"], et["_owner"]):
            out.append(self._envelope(sub, event, self._strip(et)))

    def _envelope(self, sub: dict[str, Any], event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Serialise + sign once (under the lock) and record in the outbox."""
        t = int(self.now())
        key = sub["_signing_key"]
        if self.delivery_tamper == "stale":
            t -= 3600
        rendered = self.render(payload)
        creator = self.render({"u": f"{API}/users/{sub['_creator']}"})["u"]
        body, headers = build_delivery(event, rendered, creator, key, t)
        if self.delivery_tamper == "bad_signature" and key:
            body2, headers2 = build_delivery(event, rendered, creator, key + "-wrong", t)
            headers[SIGNATURE_HEADER] = headers2[SIGNATURE_HEADER]
        elif self.delivery_tamper == "missing_header":
            headers.pop(SIGNATURE_HEADER, None)
        item = {"event": event, "subscription": self.render(sub)["uri"], "callback_url": sub["callback_url"],
                "body": body, "headers": headers, "envelope": json.loads(body), "_sub": sub["_id"]}
        self.outbox.append(item)
        return item

    def _send(self, items: list[dict[str, Any]]) -> None:
        """Deliver outside the lock so a receiver may call back into the simulator."""
        for item in items:
            if self.deliver_sync:
                self._deliver(item)
            else:
                threading.Thread(target=self._deliver, args=(item,), name="calendly-webhook", daemon=True).start()

    def _deliver(self, item: dict[str, Any]) -> None:
        attempts = 1 + max(0, self.delivery_retries)
        for attempt in range(1, attempts + 1):
            with self.lock:
                sub = self.subscriptions.get(item["_sub"])
                if sub is None or sub["state"] != "active":
                    return
            status: int | None = None
            error: str | None = None
            try:
                resp = requests.post(item["callback_url"], data=item["body"], headers=item["headers"],
                                     timeout=self.delivery_timeout, allow_redirects=False)
                status = resp.status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            ok = status is not None and 200 <= status < 300  # 3xx counts as failure
            with self._delivered:
                self.deliveries.append({"event": item["event"], "subscription": item["subscription"],
                                        "url": item["callback_url"], "attempt": attempt, "status": status,
                                        "error": error, "ok": ok, "at": self.now()})
                if ok:
                    sub["_failures"] = 0
                    sub["retry_started_at"] = None
                else:
                    sub["_failures"] += 1
                    if sub["retry_started_at"] is None:
                        sub["retry_started_at"] = fmt_time(self.now())
                    if self.disable_after_failures is not None and sub["_failures"] >= self.disable_after_failures:
                        sub["state"] = "disabled"
                        sub["updated_at"] = fmt_time(self.now())
                self._delivered.notify_all()
                if ok or sub["state"] != "active":
                    return
            if attempt < attempts:
                time.sleep(self.delivery_backoff * (2 ** (attempt - 1)))

    def wait_for_deliveries(self, n: int, timeout: float = 5.0, *, ok_only: bool = False) -> list[dict[str, Any]]:
        """Block until at least ``n`` delivery attempts (or successes) are recorded; no blind sleeps."""
        deadline = time.monotonic() + timeout
        with self._delivered:
            while True:
                done = [d for d in self.deliveries if d["ok"] or not ok_only]
                if len(done) >= n:
                    return list(done)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {len(done)} of {n} webhook deliveries after {timeout} s")
                self._delivered.wait(remaining)

    # =========================================================================================
    # OAuth (auth.calendly.com)
    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return Response(status, {"error": error, "error_description": description})

    def _authorize_params(self, values: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
        client = self.oauth_clients.get(values.get("client_id", ""))
        if client is None:
            return None, "Unknown client_id."
        redirect = values.get("redirect_uri", "")
        if not redirect:
            return None, "redirect_uri is required."
        if client["redirect_uris"] is not None and redirect not in client["redirect_uris"]:
            return None, "redirect_uri does not match the application's registered redirect URIs."
        if values.get("response_type") != "code":
            return None, "response_type must be code."
        method = values.get("code_challenge_method")
        if values.get("code_challenge") and method not in (None, "", "S256"):
            return None, "Only S256 code_challenge_method is supported."
        return client, None

    def _h_authorize_page(self, req: Request) -> Response:
        values = {k: v[0] for k, v in req.query.items()}
        client, error = self._authorize_params(values)
        if error:
            return Response(400, f"<!doctype html><title>Calendly</title><h1>Invalid request</h1><p>{html.escape(error)}</p>")
        scopes = (values.get("scope") or "default").split()
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in values.items())
        user = self._user_rec(self.oauth_user_uri) or {}
        page = (
            "<!doctype html><html><head><title>Authorize application – Calendly</title></head><body>"
            f"<h1>{html.escape(client['name'])} wants to access your Calendly account</h1>"
            f"<p>Signed in as {html.escape(user.get('email', ''))}</p>"
            "<p>Requested permissions:</p><ul>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
            + "</ul>"
            f'<form method="post" action="/oauth/authorize">{hidden}'
            '<button type="submit" name="decision" value="approve">Approve</button> '
            '<button type="submit" name="decision" value="deny">Deny</button></form></body></html>'
        )
        return Response(200, page)

    def _h_authorize_decide(self, req: Request) -> Response:
        values = req.form()
        client, error = self._authorize_params(values)
        if error:
            return Response(400, f"<!doctype html><h1>Invalid request</h1><p>{html.escape(error)}</p>")
        redirect = values["redirect_uri"]
        sep = "&" if "?" in redirect else "?"
        state = {"state": values["state"]} if values.get("state") else {}
        if values.get("decision") != "approve":
            return Response(302, None, {"Location": redirect + sep + urlencode({"error": "access_denied", **state})})
        code = secrets.token_hex(32)
        with self.lock:
            self.codes[code] = {"client_id": values["client_id"], "redirect_uri": redirect,
                                "challenge": values.get("code_challenge") or None, "scope": values.get("scope") or None,
                                "user": self.uuid_of(self.oauth_user_uri, "users"), "created": self.now(), "used": False}
        return Response(302, None, {"Location": redirect + sep + urlencode({"code": code, **state})})

    def _client_auth(self, req: Request, form: dict[str, str]) -> tuple[dict[str, Any] | None, Response | None]:
        """HTTP Basic (web apps) or client_id in the body (native apps)."""
        header = req.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except Exception:
                return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.oauth_clients.get(cid)
        if client is None:
            return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        expected = (client["client_secret"] or "").encode("utf-8")
        if client["kind"] == "web" and not (secret and secrets.compare_digest(secret.encode("utf-8"), expected)):
            return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        return client, None

    def _issue(self, client: dict[str, Any], user_id: str, scope: str | None) -> dict[str, Any]:
        now = self.now()
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps({"iss": "https://auth.calendly.com", "iat": int(now), "jti": secrets.token_hex(16),
                                "user_uuid": user_id, "app_uid": client["client_id"], "scope": scope or "default"}).encode())
        access = f"{head}.{body}.{secrets.token_urlsafe(32)}"
        refresh = secrets.token_hex(32)
        scopes = set(scope.split()) if scope and scope != "default" else None
        self.add_token(access, f"{API}/users/{user_id}", scopes, kind="oauth", client_id=client["client_id"],
                       ttl=self.access_token_ttl)
        self.refresh_tokens[refresh] = {"client_id": client["client_id"], "user": user_id, "scope": scope,
                                        "used": False, "revoked": False, "access": access}
        user = self.users[user_id]
        return self.render({"token_type": "Bearer", "expires_in": self.access_token_ttl, "created_at": int(now),
                            "refresh_token": refresh, "access_token": access, "scope": scope or "default",
                            "owner": user["uri"], "organization": f"{API}/organizations/{user['_org']}"})

    def _h_token(self, req: Request) -> Response:
        form = req.form()
        grant = form.get("grant_type", "")
        with self.lock:
            self.token_requests[grant] += 1
            client, err = self._client_auth(req, form)
            if err is not None:
                return err
            assert client is not None
            if grant == "authorization_code":
                rec = self.codes.get(form.get("code", ""))
                if rec is None or rec["used"] or rec["client_id"] != client["client_id"] or self.now() - rec["created"] > CODE_TTL:
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                rec["used"] = True  # single use, even when the rest of the exchange fails
                if form.get("redirect_uri") != rec["redirect_uri"]:
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                verifier = form.get("code_verifier")
                if rec["challenge"]:
                    if not verifier:
                        return self._oauth_error(400, "invalid_request", "code_verifier is required.")
                    expected = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
                    if not secrets.compare_digest(expected, rec["challenge"]):
                        return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                elif client["kind"] == "native":
                    return self._oauth_error(400, "invalid_request", "PKCE is required for native applications.")
                user_id, scope = rec["user"], rec["scope"]
            elif grant == "refresh_token":
                rec = self.refresh_tokens.get(form.get("refresh_token", ""))
                if rec is None or rec["used"] or rec["revoked"] or rec["client_id"] != client["client_id"]:
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                rec["used"] = True  # rotation: the old refresh token is revoked immediately
                user_id, scope = rec["user"], rec["scope"]
            else:
                return self._oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported.")
            if self.token_requests_per_minute is not None:
                dq = self._token_windows.setdefault(user_id, deque())
                now = self.now()
                while dq and dq[0] <= now - 60:
                    dq.popleft()
                if len(dq) >= self.token_requests_per_minute:
                    rec["used"] = False
                    return self._oauth_error(429, "rate_limited", "Too many token requests for this user.")
                dq.append(now)
            self.token_grants[grant] += 1
            return Response(200, self._issue(client, user_id, scope), {"Cache-Control": "no-store"})

    def _h_revoke(self, req: Request) -> Response:
        form = req.form()
        client, err = self._client_auth(req, form)
        if err is not None:
            return Response(400, {"error": "invalid_client", "error_description": "Client authentication failed."})
        token = form.get("token", "")
        if not token:
            return self._oauth_error(400, "invalid_request", "token is required.")
        with self.lock:
            self.revoke_token(token)
        return Response(200, {})

    def _h_introspect(self, req: Request) -> Response:
        form = req.form()
        client, err = self._client_auth(req, form)
        if err is not None:
            return Response(400, {"error": "invalid_client", "error_description": "Client authentication failed."})
        with self.lock:
            rec = self.tokens.get(form.get("token", ""))
            now = self.now()
            if rec is None or rec["revoked"] or (rec["expires_at"] is not None and now >= rec["expires_at"]):
                return Response(200, {"active": False})
            user = self.users[rec["user"]]
            return Response(200, self.render({
                "active": True, "scope": " ".join(sorted(rec["scopes"])) if rec["scopes"] is not None else "default",
                "client_id": rec["client_id"], "token_type": "Bearer",
                "exp": int(rec["expires_at"]) if rec["expires_at"] is not None else None, "iat": int(rec["created_at"]),
                "owner": user["uri"], "organization": f"{API}/organizations/{user['_org']}"}))

    # =========================================================================================
    # /_sim/ control API (no auth) for the sandbox and browser tests
    def _sim_json(self, req: Request) -> dict[str, Any]:
        try:
            data = req.json() or {}
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def _h_sim_book(self, req: Request) -> Response:
        data = self._sim_json(req)
        if not data.get("email") or not data.get("name"):
            return Response(400, {"message": "email and name are required"})
        with self.lock:
            et_uri = data.get("event_type") or next(
                (et["uri"] for et in sorted(self.event_types.values(), key=lambda e: e["_created"]) if et["active"]), None)
        if not et_uri:
            return Response(400, {"message": "no active event type; add one first"})
        start = data.get("start_time") or (
            datetime.fromtimestamp(self.now(), timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(days=1))
        try:
            inv = self.book(et_uri, data["email"], data["name"], start,
                            questions_and_answers=data.get("questions_and_answers"), first_name=data.get("first_name"),
                            last_name=data.get("last_name"), tracking=data.get("tracking"),
                            text_reminder_number=data.get("text_reminder_number"),
                            timezone=data.get("timezone", "America/New_York"))
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(201, {"resource": inv})

    def _h_sim_cancel(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            inv = self.cancel(data["invitee"], data.get("reason"), data.get("canceler_type", "invitee"))
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, {"resource": inv})

    def _h_sim_reschedule(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            inv = self.reschedule(data["invitee"], data["start_time"])
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(201, {"resource": inv})

    def _h_sim_no_show(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            ns = self.mark_no_show(data["invitee"])
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        except ApiError as exc:
            return Response(400, {"message": exc.details[0]["message"] if exc.details else exc.message})
        return Response(201, {"resource": ns})

    def _h_sim_state(self, req: Request) -> Response:
        with self.lock:
            return Response(200, {
                "users": len(self.users), "event_types": len(self.event_types), "scheduled_events": len(self.events),
                "invitees": len(self.invitees), "no_shows": len(self.no_shows),
                "webhook_subscriptions": len(self.subscriptions), "outbox": len(self.outbox),
                "deliveries": len(self.deliveries), "token_requests": dict(self.token_requests),
            })


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m calendly_sync.sandbox.calendly.server --port 8025 --seed 1``: run until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the fake Calendly API for the sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute per user (default: off)")
    parser.add_argument("--https-only", action="store_true", help="reject http:// webhook callback URLs like Calendly")
    args = parser.parse_args(argv)
    sim = CalendlySim(args.host, args.port, seed=args.seed, events=args.events, rate_limit_per_minute=args.rate_limit,
                      allow_http_callbacks=not args.https_only, default_token=True)
    sim.start()
    print(f"Calendly simulator on {sim.url}")
    print(f"  personal access token: {SANDBOX_TOKEN}")
    print(f"  OAuth client: {SANDBOX_CLIENT_ID} / {SANDBOX_CLIENT_SECRET}  (authorize at {sim.url}/oauth/authorize)")
    print(f"  webhook signing key for OAuth apps: {SANDBOX_WEBHOOK_SIGNING_KEY}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
