"""The Calendly token lifecycle: refresh ahead of expiry and on a 401, safely under concurrency.

Calendly's refresh tokens are single-use and rotate: a second refresh with the same token fails
with ``invalid_grant`` and the connection would be lost. So a refresh holds the connection's row
lock (``SELECT … FOR UPDATE``; across processes and Celery workers) and a per-process lock (SQLite
has no row locks), re-reads the row, and refreshes only if nobody else did meanwhile; the new
pair is saved in the same transaction.

When Calendly refuses the refresh token (``invalid_grant``) or reports the access token revoked,
the connection is set to ``needs_reconnect`` with a reason a person can act on, its tokens are
dropped, and every later call raises :class:`ReconnectRequired` without touching Calendly, until a
staff user presses "Reconnect Calendly" in the admin.

Token-endpoint calls (refresh, revoke) go through the social-auth backend
(:class:`calendly_sync.calendly.oauth.CalendlyOAuth2`), so the client credentials are sent the
same way (HTTP Basic) as during the connect flow.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
from django.db import transaction
from django.utils import timezone
from social_core.exceptions import AuthException

from calendly_sync.calendly.oauth import calendly_backend
from calendly_sync.instruments import token_refreshed
from calendly_sync.models import Connection

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
_process_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()

INVALID_GRANT_REASON = (
    "Calendly refused the refresh token (invalid_grant: access was revoked in Calendly, or the token "
    "was already used). Press 'Reconnect Calendly' on this connection to authorize it again."
)
REVOKED_REASON = (
    "Calendly reports the access token was revoked (the app was disconnected in Calendly, or its "
    "access withdrawn). Press 'Reconnect Calendly' on this connection to authorize it again."
)


class ReconnectRequired(RuntimeError):
    """The connection's Calendly authorization is gone: a person must connect Calendly again."""


class TokenRefreshError(RuntimeError):
    """The refresh failed for a reason that may pass (network, 429, 5xx, bad app credentials)."""


def _lock_for(connection_id: int) -> threading.Lock:
    with _locks_guard:
        return _process_locks[connection_id]


def _expiring(conn: Connection) -> bool:
    return bool(conn.token_expires_at and conn.token_expires_at - timezone.now() <= REFRESH_MARGIN)


def _json(resp: requests.Response | None) -> dict[str, Any]:
    if resp is None:
        return {}
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def post_refresh(refresh_token: str) -> tuple[int, dict[str, Any]]:
    """One ``grant_type=refresh_token`` call (HTTP Basic client auth). Returns (status, JSON body)."""
    backend = calendly_backend()
    try:
        return 200, backend.refresh_token(refresh_token)
    except requests.HTTPError as exc:
        resp = exc.response
        return (resp.status_code if resp is not None else 0), _json(resp)
    except ValueError:
        return 200, {}  # a 200 without a JSON body
    except (AuthException, requests.RequestException) as exc:
        raise TokenRefreshError(f"Calendly's token endpoint could not be reached ({type(exc).__name__}).") from None


def store_token_response(conn: Connection, payload: dict[str, Any]) -> None:
    """Copy an OAuth token response onto the connection (encrypted fields; not saved here)."""
    conn.access_token = payload["access_token"]
    if payload.get("refresh_token"):
        conn.refresh_token = payload["refresh_token"]
    expires_in = payload.get("expires_in")
    conn.token_expires_at = timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
    if payload.get("scope"):
        conn.scopes = str(payload["scope"])[:500]
    if payload.get("owner"):
        conn.calendly_user_uri = payload["owner"]
    if payload.get("organization"):
        conn.calendly_organization_uri = payload["organization"]


def _needs_reconnect(conn: Connection, reason: str) -> None:
    """Drop the unusable tokens and flag the connection (caller holds the lock; saves)."""
    conn.status = Connection.Status.NEEDS_RECONNECT
    conn.last_error = reason
    conn.last_error_at = timezone.now()
    conn.access_token = ""
    conn.refresh_token = ""
    conn.token_expires_at = None
    conn.save(
        update_fields=[
            "status",
            "last_error",
            "last_error_at",
            "access_token",
            "refresh_token",
            "token_expires_at",
            "updated_at",
        ]
    )
    log.warning("Calendly connection %s needs to be reconnected: %s", conn.name, reason)


