"""The simulated auth.calendly.com: codes, PKCE, client auth, rotation, expiry, revoke (sandbox/calendly/oauth.py)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from urllib.parse import parse_qs, urlsplit

import requests

from calendly_sync.sandbox.calendly import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, CalendlySim
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import get


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize(
    sim: CalendlySim, challenge: str | None, decision: str = "approve", scope: str = "users:read scheduled_events:read"
) -> dict[str, list[str]]:
    params = {
        "client_id": SANDBOX_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": "http://localhost:8000/cb",
        "scope": scope,
        "state": "st4te",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = requests.get(sim.url + "/oauth/authorize", params=params, timeout=5)
    assert page.status_code == 200
    assert "users:read" in page.text and "Approve" in page.text and "Deny" in page.text
    resp = requests.post(
        sim.url + "/oauth/authorize", data={**params, "decision": decision}, allow_redirects=False, timeout=5
    )
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("http://localhost:8000/cb?")
    return parse_qs(urlsplit(location).query)


def _token(sim: CalendlySim, **form: str) -> requests.Response:
    return requests.post(
        sim.url + "/oauth/token", data=form, auth=(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET), timeout=5
    )


def test_oauth_code_exchange_with_pkce_and_basic_auth(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    verifier, challenge = _pkce()
    q = _authorize(sim, challenge)
    assert q["state"] == ["st4te"]
    code = q["code"][0]
    wrong = _token(
        sim,
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://localhost:8000/cb",
        code_verifier="not-the-verifier",
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    q = _authorize(sim, challenge)  # the code is single-use even after a failed exchange
    code = q["code"][0]
    ok = _token(
        sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:8000/cb", code_verifier=verifier
    )
    assert ok.status_code == 200, ok.text
    tok = ok.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 7200
    assert tok["owner"] == admin_context(sim)["user"] and tok["organization"] == admin_context(sim)["organization"]
    assert tok["scope"] == "users:read scheduled_events:read" and isinstance(tok["created_at"], int)
    assert get(sim, "/users/me", tok["access_token"]).status_code == 200
    assert get(sim, "/event_types", tok["access_token"], user=tok["owner"]).status_code == 403  # not granted
    reuse = _token(
        sim, grant_type="authorization_code", code=code, redirect_uri="http://localhost:8000/cb", code_verifier=verifier
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    bad_client = requests.post(
        sim.url + "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(SANDBOX_CLIENT_ID, "wrong"),
        timeout=5,
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    intro = requests.post(
        sim.url + "/oauth/introspect",
        data={"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET, "token": tok["access_token"]},
        timeout=5,
    ).json()
    assert intro["active"] is True and intro["owner"] == tok["owner"]
    revoke = requests.post(
        sim.url + "/oauth/revoke",
        data={"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET, "token": tok["access_token"]},
        timeout=5,
    )
    assert revoke.status_code == 200 and revoke.json() == {}
    assert get(sim, "/users/me", tok["access_token"]).json()["message"] == "The access token was revoked"


def test_oauth_deny_and_redirect_mismatch(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None, decision="deny")
    assert q == {"error": ["access_denied"], "state": ["st4te"]}
    q = _authorize(sim, None)
    resp = _token(sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://evil.example/cb")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_oauth_access_token_expires_after_ttl() -> None:
    now = [1_800_000_000.0]
    with CalendlySim(clock=lambda: now[0], access_token_ttl=60) as sim:
        q = _authorize(sim, None)
        tok = _token(
            sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://localhost:8000/cb"
        ).json()
        assert tok["expires_in"] == 60
        assert get(sim, "/users/me", tok["access_token"]).status_code == 200
        now[0] += 61
        assert get(sim, "/users/me", tok["access_token"]).json()["message"] == "The access token expired"


def test_refresh_tokens_rotate_and_are_single_use(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None)
    first = _token(
        sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://localhost:8000/cb"
    ).json()
    second = _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"] and pair["access_token"] != first["access_token"]
    reuse = _token(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "invalid, expired, revoked" in reuse.json()["error_description"]
    assert _token(sim, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 200
    assert sim.token_grants["refresh_token"] == 2 and sim.token_requests["refresh_token"] == 3


def test_concurrent_refresh_with_same_token_exactly_one_wins(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    q = _authorize(sim, None)
    refresh = _token(
        sim, grant_type="authorization_code", code=q["code"][0], redirect_uri="http://localhost:8000/cb"
    ).json()["refresh_token"]
    barrier = threading.Barrier(4)
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        status = _token(sim, grant_type="refresh_token", refresh_token=refresh).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == [200, 400, 400, 400]
    assert sim.token_grants["refresh_token"] == 1


def test_native_oauth_client_requires_pkce(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    sim.register_oauth_client("native-app", None, ["http://localhost:8000/cb"], kind="native")
    verifier, challenge = _pkce()
    params = {
        "client_id": "native-app",
        "response_type": "code",
        "redirect_uri": "http://localhost:8000/cb",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "decision": "approve",
    }
    loc = requests.post(sim.url + "/oauth/authorize", data=params, allow_redirects=False, timeout=5).headers["Location"]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    resp = requests.post(
        sim.url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "native-app",
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:8000/cb",
        },
        timeout=5,
    )
    assert resp.status_code == 200, resp.text
    bad_redirect = requests.get(
        sim.url + "/oauth/authorize", params={**params, "redirect_uri": "http://evil.example/"}, timeout=5
    )
    assert bad_redirect.status_code == 400
