"""The OAuth token lifecycle against the Calendly simulator (real HTTP, single-use refresh tokens).

Refresh ahead of expiry and on a 401 "expired"; two workers refreshing at once spend the refresh
token once and both get a working token; invalid_grant and revoked tokens flag the connection
``needs_reconnect`` with a readable reason and stop work cleanly; missing scopes are named.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection as db_connection
from django.utils import timezone

from calendly_sync.calendly.errors import CalendlyAuthError, CalendlyPermissionError
from calendly_sync.connect.catalog import load_catalog
from calendly_sync.credentials import tokens
from calendly_sync.credentials.clients import calendly_client_for
from calendly_sync.credentials.tokens import (
    ConnectionTokenSource,
    ReconnectRequired,
    TokenRefreshError,
    store_token_response,
)
from calendly_sync.models import Connection
from calendly_sync.sandbox.brevo.server import SANDBOX_API_KEY
from calendly_sync.sandbox.calendly.server import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

DEFAULT_SCOPES = "users:read event_types:read scheduled_events:read webhooks:write"
REDIRECT = "http://localhost/oauth/complete/calendly/"


def oauth_grant(sim: Any, scope: str = DEFAULT_SCOPES) -> dict[str, Any]:
    """Authorize (approve on the consent form) and exchange the code, over real HTTP."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "client_id": SANDBOX_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": "xyz",
        "code_challenge_method": "S256",
        "code_challenge": challenge,
        "scope": scope,
    }
    resp = requests.post(
        f"{sim.url}/oauth/authorize", data={**params, "decision": "approve"}, allow_redirects=False, timeout=5
    )
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    resp = requests.post(
        f"{sim.url}/oauth/token",
        auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET),
        timeout=5,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture
def oauth_sims(sims: tuple[Any, Any], settings: Any) -> tuple[Any, Any]:
    settings.CALENDLY_CLIENT_ID = SANDBOX_CLIENT_ID
    settings.CALENDLY_CLIENT_SECRET = SANDBOX_CLIENT_SECRET
    return sims


def make_connection(sim: Any, scope: str = DEFAULT_SCOPES, expires_in: timedelta | None = None) -> Connection:
    conn = Connection(
        name="oauth",
        auth_kind=Connection.AuthKind.OAUTH,
        brevo_api_key=SANDBOX_API_KEY,
        status=Connection.Status.ACTIVE,
    )
    store_token_response(conn, oauth_grant(sim, scope))
    if expires_in is not None:
        conn.token_expires_at = timezone.now() + expires_in
    conn.save()
    return conn


def fresh(conn: Connection) -> Connection:
    return Connection.objects.get(pk=conn.pk)


# -- concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("why", ["about to expire", "401 on the same token"])
def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(oauth_sims, monkeypatch, why):
    calendly_sim, _ = oauth_sims
    expires = timedelta(minutes=1) if why == "about to expire" else timedelta(hours=2)
    conn = make_connection(calendly_sim, expires_in=expires)
    old_access = conn.access_token
    original = tokens.post_refresh

    def slow_refresh(refresh_token: str) -> tuple[int, dict[str, Any]]:
        time.sleep(0.3)  # widen the race: without the locks both workers would send the same token
        return original(refresh_token)

    monkeypatch.setattr(tokens, "post_refresh", slow_refresh)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            source = ConnectionTokenSource(Connection.objects.get(pk=conn.pk))
            barrier.wait(timeout=5)
            if why == "about to expire":
                results.append(source.access_token())
            else:
                source._last_token = old_access  # both just had old_access refused with a 401
                assert source.refresh_after_unauthorized(
                    CalendlyAuthError(401, "Unauthenticated", "The access token is invalid")
                )
                results.append(source._last_token)
        except BaseException as exc:  # noqa: BLE001 - anything a thread raises (a failed assert too) is reported below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors, errors
    conn = fresh(conn)
    assert calendly_sim.token_requests["refresh_token"] == 1
    assert calendly_sim.token_grants["refresh_token"] == 1
    assert results == [conn.access_token, conn.access_token] and conn.access_token != old_access
    assert conn.status == Connection.Status.ACTIVE and conn.refresh_token
    me = calendly_client_for(conn).get_current_user()  # the shared token works, no further refresh
    assert me["uri"] == calendly_sim.admin["uri"]
    assert calendly_sim.token_requests["refresh_token"] == 1


# -- refresh ahead of expiry and on a 401 "expired" ------------------------------------------------


@pytest.mark.django_db
def test_token_about_to_expire_is_refreshed_before_the_call(oauth_sims):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim, expires_in=timedelta(minutes=2))
    old_access, old_refresh = conn.access_token, conn.refresh_token
    client = calendly_client_for(conn)
    assert client.get_current_user()["uri"] == calendly_sim.admin["uri"]
    assert calendly_sim.token_grants["refresh_token"] == 1
    assert client.stats["retries"] == 0  # refreshed ahead, no 401 first
    conn = fresh(conn)
    assert conn.access_token != old_access and conn.refresh_token != old_refresh
    assert conn.token_expires_at > timezone.now() + timedelta(minutes=110)


@pytest.mark.django_db
def test_401_expired_refreshes_once_and_retries(oauth_sims):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim)  # we believe it is valid for 2 h…
    calendly_sim.expire_token(conn.access_token)  # …but Calendly says it expired
    client = calendly_client_for(conn)
    assert client.get_current_user()["uri"] == calendly_sim.admin["uri"]
    assert calendly_sim.token_grants["refresh_token"] == 1
    assert client.stats["retries"] == 1
    assert fresh(conn).status == Connection.Status.ACTIVE