def _reconnect_message(conn: Connection) -> str:
    return conn.last_error or f"Calendly connection '{conn.name}' needs to be reconnected in the admin."


def refresh_access_token(connection_id: int, stale_token: str | None = None) -> str:
    """Return a usable access token, refreshing at most once however many callers ask at once.

    ``stale_token`` is the token the caller saw rejected (a 401): if the stored token is already a
    different, unexpired one, somebody refreshed while we waited for the lock and it is returned
    as is. Without ``stale_token`` the refresh happens only if the stored token is missing or
    about to expire.
    """
    failure: Exception
    with _lock_for(connection_id), transaction.atomic():
        conn = Connection.objects.select_for_update().get(pk=connection_id)
        if conn.status == Connection.Status.NEEDS_RECONNECT:
            raise ReconnectRequired(_reconnect_message(conn))
        current = conn.access_token
        if current and not _expiring(conn) and (stale_token is None or current != stale_token):
            return current  # still fresh, or somebody refreshed while we waited for the lock
        if not conn.refresh_token and conn.status == Connection.Status.DISABLED:
            raise ReconnectRequired(_reconnect_message(conn))  # disconnected on purpose: leave it so
        if not conn.refresh_token:
            reason = (
                f"Calendly connection '{conn.name}' has no refresh token: press 'Reconnect Calendly' "
                "on this connection."
            )
            _needs_reconnect(conn, reason)
            failure = ReconnectRequired(reason)
        else:
            sent = conn.refresh_token
            status, body = post_refresh(sent)
            token_refreshed(ok=status == 200 and bool(body.get("access_token")))
            if status == 200 and body.get("access_token"):
                store_token_response(conn, body)
                if conn.status == Connection.Status.NEW:  # an ERROR is Brevo's: a Calendly success keeps it
                    conn.status = Connection.Status.ACTIVE
                conn.save(
                    update_fields=[
                        "access_token",
                        "refresh_token",
                        "token_expires_at",
                        "scopes",
                        "calendly_user_uri",
                        "calendly_organization_uri",
                        "status",
                        "updated_at",
                    ]
                )
                log.info("refreshed the Calendly access token of connection %s", conn.name)
                return conn.access_token
            error = str(body.get("error") or f"HTTP {status}")
            latest = Connection.objects.filter(pk=connection_id).first() if error == "invalid_grant" else None
            if latest is not None and latest.refresh_token and latest.refresh_token != sent and latest.access_token:
                # Belt and braces for databases without row locks shared by several processes: the
                # pair was rotated by someone else meanwhile, so use theirs instead of giving up.
                return latest.access_token
            if error == "invalid_grant":
                _needs_reconnect(conn, INVALID_GRANT_REASON)
                failure = ReconnectRequired(INVALID_GRANT_REASON)
            elif error == "invalid_client":
                failure = TokenRefreshError(
                    "Calendly rejected the app's client credentials (invalid_client): check CALENDLY_CLIENT_ID "
                    "and CALENDLY_CLIENT_SECRET."
                )
            else:
                description = str(body.get("error_description") or "").strip()
                failure = TokenRefreshError(f"Calendly token refresh failed: {error} {description}".strip())
    # Raised only now, outside the atomic block, so the needs_reconnect status is committed, not
    # rolled back with the exception.
    if isinstance(failure, TokenRefreshError):
        Connection.objects.get(pk=connection_id).record_error(str(failure))
    raise failure


def mark_revoked(connection_id: int, rejected_token: str | None) -> str | None:
    """The access token ``rejected_token`` was reported revoked. Returns a replacement token if one
    was stored meanwhile (a reconnect or refresh by someone else), else flags the connection."""
    with _lock_for(connection_id), transaction.atomic():
        conn = Connection.objects.select_for_update().get(pk=connection_id)
        if (
            conn.status != Connection.Status.NEEDS_RECONNECT
            and conn.access_token
            and conn.access_token != rejected_token
        ):
            return conn.access_token
        if conn.status != Connection.Status.NEEDS_RECONNECT:
            _needs_reconnect(conn, REVOKED_REASON)
    return None


