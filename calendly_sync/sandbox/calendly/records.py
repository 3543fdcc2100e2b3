"""The simulated Calendly account's records, and the helpers every part of the simulator shares.

Why a module of its own: every part (webhooks, the Python API, auth, the routes, OAuth) reads and
writes the same dictionaries under the same lock, renders them the same way (private ``_`` keys
dropped, canonical URIs rewritten to the live server) and answers errors in the same §12 shape.
Keeping that here lets each part be a small mixin over one typed base instead of one huge class.

URIs inside stored records use the canonical ``https://api.calendly.com`` host and are rewritten
to this server's own URL when rendered, so objects created before ``start()`` still work and a
client following ``uri`` fields talks to the simulator.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid as uuidlib
from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from calendly_sync.sandbox.httpbase import Response, SimServer

API = "https://api.calendly.com"  # canonical host stored in records, rewritten on render

_Json = TypeVar("_Json")  # a record (dict) or a list of them


# ---------------------------------------------------------------------------------------------
# time helpers
def fmt_time(ts: float) -> str:
    """Calendly timestamp: UTC with microseconds, e.g. ``2026-08-22T17:13:17.150860Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_ts(value: datetime | str | float | int) -> float:
    """Accept a datetime (naive = UTC), an ISO string (``Z`` or offset) or epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class ApiError(Exception):
    """Raised by handlers; rendered as the §12 error shape."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.details = status, title, message, details
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {"title": self.title, "message": self.message}
        if self.details:
            body["details"] = self.details
        return Response(self.status, body, dict(self.headers))


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(
        400, "Invalid Argument", "The supplied parameters are invalid.", [{"parameter": parameter, "message": message}]
    )


def forbidden(message: str = "You do not have permission to access this resource.") -> ApiError:
    return ApiError(403, "Permission Denied", message)


def not_found() -> ApiError:
    return ApiError(404, "Resource Not Found", "The server could not find the requested resource.")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------------
class CalendlyRecords(SimServer):
    """Everything the simulated account holds (guard with ``self.lock``), and how it is rendered."""

    name = "calendly"
    # set by CalendlySim.__init__ once the default organization and its owner exist
    _org_id: str
    _admin_id: str

    def __init__(self, host: str, port: int, *, seed: int | None, clock: Callable[[], float | datetime] | None) -> None:
        super().__init__(host, port)
        self.clock = clock or time.time
        self.rng = random.Random(seed)
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

    # =========================================================================================
    # saving and restoring (the sandbox's state file, see sandbox/statefile.py)
    #: the records that make up the account; logs (outbox, deliveries, counters) are not kept
    SAVED = (
        "orgs",
        "users",
        "groups",
        "event_types",
        "events",
        "invitees",
        "no_shows",
        "subscriptions",
        "scheduling_links",
        "tokens",
        "refresh_tokens",
        "codes",
        "oauth_clients",
    )

    def snapshot(self) -> dict[str, Any]:
        """The account's records, by reference: encode them under ``self.lock``."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self.SAVED}
        data["_org_id"], data["_admin_id"] = self._org_id, self._admin_id
        return data

    def restore(self, data: dict[str, Any]) -> None:
        """Take back what ``snapshot`` gave, replacing the records this simulator holds.

        New ids then come from fresh randomness, not from the seed: an id this account issued
        before the restart (even one saved too late to be in the file) is never issued again.
        """
        with self.lock:
            for name in self.SAVED:
                setattr(self, name, data[name])
            self._org_id, self._admin_id = data["_org_id"], data["_admin_id"]
            self.rng = random.Random()

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

    def render(self, obj: _Json) -> _Json:
        """Deep copy without private ``_`` keys, with API URIs pointing at this server."""
        text = json.dumps(self._strip(obj))
        if self.started:
            text = text.replace(f'"{API}/', f'"{self.url}/')
        rendered: _Json = json.loads(text)  # the same shape: a record comes back a record
        return rendered

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
