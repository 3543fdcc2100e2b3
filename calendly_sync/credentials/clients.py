"""Build API clients for a connection from its (decrypted) credentials and the settings' URLs."""

from __future__ import annotations

import hashlib
import threading

from calendly_sync.brevo.client import BrevoClient
from calendly_sync.calendly.client import CalendlyClient
from calendly_sync.calendly.ratelimit import limiter_for
from calendly_sync.conf import app_settings
from calendly_sync.credentials.tokens import token_source_for
from calendly_sync.models import Connection

# Extra keyword arguments for the clients (tests swap in recording sleeps and a fast retry policy).
CLIENT_OPTIONS: dict[str, dict[str, object]] = {"brevo": {}, "calendly": {}}


class MissingCredentials(RuntimeError):
    """A connection has no token or key, and the environment offers no default."""


_brevo_clients: dict[tuple[str, str, int], BrevoClient] = {}
_brevo_lock = threading.Lock()


def brevo_client_for(connection: Connection, **kwargs: object) -> BrevoClient:
    """One client per Brevo key in this process, so its pacer spaces *all* calls under Brevo's limits.

    (Each process paces itself; several worker processes share Brevo's budget and fall back on
    waiting out a 429 as its headers say.)
    """
    key = connection.effective_brevo_api_key()
    if not key:
        raise MissingCredentials(
            f"Connection '{connection.name}' has no Brevo API key: set one in the admin or BREVO_API_KEY."
        )
    options = {**CLIENT_OPTIONS["brevo"], **kwargs}
    if kwargs:
        return BrevoClient(key, app_settings.BREVO_API_URL, **options)  # type: ignore[arg-type]
    cache_key = (hashlib.sha256(key.encode()).hexdigest(), app_settings.BREVO_API_URL, id(CLIENT_OPTIONS["brevo"]))
    with _brevo_lock:
        client = _brevo_clients.get(cache_key)
        if client is None:
            client = _brevo_clients[cache_key] = BrevoClient(key, app_settings.BREVO_API_URL, **options)  # type: ignore[arg-type]
        return client


def reset_cache() -> None:
    """Forget cached clients (tests, or after a key changes)."""
    with _brevo_lock:
        _brevo_clients.clear()


def calendly_client_for(connection: Connection, **kwargs: object) -> CalendlyClient:
    """A Calendly client with the connection's token source, paced by its Calendly user's limiter."""
    source = token_source_for(connection)
    options = {**CLIENT_OPTIONS["calendly"], **kwargs}
    options.setdefault("rate_limiter", limiter_for(connection.calendly_user_uri or f"connection:{connection.pk}"))
    return CalendlyClient(source, app_settings.CALENDLY_API_URL, **options)  # type: ignore[arg-type]


def identify(connection: Connection, client: CalendlyClient, *, activate: bool = False) -> None:
    """Learn (once) which Calendly user and organization the connection's token belongs to.

    Webhook subscriptions and organization-wide listings need both URIs. ``activate`` (a sync run):
    a new connection that answered is now active. Only the fields set here are saved, so a token
    refreshed meanwhile by the same call is never overwritten with the one loaded before it.
    """
    if connection.calendly_user_uri and connection.calendly_organization_uri:
        return
    me = client.get_current_user()
    connection.calendly_user_uri = me.get("uri", "")
    connection.calendly_organization_uri = me.get("current_organization", "")
    connection.calendly_user_name = (me.get("name") or "")[:200]
    connection.calendly_user_email = me.get("email") or ""
    fields = ["calendly_user_uri", "calendly_organization_uri", "calendly_user_name", "calendly_user_email"]
    if activate and connection.status == Connection.Status.NEW:
        connection.status = Connection.Status.ACTIVE
        fields.append("status")
    connection.save(update_fields=[*fields, "updated_at"])