@dataclass
class DisconnectReport:
    revoked: list[str] = field(default_factory=list)  # which tokens Calendly confirmed revoked
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"revoked the {' and '.join(self.revoked)} token at Calendly"
            if self.revoked
            else "nothing revoked at Calendly"
        ]
        parts += self.problems
        return "; ".join(parts)


def disconnect(connection_id: int, by: str = "") -> DisconnectReport:
    """Revoke the connection's tokens at Calendly (``POST /oauth/revoke``) and delete them here."""
    report = DisconnectReport()
    backend = calendly_backend()
    with _lock_for(connection_id), transaction.atomic():
        conn = Connection.objects.select_for_update().get(pk=connection_id)
        for label, token in (("refresh", conn.refresh_token), ("access", conn.access_token)):
            if not token:
                continue
            try:
                # social-core leaves revoke_token unannotated (and the backend's type does not match
                # untyped_calls_exclude); its result is True when Calendly confirmed.
                if backend.revoke_token(token, conn.calendly_user_uri):  # type: ignore[no-untyped-call]
                    report.revoked.append(label)
                else:
                    report.problems.append(f"Calendly did not confirm revoking the {label} token")
            except requests.HTTPError as exc:
                body = _json(exc.response)
                code = exc.response.status_code if exc.response is not None else "?"
                report.problems.append(
                    f"revoking the {label} token failed: HTTP {code} {body.get('error', '')}".strip()
                )
            except (AuthException, requests.RequestException) as exc:
                report.problems.append(f"revoking the {label} token failed: {type(exc).__name__}")
        conn.access_token = ""
        conn.refresh_token = ""
        conn.token_expires_at = None
        # Nothing signed with the old keys is accepted any more (the caller deleted the subscription).
        conn.webhook_signing_key = ""
        conn.previous_signing_key = ""
        conn.webhook_subscription_uri = ""
        conn.webhook_subscription_state = ""
        conn.status = Connection.Status.DISABLED
        who = f" by {by}" if by else ""
        conn.last_error = (
            f"Disconnected from Calendly{who} on {timezone.now():%Y-%m-%d %H:%M} UTC; the tokens and "
            "the webhook signing keys were deleted. Press 'Reconnect Calendly' to connect it again."
        )
        conn.last_error_at = timezone.now()
        conn.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "token_expires_at",
                "webhook_signing_key",
                "previous_signing_key",
                "webhook_subscription_uri",
                "webhook_subscription_state",
                "status",
                "last_error",
                "last_error_at",
                "updated_at",
            ]
        )
    return report


class ConnectionTokenSource:
    """``TokenSource`` for the Calendly client, bound to a Connection row."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        self.kind = connection.auth_kind
        self._pat = connection.effective_access_token() if connection.auth_kind == Connection.AuthKind.PAT else ""
        self._last_token = ""

    def __repr__(self) -> str:  # never show a token
        return f"ConnectionTokenSource(connection={self.connection_id}, kind={self.kind})"

    def access_token(self) -> str:
        if self.kind == Connection.AuthKind.PAT:
            return self._pat
        conn = Connection.objects.get(pk=self.connection_id)
        if conn.status == Connection.Status.NEEDS_RECONNECT:
            raise ReconnectRequired(_reconnect_message(conn))
        if _expiring(conn) or not conn.access_token:
            self._last_token = refresh_access_token(self.connection_id)
        else:
            self._last_token = conn.access_token
        return self._last_token

    def refresh_after_unauthorized(self, error: Any = None) -> bool:
        """After a 401: refresh when the token expired (or is unknown); a revoked one needs a person."""
        if self.kind != Connection.AuthKind.OAUTH:
            return False
        if getattr(error, "reason", "") == "revoked":
            replacement = mark_revoked(self.connection_id, self._last_token or None)
            if replacement is None:
                return False  # the client raises the (readable) CalendlyAuthError
            self._last_token = replacement
            return True
        # The token that was refused is the one we handed out; if another worker already replaced
        # it, refresh_access_token returns theirs instead of spending the refresh token again.
        self._last_token = refresh_access_token(self.connection_id, self._last_token or None)
        return True


def token_source_for(connection: Connection) -> ConnectionTokenSource:
    return ConnectionTokenSource(connection)
