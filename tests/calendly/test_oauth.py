"""The CalendlyOAuth2 social-core backend, tested in social-core's own style.

``CalendlyOAuth2Test`` subclasses social-core's ``OAuth2PkceS256Test`` (its test strategy and
storage, HTTP mocked with ``responses``), as a backend contributed upstream would be tested: the
full login through social-core's default pipeline, the authorization URL, the code exchange and
the refresh. The last tests bind the backend to Django's settings (the connector's strategy) to
check that settings are read at call time.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from social_core.tests.backends import oauth as social_oauth_tests

from calendly_sync.calendly.oauth import (
    BASE_SCOPES,
    SCHEDULING_SCOPES,
    CalendlyOAuth2,
    calendly_backend,
)

USER_URI = "https://api.calendly.com/users/AAAAAAAAAAAAAAAA"
ORG_URI = "https://api.calendly.com/organizations/BBBBBBBBBBBBBBBB"


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def form(body: Any) -> dict[str, str]:
    text = body.decode() if isinstance(body, bytes) else (body or "")
    return {k: v[0] for k, v in parse_qs(text).items()}


class CalendlyOAuth2Test(social_oauth_tests.OAuth2StateTestMixin, social_oauth_tests.OAuth2PkceS256Test):
    backend_path = "calendly_sync.calendly.oauth.CalendlyOAuth2"
    user_data_url = "https://api.calendly.com/users/me"
    expected_username = "acmesales"
    access_token_body = json.dumps(
        {
            "token_type": "Bearer",
            "expires_in": 7200,
            "created_at": 1548689183,
            "access_token": "eyJhbGciOiJIUzI1NiJ9.first-access",
            "refresh_token": "first-refresh",
            "scope": " ".join(BASE_SCOPES),
            "owner": USER_URI,
            "organization": ORG_URI,
        }
    )
    user_data_body = json.dumps(
        {
            "resource": {
                "uri": USER_URI,
                "name": "John Doe",
                "slug": "acmesales",
                "email": "test@example.com",
                "scheduling_url": "https://calendly.com/acmesales",
                "timezone": "America/New_York",
                "current_organization": ORG_URI,
                "resource_type": "User",
            }
        }
    )
    refresh_token_body = json.dumps(
        {
            "token_type": "Bearer",
            "expires_in": 7200,
            "created_at": 1548696383,
            "access_token": "eyJhbGciOiJIUzI1NiJ9.second-access",
            "refresh_token": "second-refresh",
            "scope": " ".join(BASE_SCOPES),
            "owner": USER_URI,
            "organization": ORG_URI,
        }
    )

    def token_calls(self) -> list[Any]:
        return [c.request for c in responses.calls if c.request.url.startswith(self.backend.access_token_url())]

    def test_login(self) -> None:
        user = self.do_login()
        social = user.social[0]
        self.assertEqual(social.uid, USER_URI)
        self.assertEqual(social.extra_data["owner"], USER_URI)
        self.assertEqual(social.extra_data["organization"], ORG_URI)
        self.assertEqual(social.extra_data["scope"], " ".join(BASE_SCOPES))
        self.assertEqual(social.extra_data["refresh_token"], "first-refresh")
        self.assertEqual(social.extra_data["expires"], 7200)

    def test_authorization_url(self) -> None:
        url = self.backend.start().url
        parts = urlsplit(url)
        self.assertEqual(f"{parts.scheme}://{parts.netloc}{parts.path}", "https://auth.calendly.com/oauth/authorize")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.assertEqual(query["client_id"], "a-key")
        self.assertEqual(query["response_type"], "code")
        self.assertEqual(query["redirect_uri"], self.backend.get_redirect_uri())
        self.assertNotIn("redirect_state", query["redirect_uri"])  # Calendly matches it exactly
        self.assertEqual(query["state"], self.strategy.session_get("calendly_state"))
        self.assertEqual(query["code_challenge_method"], "S256")
        verifier = self.strategy.session_get("calendly_code_verifier")
        self.assertEqual(query["code_challenge"], self.backend.generate_code_challenge(verifier, "S256"))
        self.assertEqual(query["scope"], "users:read event_types:read scheduled_events:read webhooks:write")
        self.assertNotIn("client_secret", query)

    def test_scheduling_features_add_their_scopes(self) -> None:
        self.strategy.set_settings({"CALENDLY_SCHEDULING_FEATURES": True})
        query = parse_qs(urlsplit(self.backend.start().url).query)
        self.assertEqual(query["scope"][0].split(" "), BASE_SCOPES + SCHEDULING_SCOPES)

    def test_scopes_setting_replaces_the_set(self) -> None:
        self.strategy.set_settings({"CALENDLY_OAUTH_SCOPES": "users:read, webhooks:write"})
        query = parse_qs(urlsplit(self.backend.start().url).query)
        self.assertEqual(query["scope"], ["users:read webhooks:write"])

    def test_redirect_uri_comes_from_site_url(self) -> None:
        self.strategy.set_settings({"SITE_URL": "https://connector.example.com/"})
        self.backend.redirect_uri = "http://internal-host:8000/oauth/complete/calendly/"
        query = parse_qs(urlsplit(self.backend.start().url).query)
        self.assertEqual(query["redirect_uri"], ["https://connector.example.com/oauth/complete/calendly/"])

    def test_code_exchange_uses_basic_auth_and_code_verifier(self) -> None:
        self.do_login()
        (exchange,) = self.token_calls()
        self.assertEqual(exchange.method, "POST")
        self.assertEqual(exchange.headers["Authorization"], basic("a-key", "a-secret-key"))
        body = form(exchange.body)
        self.assertEqual(body["grant_type"], "authorization_code")
        self.assertEqual(body["code"], "foobar")
        self.assertEqual(body["redirect_uri"], self.backend.get_redirect_uri())
        self.assertEqual(body["code_verifier"], self.strategy.session_get("calendly_code_verifier"))
        self.assertNotIn("client_secret", body)
        self.assertNotIn("client_id", body)

    def test_refresh_uses_basic_auth_and_keeps_no_secret_in_the_body(self) -> None:
        _user, social = self.do_refresh_token()
        refresh = self.token_calls()[-1]
        self.assertEqual(refresh.headers["Authorization"], basic("a-key", "a-secret-key"))
        body = form(refresh.body)
        self.assertEqual(body, {"grant_type": "refresh_token", "refresh_token": "first-refresh"})
        self.assertEqual(social.extra_data["access_token"], "eyJhbGciOiJIUzI1NiJ9.second-access")
        self.assertEqual(social.extra_data["refresh_token"], "second-refresh")  # rotated
        self.assertEqual(social.extra_data["organization"], ORG_URI)

    def test_revoke_sends_the_client_credentials(self) -> None:
        responses.add(responses.POST, "https://auth.calendly.com/oauth/revoke", json={}, status=200)
        self.assertTrue(self.backend.revoke_token("some-token", USER_URI))
        call = responses.calls[-1].request
        self.assertEqual(
            form(call.body), {"token": "some-token", "client_id": "a-key", "client_secret": "a-secret-key"}
        )

    def test_endpoints_follow_calendly_auth_url(self) -> None:
        self.strategy.set_settings(
            {"CALENDLY_AUTH_URL": "http://127.0.0.1:9999/", "CALENDLY_API_URL": "http://127.0.0.1:9998"}
        )
        self.assertEqual(self.backend.authorization_url(), "http://127.0.0.1:9999/oauth/authorize")
        self.assertEqual(self.backend.access_token_url(), "http://127.0.0.1:9999/oauth/token")
        self.assertEqual(self.backend.refresh_token_url(), "http://127.0.0.1:9999/oauth/token")
        self.assertEqual(self.backend.revoke_token_url("t", "u"), "http://127.0.0.1:9999/oauth/revoke")


# -- bound to Django's settings (the connector's own strategy) -----------------------------------


def test_django_settings_are_read_at_call_time(settings: Any) -> None:
    settings.CALENDLY_CLIENT_ID = "overridden-id"
    settings.CALENDLY_CLIENT_SECRET = "overridden-secret"
    settings.SITE_URL = "https://connector.example.com"
    settings.CALENDLY_AUTH_URL = "http://127.0.0.1:7000"
    backend = calendly_backend(redirect_uri="/oauth/complete/calendly/")
    assert isinstance(backend, CalendlyOAuth2)
    assert backend.get_key_and_secret() == ("overridden-id", "overridden-secret")
    assert backend.get_redirect_uri() == "https://connector.example.com/oauth/complete/calendly/"
    assert backend.authorization_url() == "http://127.0.0.1:7000/oauth/authorize"
    settings.CALENDLY_CLIENT_ID = "changed-again"
    assert backend.get_key_and_secret()[0] == "changed-again"


def test_social_auth_names_are_the_fallback(settings: Any) -> None:
    settings.CALENDLY_CLIENT_ID = ""
    settings.CALENDLY_CLIENT_SECRET = ""
    settings.SOCIAL_AUTH_CALENDLY_KEY = "social-key"
    settings.SOCIAL_AUTH_CALENDLY_SECRET = "social-secret"
    assert calendly_backend().get_key_and_secret() == ("social-key", "social-secret")


@pytest.mark.parametrize(
    "scheduling,override,expected",
    [
        (False, "", "users:read event_types:read scheduled_events:read webhooks:write"),
        (
            True,
            "",
            (
                "users:read event_types:read scheduled_events:read webhooks:write scheduling_links:write "
                "scheduled_events:write"
            ),
        ),
        (True, "users:read webhooks:write", "users:read webhooks:write"),
    ],
)
def test_scopes_from_django_settings(settings: Any, scheduling: bool, override: str, expected: str) -> None:
    settings.CALENDLY_SCHEDULING_FEATURES = scheduling
    settings.CALENDLY_OAUTH_SCOPES = override
    assert " ".join(calendly_backend().get_scope()) == expected
