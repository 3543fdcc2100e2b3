"""The Calendly token lifecycle: refresh ahead of expiry and on a 401, safely under concurrency.

Calendly's refresh tokens are single-use and rotate: a second refresh with the same token fails
with ``invalid_grant`` and the connection would be lost. So a refresh holds the connection's row
lock (``SELECT … FOR UPDATE``; across processes and Celery workers) and a per-process lock (SQLite
has no row locks), re-reads the row, and refreshes only if nobody else did meanwhile; the new
pair is saved in the same transaction.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .http import DEFAULT_TIMEOUT, USER_AGENT
from .models import Connection

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
_process_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


class ReconnectRequired(RuntimeError):
    """The refresh token was refused (invalid_grant): a person must connect Calendly again."""


def _lock_for(connection_id: int) -> threading.Lock:
    with _locks_guard:
        return _process_locks[connection_id]


def _expiring(conn: Connection) -> bool:
    return bool(conn.token_expires_at and conn.token_expires_at - timezone.now() <= REFRESH_MARGIN)


def request_token(data: dict[str, str]) -> requests.Response:
    """POST to Calendly's token endpoint with the app's credentials by HTTP Basic auth."""
    return requests.post(
        f"{settings.CALENDLY_AUTH_URL}/oauth/token",
        data=data,
        auth=(settings.CALENDLY_CLIENT_ID, settings.CALENDLY_CLIENT_SECRET),
        headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        timeout=DEFAULT_TIMEOUT,
    )


def store_token_response(conn: Connection, payload: dict[str, Any]) -> None:
    """Save an OAuth token response on the connection (encrypted fields)."""
    conn.access_token = payload["access_token"]
    if payload.get("refresh_token"):
        conn.refresh_token = payload["refresh_token"]
    expires_in = payload.get("expires_in")
    conn.token_expires_at = timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
    if payload.get("scope"):
        conn.scopes = str(payload["scope"])
    if payload.get("owner"):
        conn.calendly_user_uri = payload["owner"]
    if payload.get("organization"):
        conn.calendly_organization_uri = payload["organization"]


def refresh_access_token(connection_id: int, stale_token: str | None = None) -> str:
    """Return a fresh access token, refreshing at most once however many callers ask at once."""
    with _lock_for(connection_id), transaction.atomic():
        conn = Connection.objects.select_for_update().get(pk=connection_id)
        if conn.status == Connection.Status.NEEDS_RECONNECT:
            raise ReconnectRequired(conn.last_error or f"Connection '{conn.name}' needs to be reconnected.")
        if stale_token is not None and conn.access_token and conn.access_token != stale_token and not _expiring(conn):
            return conn.access_token  # somebody refreshed while we waited for the lock
        if not conn.refresh_token:
            raise ReconnectRequired(f"Connection '{conn.name}' has no refresh token: connect Calendly again.")
        resp = request_token({"grant_type": "refresh_token", "refresh_token": conn.refresh_token})
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code == 200 and body.get("access_token"):
            store_token_response(conn, body)
            if conn.status in (Connection.Status.ERROR, Connection.Status.NEW):
                conn.status = Connection.Status.ACTIVE
            conn.save()
            log.info("refreshed the Calendly access token of connection %s", conn.name)
            return conn.access_token
        error = body.get("error") or f"HTTP {resp.status_code}"
        if error == "invalid_grant":
            reason = ("Calendly refused the refresh token (invalid_grant: it was revoked, or already used). "
                      "Press 'Reconnect Calendly' on this connection.")
            conn.status = Connection.Status.NEEDS_RECONNECT
            conn.last_error = reason
            conn.last_error_at = timezone.now()
            conn.access_token = ""
            conn.refresh_token = ""
            conn.save()
            raise ReconnectRequired(reason)
        raise RuntimeError(f"Calendly token refresh failed: {error} {body.get('error_description', '')}".strip())


class ConnectionTokenSource:
    """``TokenSource`` for the Calendly client, bound to a Connection row."""

    def __init__(self, connection: Connection) -> None:
        self.connection_id = connection.pk
        self.kind = connection.auth_kind
        self._pat = connection.effective_access_token() if connection.auth_kind == Connection.AuthKind.PAT else ""
        self._last_token = ""

    def access_token(self) -> str:
        if self.kind == Connection.AuthKind.PAT:
            return self._pat
        conn = Connection.objects.get(pk=self.connection_id)
        if conn.status == Connection.Status.NEEDS_RECONNECT:
            raise ReconnectRequired(conn.last_error or f"Connection '{conn.name}' needs to be reconnected.")
        if _expiring(conn) or not conn.access_token:
            self._last_token = refresh_access_token(self.connection_id, conn.access_token or None)
        else:
            self._last_token = conn.access_token
        return self._last_token

    def refresh_after_unauthorized(self, error: Any = None) -> bool:
        if self.kind != Connection.AuthKind.OAUTH:
            return False
        # The token that was refused is the one we handed out; if another worker already replaced
        # it, refresh_access_token returns theirs instead of spending the refresh token again.
        self._last_token = refresh_access_token(self.connection_id, self._last_token or None)
        return True


def token_source_for(connection: Connection) -> ConnectionTokenSource:
    return ConnectionTokenSource(connection)
