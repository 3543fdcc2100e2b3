"""The simulated auth.calendly.com: consent page, authorization codes, tokens, revoke, introspect.

Why: "Connect Calendly" and the token lifecycle must be testable end to end: single-use codes
that expire after 10 minutes, PKCE (S256, required for native apps), HTTP Basic or body client
authentication, refresh tokens that rotate and are single-use (concurrent refreshes: one wins),
an optional per-user limit on token requests, and access tokens that expire after their TTL.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from collections import deque
from typing import Any
from urllib.parse import urlencode

from calendly_sync.sandbox.calendly.auth import Auth
from calendly_sync.sandbox.calendly.records import API, b64
from calendly_sync.sandbox.httpbase import Request, Response

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
SANDBOX_WEBHOOK_SIGNING_KEY = "sandbox-webhook-signing-key"
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection "
    "URI used in the authorization request, or was issued to another client."
)
CODE_TTL = 600  # authorization codes live 10 minutes


class OAuthServer(Auth):
    """OAuth clients and the ``/oauth/...`` routes."""

    access_token_ttl: int
    token_requests_per_minute: int | None
    oauth_user_uri: str  # who "logs in" on the consent page

    def register_oauth_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: list[str] | None = None,
        *,
        name: str = "Calendly → Brevo connector",
        kind: str = "web",
        webhook_signing_key: str | None = None,
    ) -> dict[str, Any]:
        """``redirect_uris=None`` accepts any redirect URI (sandbox convenience)."""
        with self.lock:
            rec = {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": redirect_uris,
                "name": name,
                "kind": kind,
                "webhook_signing_key": webhook_signing_key or secrets.token_urlsafe(32),
            }
            self.oauth_clients[client_id] = rec
            return dict(rec)

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        return Response(status, {"error": error, "error_description": description})

    def _authorize_params(self, values: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
        client = self.oauth_clients.get(values.get("client_id", ""))
        if client is None:
            return None, "Unknown client_id."
        redirect = values.get("redirect_uri", "")
        if not redirect:
            return None, "redirect_uri is required."
        if client["redirect_uris"] is not None and redirect not in client["redirect_uris"]:
            return None, "redirect_uri does not match the application's registered redirect URIs."
        if values.get("response_type") != "code":
            return None, "response_type must be code."
        method = values.get("code_challenge_method")
        if values.get("code_challenge") and method not in (None, "", "S256"):
            return None, "Only S256 code_challenge_method is supported."
        return client, None

    def _h_authorize_page(self, req: Request) -> Response:
        values = {k: v[0] for k, v in req.query.items()}
        client, error = self._authorize_params(values)
        if error:
            return Response(
                400, f"<!doctype html><title>Calendly</title><h1>Invalid request</h1><p>{html.escape(error)}</p>"
            )
        assert client is not None
        scopes = (values.get("scope") or "default").split()
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in values.items()
        )
        user = self._user_rec(self.oauth_user_uri) or {}
        page = (
            "<!doctype html><html><head><title>Authorize application – Calendly</title></head><body>"
            f"<h1>{html.escape(client['name'])} wants to access your Calendly account</h1>"
            f"<p>Signed in as {html.escape(user.get('email', ''))}</p>"
            "<p>Requested permissions:</p><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in scopes) + "</ul>"
            f'<form method="post" action="/oauth/authorize">{hidden}'
            '<button type="submit" name="decision" value="approve">Approve</button> '
            '<button type="submit" name="decision" value="deny">Deny</button></form></body></html>'
        )
        return Response(200, page)

    def _h_authorize_decide(self, req: Request) -> Response:
        values = req.form()
        _client, error = self._authorize_params(values)
        if error:
            return Response(400, f"<!doctype html><h1>Invalid request</h1><p>{html.escape(error)}</p>")
        redirect = values["redirect_uri"]
        sep = "&" if "?" in redirect else "?"
        state = {"state": values["state"]} if values.get("state") else {}
        if values.get("decision") != "approve":
            return Response(302, None, {"Location": redirect + sep + urlencode({"error": "access_denied", **state})})
        code = secrets.token_hex(32)
        with self.lock:
            self.codes[code] = {
                "client_id": values["client_id"],
                "redirect_uri": redirect,
                "challenge": values.get("code_challenge") or None,
                "scope": values.get("scope") or None,
                "user": self.uuid_of(self.oauth_user_uri, "users"),
                "created": self.now(),
                "used": False,
            }
        return Response(302, None, {"Location": redirect + sep + urlencode({"code": code, **state})})

    def _client_auth(self, req: Request, form: dict[str, str]) -> tuple[dict[str, Any] | None, Response | None]:
        """HTTP Basic (web apps) or client_id in the body (native apps)."""
        header = req.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except ValueError:  # not base64 (binascii.Error), or not UTF-8
                return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        else:
            cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.oauth_clients.get(cid)
        if client is None:
            return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        expected = (client["client_secret"] or "").encode("utf-8")
        if client["kind"] == "web" and not (secret and secrets.compare_digest(secret.encode("utf-8"), expected)):
            return None, self._oauth_error(401, "invalid_client", "Client authentication failed.")
        return client, None

    def _issue(self, client: dict[str, Any], user_id: str, scope: str | None) -> dict[str, Any]:
        now = self.now()
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(
            json.dumps(
                {
                    "iss": "https://auth.calendly.com",
                    "iat": int(now),
                    "jti": secrets.token_hex(16),
                    "user_uuid": user_id,
                    "app_uid": client["client_id"],
                    "scope": scope or "default",
                }
            ).encode()
        )
        access = f"{head}.{body}.{secrets.token_urlsafe(32)}"
        refresh = secrets.token_hex(32)
        scopes = set(scope.split()) if scope and scope != "default" else None
        self.add_token(
            access,
            f"{API}/users/{user_id}",
            scopes,
            kind="oauth",
            client_id=client["client_id"],
            ttl=self.access_token_ttl,
        )
        self.refresh_tokens[refresh] = {
            "client_id": client["client_id"],
            "user": user_id,
            "scope": scope,
            "used": False,
            "revoked": False,
            "access": access,
        }
        user = self.users[user_id]
        return self.render(
            {
                "token_type": "Bearer",
                "expires_in": self.access_token_ttl,
                "created_at": int(now),
                "refresh_token": refresh,
                "access_token": access,
                "scope": scope or "default",
                "owner": user["uri"],
                "organization": f"{API}/organizations/{user['_org']}",
            }
        )

    def _h_token(self, req: Request) -> Response:
        form = req.form()
        grant = form.get("grant_type", "")
        with self.lock:
            self.token_requests[grant] += 1
            client, err = self._client_auth(req, form)
            if err is not None:
                return err
            assert client is not None
            if grant == "authorization_code":
                rec = self.codes.get(form.get("code", ""))
                if (
                    rec is None
                    or rec["used"]
                    or rec["client_id"] != client["client_id"]
                    or self.now() - rec["created"] > CODE_TTL
                ):
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                rec["used"] = True  # single use, even when the rest of the exchange fails
                if form.get("redirect_uri") != rec["redirect_uri"]:
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                verifier = form.get("code_verifier")
                if rec["challenge"]:
                    if not verifier:
                        return self._oauth_error(400, "invalid_request", "code_verifier is required.")
                    expected = b64(hashlib.sha256(verifier.encode("ascii")).digest())
                    if not secrets.compare_digest(expected, rec["challenge"]):
                        return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                elif client["kind"] == "native":
                    return self._oauth_error(400, "invalid_request", "PKCE is required for native applications.")
                user_id, scope = rec["user"], rec["scope"]
            elif grant == "refresh_token":
                rec = self.refresh_tokens.get(form.get("refresh_token", ""))
                if rec is None or rec["used"] or rec["revoked"] or rec["client_id"] != client["client_id"]:
                    return self._oauth_error(400, "invalid_grant", INVALID_GRANT)
                rec["used"] = True  # rotation: the old refresh token is revoked immediately
                user_id, scope = rec["user"], rec["scope"]
            else:
                return self._oauth_error(
                    400, "unsupported_grant_type", "The authorization grant type is not supported."
                )
            if self.token_requests_per_minute is not None:
                dq = self._token_windows.setdefault(user_id, deque())
                now = self.now()
                while dq and dq[0] <= now - 60:
                    dq.popleft()
                if len(dq) >= self.token_requests_per_minute:
                    rec["used"] = False
                    return self._oauth_error(429, "rate_limited", "Too many token requests for this user.")
                dq.append(now)
            self.token_grants[grant] += 1
            return Response(200, self._issue(client, user_id, scope), {"Cache-Control": "no-store"})

    def _h_revoke(self, req: Request) -> Response:
        form = req.form()
        _client, err = self._client_auth(req, form)
        if err is not None:
            return Response(400, {"error": "invalid_client", "error_description": "Client authentication failed."})
        token = form.get("token", "")
        if not token:
            return self._oauth_error(400, "invalid_request", "token is required.")
        with self.lock:
            self.revoke_token(token)
        return Response(200, {})

    def _h_introspect(self, req: Request) -> Response:
        form = req.form()
        _client, err = self._client_auth(req, form)
        if err is not None:
            return Response(400, {"error": "invalid_client", "error_description": "Client authentication failed."})
        with self.lock:
            rec = self.tokens.get(form.get("token", ""))
            now = self.now()
            if rec is None or rec["revoked"] or (rec["expires_at"] is not None and now >= rec["expires_at"]):
                return Response(200, {"active": False})
            user = self.users[rec["user"]]
            return Response(
                200,
                self.render(
                    {
                        "active": True,
                        "scope": " ".join(sorted(rec["scopes"])) if rec["scopes"] is not None else "default",
                        "client_id": rec["client_id"],
                        "token_type": "Bearer",
                        "exp": int(rec["expires_at"]) if rec["expires_at"] is not None else None,
                        "iat": int(rec["created_at"]),
                        "owner": user["uri"],
                        "organization": f"{API}/organizations/{user['_org']}",
                    }
                ),
            )