# -- invalid_grant, revoked, missing scopes --------------------------------------------------------


@pytest.mark.django_db
def test_invalid_grant_sets_needs_reconnect_with_a_reason_and_stops_work(oauth_sims, admin_client):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim, expires_in=timedelta(minutes=1))
    calendly_sim.revoke_token(conn.refresh_token)
    with pytest.raises(ReconnectRequired) as info:
        calendly_client_for(conn).get_current_user()
    assert "invalid_grant" in str(info.value) and "Reconnect Calendly" in str(info.value)
    conn = fresh(conn)
    assert conn.status == Connection.Status.NEEDS_RECONNECT
    assert "invalid_grant" in conn.last_error and conn.last_error_at is not None
    assert conn.access_token == "" and conn.refresh_token == ""
    # Work stops cleanly: no further calls to Calendly at all.
    requests_before = sum(calendly_sim.calls.values())
    with pytest.raises(ReconnectRequired):
        calendly_client_for(conn).get_current_user()
    with pytest.raises(ReconnectRequired):
        tokens.refresh_access_token(conn.pk)
    assert sum(calendly_sim.calls.values()) == requests_before
    # The admin says so on every Connection page, with a Reconnect link.
    for url in ("/admin/calendly_sync/connection/", f"/admin/calendly_sync/connection/{conn.pk}/change/"):
        page = admin_client.get(url).content.decode()
        assert "calendly-reconnect-banner" in page and "needs to be reconnected" in page
        assert "invalid_grant" in page
        assert f"/connect/calendly/start/?connection={conn.pk}" in page


@pytest.mark.django_db
def test_revoked_access_token_gives_a_readable_auth_error(oauth_sims):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim)
    token = conn.access_token
    calendly_sim.revoke_token(token)
    with pytest.raises(CalendlyAuthError) as info:
        calendly_client_for(conn).get_current_user()
    message = str(info.value)
    assert info.value.reason == "revoked"
    assert "The access token was revoked" in message and "Reconnect the Calendly account" in message
    assert token not in message
    assert calendly_sim.token_requests["refresh_token"] == 0  # a revoked token is not "refreshed away"
    conn = fresh(conn)
    assert conn.status == Connection.Status.NEEDS_RECONNECT and "revoked" in conn.last_error
    with pytest.raises(ReconnectRequired):
        calendly_client_for(conn).get_current_user()


@pytest.mark.django_db
def test_missing_scopes_are_named(oauth_sims, event_types):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim, scope="users:read webhooks:write")
    client = calendly_client_for(conn)
    with pytest.raises(CalendlyPermissionError) as info:
        list(client.list_event_types(organization=conn.calendly_organization_uri))
    assert info.value.missing_scopes == ["event_types:read"]
    assert "missing scopes: event_types:read" in str(info.value)
    report = load_catalog(conn)  # what the admin shows after a connect or a reload
    assert not report.ok
    assert any("event_types:read" in text for _, text in report.lines)
    conn = fresh(conn)
    assert "event_types:read" in conn.last_error
    assert conn.calendly_event_types == []
    assert {lst["id"] for lst in conn.brevo_lists} == {10, 11, 12}  # the Brevo half still loaded


@pytest.mark.django_db
def test_a_transient_refresh_failure_keeps_the_connection(oauth_sims):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim, expires_in=timedelta(minutes=1))
    refresh = conn.refresh_token
    calendly_sim.fail(503, times=1, route=r"^POST /oauth/token")
    with pytest.raises(TokenRefreshError):
        calendly_client_for(conn).get_current_user()
    conn = fresh(conn)
    assert conn.status == Connection.Status.ACTIVE and conn.refresh_token == refresh
    assert "HTTP 503" in conn.last_error
    assert calendly_client_for(conn).get_current_user()["uri"] == calendly_sim.admin["uri"]  # next try works
    assert calendly_sim.token_grants["refresh_token"] == 1


@pytest.mark.django_db
def test_refresh_sends_client_credentials_by_basic_auth_only(oauth_sims):
    calendly_sim, _ = oauth_sims
    conn = make_connection(calendly_sim, expires_in=timedelta(minutes=1))
    sent = conn.refresh_token
    tokens.refresh_access_token(conn.pk)
    (req,) = [r for r in calendly_sim.requests if r.path == "/oauth/token" and "refresh_token" in r.form().values()]
    expected = base64.b64encode(f"{SANDBOX_CLIENT_ID}:{SANDBOX_CLIENT_SECRET}".encode()).decode()
    assert req.headers.get("authorization") == f"Basic {expected}"
    assert req.form() == {"grant_type": "refresh_token", "refresh_token": sent}


# -- saves after API calls never write spent tokens back ---------------------------------------------


@pytest.mark.django_db
def test_registering_webhooks_with_an_expired_token_then_syncing_keeps_the_connection(oauth_sims, settings):
    """The subscription is stored without a full save, so the token refreshed meanwhile survives."""
    from calendly_sync.backfill import BackfillOptions, run_backfill
    from calendly_sync.inbox.subscriptions import ensure_subscription

    calendly_sim, _ = oauth_sims
    settings.SITE_URL = "https://connector.example.com"  # Calendly only delivers to HTTPS
    conn = make_connection(calendly_sim, expires_in=timedelta(seconds=-5))
    result = ensure_subscription(conn)  # refreshes the access token on its first call
    assert result.action == "created"
    run_backfill(fresh(conn), BackfillOptions())
    conn = fresh(conn)
    assert conn.status == Connection.Status.ACTIVE, conn.last_error
    assert calendly_sim.token_grants["refresh_token"] == 1
    assert conn.webhook_subscription_uri == result.uri
