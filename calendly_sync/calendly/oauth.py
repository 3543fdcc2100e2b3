"""Calendly OAuth 2.0 backend for social-auth (python-social-auth / social-core).

Written in social-core's own style (compare ``social_core/backends/asana.py``) so that it could be
offered upstream. What Calendly needs beyond ``BaseOAuth2``:

* PKCE with S256 (Calendly recommends it for web apps) plus a ``state`` parameter.
* The ``redirect_uri`` must equal the registered one exactly, so no ``redirect_state`` is added to
  it, and it is built from ``SITE_URL`` (``{SITE_URL}/oauth/complete/calendly/``) rather than from
  whatever host the request came in on.
* Client credentials by HTTP Basic auth on the code exchange *and* on the refresh (the base class
  sends them in the body on refresh); revoke sends ``client_id``/``client_secret`` in the form, as
  Calendly documents.
* The token response's ``owner`` (user URI) and ``organization`` (organization URI) are kept:
  webhook subscriptions need the organization.
* Minimal scopes: ``users:read event_types:read scheduled_events:read webhooks:write``, plus
  ``scheduling_links:write scheduled_events:write`` when ``CALENDLY_SCHEDULING_FEATURES`` is on;
  ``CALENDLY_OAUTH_SCOPES`` replaces the whole set.
* Refresh tokens are single-use and rotate: callers must serialise refreshes (the connector holds
  a row lock on its Connection, see ``calendly_sync.credentials.tokens``).

Settings are read through the strategy at call time, so Django's ``override_settings`` (and
pytest-django's ``settings`` fixture) work: ``CALENDLY_CLIENT_ID``/``CALENDLY_CLIENT_SECRET`` win,
with social-auth's ``SOCIAL_AUTH_CALENDLY_KEY``/``SECRET`` as the fallback; endpoints come from
``CALENDLY_AUTH_URL`` and ``CALENDLY_API_URL`` so the backend can be pointed at a simulator.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from requests.auth import HTTPBasicAuth
from social_core.backends.oauth import BaseOAuth2PKCE

if TYPE_CHECKING:
    from django.http import HttpRequest

DEFAULT_AUTH_URL = "https://auth.calendly.com"
DEFAULT_API_URL = "https://api.calendly.com"

# Minimal scopes for sync + webhooks; the scheduling features add their own (see scopes_for()).
BASE_SCOPES = ["users:read", "event_types:read", "scheduled_events:read", "webhooks:write"]
SCHEDULING_SCOPES = ["scheduling_links:write", "scheduled_events:write"]


def scopes_for(scheduling: bool = False) -> list[str]:
    """The minimal scope set for the enabled features."""
    return BASE_SCOPES + (SCHEDULING_SCOPES if scheduling else [])


def parse_scopes(value: Any) -> list[str]:
    """``"a b"``, ``"a,b"`` or ``["a", "b"]`` → ``["a", "b"]`` (order kept, duplicates dropped)."""
    if not value:
        return []
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else [str(v) for v in value]
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


class CalendlyOAuth2(BaseOAuth2PKCE):
    """Calendly OAuth2 authentication backend (authorization code + PKCE S256)."""

    name = "calendly"
    ID_KEY = "uri"
    AUTHORIZATION_URL = DEFAULT_AUTH_URL + "/oauth/authorize"
    ACCESS_TOKEN_URL = DEFAULT_AUTH_URL + "/oauth/token"
    REVOKE_TOKEN_URL = DEFAULT_AUTH_URL + "/oauth/revoke"
    ACCESS_TOKEN_METHOD = "POST"
    REFRESH_TOKEN_METHOD = "POST"
    REVOKE_TOKEN_METHOD = "POST"
    USE_BASIC_AUTH = True
    STATE_PARAMETER = True
    REDIRECT_STATE = False  # Calendly compares redirect_uri with the registered one exactly
    SEND_USER_AGENT = True
    SCOPE_SEPARATOR = " "
    DEFAULT_SCOPE = BASE_SCOPES
    PKCE_DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    DEFAULT_USE_PKCE = True
    EXTRA_DATA = [
        ("refresh_token", "refresh_token", True),
        ("expires_in", "expires"),
        ("created_at", "created_at"),
        ("scope", "scope"),
        ("owner", "owner"),
        ("organization", "organization"),
    ]

    # -- settings, read at call time ------------------------------------------------------------
    def _conf(self, name: str) -> Any:
        """A plain (project-level) setting through the strategy, or None when it is not defined."""
        try:
            return self.strategy.get_setting(name)
        except (AttributeError, KeyError):
            return None

    def get_key_and_secret(self) -> tuple[str, str]:
        """``CALENDLY_CLIENT_ID``/``SECRET`` (the product's names), else ``SOCIAL_AUTH_CALENDLY_KEY``/``SECRET``."""
        key = self._conf("CALENDLY_CLIENT_ID") or self.setting("KEY") or ""
        secret = self._conf("CALENDLY_CLIENT_SECRET") or self.setting("SECRET") or ""
        return str(key), str(secret)

    def _auth_base(self) -> str:
        return str(self._conf("CALENDLY_AUTH_URL") or DEFAULT_AUTH_URL).rstrip("/")

    def _api_base(self) -> str:
        return str(self._conf("CALENDLY_API_URL") or DEFAULT_API_URL).rstrip("/")

    def authorization_url(self) -> str:
        return self._auth_base() + "/oauth/authorize"

    def access_token_url(self) -> str:
        return self._auth_base() + "/oauth/token"

    def revoke_token_url(self, token: str, uid: str) -> str:
        return self._auth_base() + "/oauth/revoke"

    def get_redirect_uri(self, state: str | None = None) -> str:
        """``{SITE_URL}/oauth/complete/calendly/``: the exact URI registered with the Calendly app."""
        site = self._conf("SITE_URL")
        if not site:
            return super().get_redirect_uri(state)
        path = urlsplit(str(self.redirect_uri or "")).path or f"/oauth/complete/{self.name}/"
        return str(site).rstrip("/") + path

    def get_scope(self) -> list[str]:
        """Minimal scopes for the enabled features; ``CALENDLY_OAUTH_SCOPES`` replaces them all."""
        configured = parse_scopes(self._conf("CALENDLY_OAUTH_SCOPES"))
        if configured:
            return configured
        extra = parse_scopes(self.setting("SCOPE", []))
        if self.setting("IGNORE_DEFAULT_SCOPE", False):
            return extra
        return parse_scopes(scopes_for(bool(self._conf("CALENDLY_SCHEDULING_FEATURES"))) + extra)

    # -- refresh and revoke: client credentials by HTTP Basic, never in the refresh body --------
    def refresh_token_params(self, token: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        return {"grant_type": "refresh_token", "refresh_token": token}

    def refresh_token_auth(self) -> HTTPBasicAuth:
        client_id, client_secret = self.get_key_and_secret()
        return HTTPBasicAuth(client_id, client_secret)

    def revoke_token_params(self, token: str, uid: str) -> dict[str, str]:
        client_id, client_secret = self.get_key_and_secret()
        return {"token": token, "client_id": client_id, "client_secret": client_secret}

    # -- user ----------------------------------------------------------------------------------
    def user_data(self, access_token: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        data = self.get_json(self._api_base() + "/users/me", headers={"Authorization": f"Bearer {access_token}"})
        resource: dict[str, Any] = data.get("resource", {})
        return resource

    def get_user_id(self, details: dict[str, Any], response: dict[str, Any]) -> str:
        return response.get("owner") or response.get("uri") or ""

    def get_user_details(self, response: dict[str, Any]) -> dict[str, Any]:
        # social-core leaves get_user_names unannotated (and self's type does not match untyped_calls_exclude).
        fullname, first_name, last_name = self.get_user_names(response.get("name") or "")  # type: ignore[no-untyped-call]
        return {
            "username": response.get("slug") or response.get("email") or "",
            "email": response.get("email") or "",
            "fullname": fullname,
            "first_name": first_name,
            "last_name": last_name,
        }


def calendly_backend(request: HttpRequest | None = None, redirect_uri: str | None = None) -> CalendlyOAuth2:
    """The backend bound to Django's settings (for refresh and revoke outside a login flow)."""
    # Imported here, not at the top: the API clients stay importable without Django; only this
    # helper binds the backend to Django's settings, when it is called.
    from social_django.utils import load_strategy  # noqa: PLC0415

    return CalendlyOAuth2(load_strategy(request), redirect_uri=redirect_uri)
