"""Calendly OAuth 2.0 backend for social-auth (python-social-auth / social-core).

Written in social-core's own style (compare ``social_core/backends/asana.py``) so that it could be
offered upstream. What Calendly needs beyond ``BaseOAuth2``:

* PKCE with S256 (Calendly recommends it for web apps).
* Client credentials by HTTP Basic auth on both the code exchange and the refresh; the base class
  sends them in the body on refresh.
* The token response's ``owner`` (user URI) and ``organization`` (organization URI) are kept:
  webhook subscriptions need the organization.
* Refresh tokens are single-use and rotate: callers must serialise refreshes (the connector holds
  a row lock on its Connection, see ``calendly_sync.tokens``).

Endpoints come from the ``CALENDLY_AUTH_URL`` and ``CALENDLY_API_URL`` settings when present, so
the backend can be pointed at a simulator or a proxy.
"""
from __future__ import annotations

from typing import Any

from requests.auth import HTTPBasicAuth
from social_core.backends.oauth import BaseOAuth2PKCE

DEFAULT_AUTH_URL = "https://auth.calendly.com"
DEFAULT_API_URL = "https://api.calendly.com"

# Minimal scopes for sync + webhooks; the scheduling features add their own (see scopes_for()).
BASE_SCOPES = ["users:read", "event_types:read", "scheduled_events:read", "webhooks:write"]
SCHEDULING_SCOPES = ["scheduling_links:write", "scheduled_events:write"]


def scopes_for(scheduling: bool = False) -> list[str]:
    """The minimal scope set for the enabled features."""
    return BASE_SCOPES + (SCHEDULING_SCOPES if scheduling else [])


class CalendlyOAuth2(BaseOAuth2PKCE):
    """Calendly OAuth2 authentication backend (authorization code + PKCE)."""

    name = "calendly"
    ID_KEY = "uri"
    AUTHORIZATION_URL = DEFAULT_AUTH_URL + "/oauth/authorize"
    ACCESS_TOKEN_URL = DEFAULT_AUTH_URL + "/oauth/token"
    REVOKE_TOKEN_URL = DEFAULT_AUTH_URL + "/oauth/revoke"
    ACCESS_TOKEN_METHOD = "POST"
    REVOKE_TOKEN_METHOD = "POST"
    USE_BASIC_AUTH = True
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

    # -- endpoints, overridable by settings ---------------------------------------------------
    def _auth_base(self) -> str:
        return (self.setting("AUTH_URL") or self._django_setting("CALENDLY_AUTH_URL") or DEFAULT_AUTH_URL).rstrip("/")

    def _api_base(self) -> str:
        return (self.setting("API_URL") or self._django_setting("CALENDLY_API_URL") or DEFAULT_API_URL).rstrip("/")

    def _django_setting(self, name: str) -> str | None:
        try:
            return self.strategy.get_setting(name)
        except (AttributeError, KeyError):
            return None

    def authorization_url(self) -> str:
        return self._auth_base() + "/oauth/authorize"

    def access_token_url(self) -> str:
        return self._auth_base() + "/oauth/token"

    def revoke_token_url(self, token: str, uid: str) -> str:
        return self._auth_base() + "/oauth/revoke"

    # -- Basic auth on refresh and revoke ------------------------------------------------------
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
        return data.get("resource", {})

    def get_user_id(self, details: dict[str, Any], response: dict[str, Any]) -> str:
        return response.get("owner") or response.get("uri") or ""

    def get_user_details(self, response: dict[str, Any]) -> dict[str, Any]:
        fullname, first_name, last_name = self.get_user_names(response.get("name") or "")
        return {
            "username": response.get("slug") or response.get("email") or "",
            "email": response.get("email") or "",
            "fullname": fullname,
            "first_name": first_name,
            "last_name": last_name,
        }
