"""The social-auth pipeline of the "Connect Calendly" flow (``SOCIAL_AUTH_PIPELINE`` in settings).

Connecting Calendly is not a login: the staff user is already signed in to the admin. So this
pipeline never creates or logs in a Django user and stores no ``UserSocialAuth`` row (whose
``extra_data`` would hold the tokens in plain text). Instead it:

1. checks that a staff user started the flow from the admin (the intent stored in the session by
   :func:`calendly_sync.connect.views.start_connect`: a new connection, or which one to reconnect);
2. creates or updates the :class:`~calendly_sync.models.Connection` with the tokens (encrypted at
   rest), expiry, scopes, Calendly user and organization, owner, status active;
3. loads the connection's catalog (Calendly event types and questions, Brevo lists and
   attributes), reporting each half as an admin message;
4. returns a redirect to the connection's admin page, which ends the pipeline (social-auth returns
   any non-dict result to the browser as is).

Errors are :class:`social_core.exceptions.AuthException` subclasses, which the
``SocialAuthExceptionMiddleware`` turns into an admin message and a redirect to
``SOCIAL_AUTH_LOGIN_ERROR_URL``.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.text import slugify
from social_core.exceptions import AuthException

from calendly_sync.connect.catalog import load_catalog
from calendly_sync.credentials.tokens import store_token_response
from calendly_sync.models import Connection

SESSION_KEY = "calendly_connect_intent"
INTENT_MAX_AGE = 30 * 60  # seconds between pressing the button and coming back from Calendly


class ConnectNotAllowed(AuthException):
    """The flow was not started by a staff user from the admin, or its intent is stale."""


def _request(strategy: Any) -> Any:
    return getattr(strategy, "request", None)


def _message(strategy: Any, level: int, text: str) -> None:
    request = _request(strategy)
    if request is not None:
        messages.add_message(request, level, text)


def check_intent(strategy: Any, backend: Any, user: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Only a signed-in staff user who pressed Connect/Reconnect in the admin may complete the flow."""
    intent = strategy.session_get(SESSION_KEY)
    if not (user is not None and getattr(user, "is_authenticated", False) and user.is_active and user.is_staff):
        raise ConnectNotAllowed(
            backend,
            "Connecting Calendly needs a signed-in staff user: sign in to the admin "
            "and press 'Connect Calendly' there.",
        )
    if not isinstance(intent, dict) or intent.get("user_id") != user.pk:
        raise ConnectNotAllowed(
            backend,
            "This Calendly authorization was not started from the admin: press "
            "'Connect Calendly' on the Connections page.",
        )
    if time.time() - float(intent.get("started_at") or 0) > INTENT_MAX_AGE:
        strategy.session_pop(SESSION_KEY)
        raise ConnectNotAllowed(backend, "The Calendly authorization took too long: press 'Connect Calendly' again.")
    return {"connect_intent": intent}


def _unique_name(base: str) -> str:
    base = slugify(base)[:90] or "calendly"
    name, n = base, 2
    while Connection.objects.filter(name=name).exists():
        name, n = f"{base}-{n}", n + 1
    return name


def save_connection(
    strategy: Any,
    backend: Any,
    response: dict[str, Any],
    user: Any = None,
    connect_intent: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Any]:
    """Create or update the Connection from the token response and ``/users/me``."""
    intent = connect_intent or {}
    if not response.get("access_token"):
        raise ConnectNotAllowed(backend, "Calendly returned no access token.")
    owner_uri = response.get("owner") or response.get("uri") or ""
    org_uri = response.get("organization") or response.get("current_organization") or ""
    with transaction.atomic():
        conn: Connection | None
        if intent.get("connection_id"):
            conn = Connection.objects.select_for_update().filter(pk=intent["connection_id"]).first()
            if conn is None:
                raise ConnectNotAllowed(backend, "The connection to reconnect no longer exists.")
        else:
            conn = (
                Connection.objects.select_for_update()
                .filter(auth_kind=Connection.AuthKind.OAUTH, calendly_user_uri=owner_uri)
                .first()
                if owner_uri
                else None
            )
        created = conn is None
        if conn is None:
            first = not Connection.objects.exists()
            conn = Connection(
                name="default"
                if first
                else _unique_name(response.get("slug") or str(response.get("email") or "").split("@")[0] or "calendly")
            )
        previous_user = conn.calendly_user_uri
        conn.auth_kind = Connection.AuthKind.OAUTH
        store_token_response(conn, response)
        conn.calendly_user_uri = owner_uri or conn.calendly_user_uri
        conn.calendly_organization_uri = org_uri or conn.calendly_organization_uri
        conn.calendly_user_name = str(response.get("name") or "")[:200]
        conn.calendly_user_email = str(response.get("email") or "")
        conn.owner = user
        conn.status = Connection.Status.ACTIVE
        conn.last_error = ""
        conn.last_error_at = None
        conn.save()
    strategy.session_pop(SESSION_KEY)
    who = conn.calendly_user_name or conn.calendly_user_email or owner_uri
    verb = "Connected" if created else "Reconnected"
    _message(
        strategy,
        messages.SUCCESS,
        f"{verb} Calendly account {who} ({conn.calendly_user_email}) to connection '{conn.name}'. "
        f"Scopes: {conn.scopes or 'default'}.",
    )
    if previous_user and owner_uri and previous_user != owner_uri:
        _message(
            strategy,
            messages.WARNING,
            f"This connection was authorized by a different Calendly user before ({previous_user}); "
            f"it now acts as {owner_uri}.",
        )
    return {"connection": conn, "connection_created": created}


def load_connection_catalog(
    strategy: Any, connection: Connection | None = None, *args: Any, **kwargs: Any
) -> dict[str, Any]:
    """Load event types, Brevo lists and attributes; problems become messages, never a failure."""
    if connection is None:
        return {}
    try:
        report = load_catalog(connection)
    except Exception as exc:  # noqa: BLE001 - the connection is saved already: say what failed, keep going
        _message(strategy, messages.ERROR, f"Loading the catalog failed: {exc}")
        return {}
    for level, text in report.lines:
        _message(strategy, level, text)
    return {"catalog_report": report}


def redirect_to_connection(
    strategy: Any, connection: Connection | None = None, *args: Any, **kwargs: Any
) -> HttpResponseRedirect | dict[str, Any]:
    """End the flow on the connection's admin page (a non-dict result stops the pipeline)."""
    if connection is None:
        return {}
    return HttpResponseRedirect(reverse("admin:calendly_sync_connection_change", args=[connection.pk]))
