"""A fake Calendly (API v2 + auth.calendly.com OAuth) served over real HTTP.

Why: the connector must be developed and tested without a Calendly account, against the
*documented* behaviour (shared/reference/calendly-api.md): keyset pagination with opaque tokens,
per-user rate limits with ``X-RateLimit-*`` headers, 401 variants for invalid/expired/revoked
tokens, scope-based 403s, role rules, single-use rotating refresh tokens, and signed webhook
deliveries with retries and silent disabling.

URIs inside stored records use the canonical ``https://api.calendly.com`` host and are rewritten
to this server's own URL when rendered, so objects created before ``start()`` still work and a
client following ``uri`` fields talks to the simulator.

The simulator is assembled from parts, one module each: ``records`` (the account's data and how it
renders), ``webhooks`` (signed delivery), ``account`` (the Python API tests drive), ``auth`` (tokens,
rate limits, faults), one route module per resource (``users``, ``event_types``,
``scheduled_events``, ``scheduling``, ``subscriptions``), ``oauth`` (auth.calendly.com) and
``control`` (the ``/_sim/`` routes); ``seeding`` generates realistic data. This module puts them
together: the constructor, the router every API call passes through (authenticate, rate-limit,
check the scope, answer errors in Calendly's shape, deliver the webhooks the call fired once the
lock is released), the route table and the command line.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from calendly_sync.sandbox.calendly import seeding
from calendly_sync.sandbox.calendly.auth import (
    SANDBOX_TOKEN,
    SCOPE_AVAIL,
    SCOPE_DC_W,
    SCOPE_ET,
    SCOPE_LINKS,
    SCOPE_ORGS,
    SCOPE_SE_R,
    SCOPE_SE_W,
    SCOPE_USERS,
    SCOPE_WH_R,
    SCOPE_WH_W,
    Caller,
    has_scope,
)
from calendly_sync.sandbox.calendly.control import ControlRoutes
from calendly_sync.sandbox.calendly.data_compliance import DataComplianceRoutes
from calendly_sync.sandbox.calendly.event_types import EventTypeRoutes
from calendly_sync.sandbox.calendly.oauth import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_SIGNING_KEY,
    OAuthServer,
)
from calendly_sync.sandbox.calendly.records import API, ApiError, not_found
from calendly_sync.sandbox.calendly.scheduled_events import ScheduledEventRoutes
from calendly_sync.sandbox.calendly.scheduling import SchedulingRoutes
from calendly_sync.sandbox.calendly.subscriptions import SubscriptionRoutes
from calendly_sync.sandbox.calendly.users import UserRoutes
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response, fast_stop, quiet_disconnects

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_TOKEN",
    "SANDBOX_WEBHOOK_SIGNING_KEY",
    "CalendlySim",
    "fast_stop",
    "main",
    "quiet_disconnects",
]

ApiHandler = Callable[[Request, Caller, Outgoing], Response]  # an API route behind the router


# ---------------------------------------------------------------------------------------------
class CalendlySim(
    ControlRoutes,
    OAuthServer,
    SubscriptionRoutes,
    SchedulingRoutes,
    ScheduledEventRoutes,
    EventTypeRoutes,
    UserRoutes,
    DataComplianceRoutes,
):
    """Calendly API v2 + OAuth, in-process. See the module docstring for why."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int | None = None,
        events: int = 40,
        rate_limit_per_minute: int | None = None,
        reset_seconds: int = 60,
        allow_http_callbacks: bool = False,
        access_token_ttl: int = 7200,
        default_token: bool = False,
        clock: Callable[[], float | datetime] | None = None,
        deliver_sync: bool = False,
        disable_after_failures: int | None = None,
        delivery_retries: int = 3,
        delivery_backoff: float = 0.05,
        delivery_timeout: tuple[float, float] = (10.0, 15.0),
        token_requests_per_minute: int | None = None,
        max_available_days: int = 31,
        plan: str = "paid",
        invitee_tier: str | None = "paid",
    ) -> None:
        super().__init__(host, port, seed=seed, clock=clock)
        self.rate_limit_per_minute = rate_limit_per_minute
        self.reset_seconds = reset_seconds
        self.allow_http_callbacks = allow_http_callbacks
        self.access_token_ttl = access_token_ttl
        self.deliver_sync = deliver_sync
        self.disable_after_failures = disable_after_failures
        self.delivery_retries = delivery_retries
        self.delivery_backoff = delivery_backoff
        self.delivery_timeout = delivery_timeout
        self.token_requests_per_minute = token_requests_per_minute
        self.max_available_days = max_available_days
        self.plan = plan  # "free" → plan-gated webhook events get 403; "enterprise" → data compliance
        self.invitee_deletions = []
        # POST /invitees quotas: "trial", "paid" (non-Enterprise) or "enterprise"; None = no quota
        self.invitee_tier = invitee_tier
        self._invitee_calls = {}
        # None | "bad_signature" | "stale" | "missing_header": corrupt outgoing deliveries on purpose
        self.delivery_tamper = None

        self._org_id = self.uuid_of(self.add_organization("Acme Sales")["uri"])
        self._admin_id = self.uuid_of(
            self.add_user(
                "Avery Admin",
                "avery.admin@acme-sales.example",
                role="owner",
                org_uri=f"{API}/organizations/{self._org_id}",
            )["uri"]
        )
        self.oauth_user_uri = self.admin["uri"]  # who "logs in" on the consent page
        self.register_oauth_client(
            SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, webhook_signing_key=SANDBOX_WEBHOOK_SIGNING_KEY
        )
        if seed is not None or default_token:
            self.add_token(SANDBOX_TOKEN, self.admin["uri"])
        self._register_routes()
        if seed is not None:
            seeding.populate(self, seed, events=events)

    def restore(self, data: dict[str, Any]) -> None:
        """Restore the records (see ``records``); the consent page signs in the restored owner."""
        super().restore(data)
        self.oauth_user_uri = f"{API}/users/{self._admin_id}"

    def start(self) -> CalendlySim:
        super().start()
        quiet_disconnects(self)
        return self

    def stop(self) -> None:
        """Like ``SimServer.stop`` but without waiting out the 0.5 s ``serve_forever`` poll."""
        fast_stop(self)

    def not_found(self, req: Request) -> Response:
        return not_found().response()

    # =========================================================================================
    # the router
    def _api(self, method: str, pattern: str, scopes: tuple[str, ...] | None, fn: ApiHandler) -> None:
        """Register an authenticated, rate-limited, scope-checked API route."""

        def handler(req: Request) -> Response:
            out: Outgoing = []
            with self.lock:
                uid = None
                try:
                    ctx = self._authenticate(req)
                    uid = ctx.uid
                    allowed, rl_headers = self._rate(uid)
                    if not allowed:
                        resp = Response(
                            429,
                            {
                                "title": "Too Many Requests",
                                "message": "You have exceeded the rate limit. Retry after the reset.",
                            },
                        )
                    else:
                        if scopes and not any(has_scope(ctx.scopes, s) for s in scopes):
                            raise ApiError(
                                403,
                                "Permission Denied",
                                f"The access token is missing the required scope: {' or '.join(scopes)}",
                                [{"parameter": "scope", "message": f"Missing required scope: {s}"} for s in scopes[:1]],
                            )
                        resp = fn(req, ctx, out)
                except ApiError as err:
                    resp = err.response()
                    if uid is None:
                        rl_headers = self._rate(None)[1]
                for name, value in rl_headers.items():  # an endpoint's own limit (a booking quota) wins
                    resp.headers.setdefault(name, value)
            self._send(out)
            return resp

        self.route(method, pattern, handler)

    # =========================================================================================
    # routes
    def _register_routes(self) -> None:
        a = self._api
        a("GET", "/users/me", SCOPE_USERS, self._h_me)
        a("GET", "/users/{uuid}", SCOPE_USERS, self._h_user)
        a("GET", "/organizations/{uuid}", SCOPE_ORGS, self._h_org)
        a("GET", "/event_types", SCOPE_ET, self._h_event_types)
        a("GET", "/event_types/{uuid}", SCOPE_ET, self._h_event_type)
        a("GET", "/event_type_available_times", SCOPE_AVAIL, self._h_available_times)
        a("GET", "/scheduled_events", SCOPE_SE_R, self._h_events)
        a("GET", "/scheduled_events/{uuid}", SCOPE_SE_R, self._h_event)
        a("GET", "/scheduled_events/{uuid}/invitees", SCOPE_SE_R, self._h_invitees)
        a("GET", "/scheduled_events/{uuid}/invitees/{inv}", SCOPE_SE_R, self._h_invitee)
        a("POST", "/scheduled_events/{uuid}/cancellation", SCOPE_SE_W, self._h_cancel_event)
        a("POST", "/invitee_no_shows", SCOPE_SE_W, self._h_create_no_show)
        a("GET", "/invitee_no_shows/{uuid}", SCOPE_SE_R, self._h_get_no_show)
        a("DELETE", "/invitee_no_shows/{uuid}", SCOPE_SE_W, self._h_delete_no_show)
        a("POST", "/invitees", SCOPE_SE_W, self._h_create_invitee)
        a("POST", "/scheduling_links", SCOPE_LINKS, self._h_scheduling_link)
        a("GET", "/webhook_subscriptions", SCOPE_WH_R, self._h_list_subs)
        a("POST", "/webhook_subscriptions", SCOPE_WH_W, self._h_create_sub)
        a("GET", "/webhook_subscriptions/{uuid}", SCOPE_WH_R, self._h_get_sub)
        a("DELETE", "/webhook_subscriptions/{uuid}", SCOPE_WH_W, self._h_delete_sub)
        a("GET", "/sample_webhook_data", SCOPE_WH_R, self._h_sample)
        a("POST", "/data_compliance/deletion/invitees", SCOPE_DC_W, self._h_delete_invitee_data)
        self.route("GET", "/oauth/authorize", self._h_authorize_page)
        self.route("POST", "/oauth/authorize", self._h_authorize_decide)
        self.route("POST", "/oauth/token", self._h_token)
        self.route("POST", "/oauth/revoke", self._h_revoke)
        self.route("POST", "/oauth/introspect", self._h_introspect)
        self.route("POST", "/_sim/book", self._h_sim_book)
        self.route("POST", "/_sim/book_link", self._h_sim_book_link)
        self.route("POST", "/_sim/cancel", self._h_sim_cancel)
        self.route("POST", "/_sim/reschedule", self._h_sim_reschedule)
        self.route("POST", "/_sim/no_show", self._h_sim_no_show)
        self.route("GET", "/_sim/state", self._h_sim_state)


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m calendly_sync.sandbox.calendly --port 8025 --seed 1``: run until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the fake Calendly API for the sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute per user (default: off)")
    parser.add_argument("--https-only", action="store_true", help="reject http:// webhook callback URLs like Calendly")
    args = parser.parse_args(argv)
    sim = CalendlySim(
        args.host,
        args.port,
        seed=args.seed,
        events=args.events,
        rate_limit_per_minute=args.rate_limit,
        allow_http_callbacks=not args.https_only,
        default_token=True,
    )
    sim.start()
    print(f"Calendly simulator on {sim.url}")
    print(f"  personal access token: {SANDBOX_TOKEN}")
    print(f"  OAuth client: {SANDBOX_CLIENT_ID} / {SANDBOX_CLIENT_SECRET}  (authorize at {sim.url}/oauth/authorize)")
    print(f"  webhook signing key for OAuth apps: {SANDBOX_WEBHOOK_SIGNING_KEY}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
