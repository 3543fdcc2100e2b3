"""Who is calling and how often: bearer tokens, scopes, per-user rate limits and injected faults.

Why: the connector must handle every documented way a call is refused — an invalid, expired or
revoked token (401 variants), a missing scope (403 naming it), a per-user sliding-window rate limit
(429 with ``X-RateLimit-*`` headers) — and the faults tests inject on purpose (forced 429s, 5xx
in Calendly's error shape). The router in ``server.py`` runs every API call through these checks.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from calendly_sync.sandbox.calendly.records import ApiError, CalendlyRecords
from calendly_sync.sandbox.httpbase import Fault, Request, Response

SANDBOX_TOKEN = "sandbox-calendly-token"

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
SCOPE_DC_W = ("data_compliance:write",)


@dataclass
class Caller:
    """The authenticated caller of one API request."""

    token: str
    user: dict[str, Any]
    scopes: set[str] | None
    kind: str  # "pat" | "oauth"
    client_id: str | None

    @property
    def uid(self) -> str:
        return str(self.user["_id"])

    @property
    def org(self) -> str:
        return str(self.user["_org"])

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


class Auth(CalendlyRecords):
    """Tokens, authentication, the per-user rate limit and Calendly-shaped faults."""

    rate_limit_per_minute: int | None
    reset_seconds: int

    # =========================================================================================
    # tokens
    def add_token(
        self,
        token: str,
        user_uri: str,
        scopes: set[str] | None = None,
        expired: bool = False,
        revoked: bool = False,
        *,
        kind: str = "pat",
        client_id: str | None = None,
        ttl: float | None = None,
    ) -> str:
        """Register a bearer token (PAT by default; ``scopes=None`` = legacy full access)."""
        with self.lock:
            uid = self.uuid_of(user_uri, "users")
            if uid not in self.users:
                raise KeyError(f"unknown user {user_uri}")
            now = self.now()
            expires_at = now - 1 if expired else (now + ttl if ttl is not None else None)
            self.tokens[token] = {
                "user": uid,
                "scopes": set(scopes) if scopes is not None else None,
                "expires_at": expires_at,
                "revoked": revoked,
                "kind": kind,
                "client_id": client_id,
                "created_at": now,
            }
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

    # =========================================================================================
    # faults
    def force_429(self, times: int = 1, reset: int = 1, route: str | None = r"^\w+ /(?!_sim/|oauth/)") -> Fault:
        """The next ``times`` API calls get 429 with ``X-RateLimit-Reset: reset``."""
        limit = str(self.rate_limit_per_minute or 500)
        return self.inject(
            Fault(
                kind="rate_limit",
                route=route,
                times=times,
                headers={"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
            )
        )

    def fail(self, status: int = 500, times: int | None = 1, route: str | None = r"^\w+ /(?!_sim/|oauth/)") -> Fault:
        return self.inject(Fault(kind="status", status=status, route=route, times=times))

    def rate_limited_response(self, fault: Fault) -> Response:
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit_per_minute or 500),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        headers.update(fault.headers)
        return Response(
            429,
            {"title": "Too Many Requests", "message": "You have exceeded the rate limit. Retry after the reset."},
            headers,
        )

    def fault_response(self, fault: Fault, req: Request) -> Response | None:
        if fault.kind == "status" and fault.body is None:
            title = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(
                fault.status, "Error"
            )
            msg = "The server encountered an unexpected condition that prevented it from fulfilling the request."
            return Response(fault.status, {"title": title, "message": msg}, dict(fault.headers))
        return super().fault_response(fault, req)

    # =========================================================================================
    # auth, rate limit, scopes
    def _authenticate(self, req: Request) -> Caller:
        header = req.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        rec = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if rec is None:
            raise ApiError(401, "Unauthenticated", "The access token is invalid")
        if rec["revoked"]:
            raise ApiError(401, "Unauthenticated", "The access token was revoked")
        if rec["expires_at"] is not None and self.now() >= rec["expires_at"]:
            raise ApiError(401, "Unauthenticated", "The access token expired")
        return Caller(token.strip(), self.users[rec["user"]], rec["scopes"], rec["kind"], rec["client_id"])

    def _rate(self, uid: str | None) -> tuple[bool, dict[str, str]]:
        """Sliding window per user. Returns (allowed, headers). Rejected calls are not counted."""
        limit = self.rate_limit_per_minute or 500
        window = float(self.reset_seconds)
        now = self.now()
        if uid is None:
            return True, {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(limit),
                "X-RateLimit-Reset": str(int(window)),
            }
        dq = self._windows.setdefault(uid, deque())
        while dq and dq[0] <= now - window:
            dq.popleft()
        allowed = self.rate_limit_per_minute is None or len(dq) < limit
        if allowed:
            dq.append(now)
        reset = max(1, math.ceil(dq[0] + window - now)) if dq else int(window)
        return allowed, {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - len(dq))),
            "X-RateLimit-Reset": str(reset),
        }
