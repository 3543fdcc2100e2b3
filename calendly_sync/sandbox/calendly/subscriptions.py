"""Webhook subscriptions over HTTP (list, create, get, delete) and ``/sample_webhook_data``.

Why: the connector registers and checks its own webhook; Calendly's rules decide what it may do —
organization scope needs an admin, a member subscribes only for themselves, HTTPS callback URLs
(unless ``allow_http_callbacks``), one hook per URL, plan-gated events on a free plan are a 403.
Delivering to these subscriptions is ``webhooks.py``'s job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from calendly_sync.sandbox.calendly.account import Account
from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.paging import json_body, paginate, sort_param
from calendly_sync.sandbox.calendly.records import API, ApiError, fmt_time, forbidden, invalid, not_found
from calendly_sync.sandbox.calendly.webhooks import (
    ALL_WEBHOOK_EVENTS,
    EVENT_TYPE_EVENTS,
    ORG_ONLY_EVENTS,
    PLAN_GATED_EVENTS,
    Outgoing,
)
from calendly_sync.sandbox.httpbase import Request, Response


class SubscriptionRoutes(Account):
    """Handlers for ``/webhook_subscriptions…`` and ``/sample_webhook_data``."""

    allow_http_callbacks: bool
    plan: str  # "free" → plan-gated webhook events get 403

    def _scope_target(
        self, ctx: Caller, scope: str | None, user_q: str | None, group_q: str | None, write: bool
    ) -> tuple[str | None, str | None]:
        """Validate scope + user/group against the caller's role; return (user_id, group_id)."""
        if scope not in ("organization", "user", "group"):
            raise invalid("scope", "must be one of organization, user, group")
        if scope == "organization":
            if not ctx.is_admin:
                raise forbidden("You do not have permission")
            return None, None
        if scope == "user":
            if not user_q:
                raise invalid("user", "is required when scope is user")
            user = self._user_rec(user_q)
            if user is None:
                raise not_found()
            if user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            if user["_id"] != ctx.uid and not ctx.is_admin:
                raise forbidden("You do not have permission")
            return user["_id"], None
        if not group_q:
            raise invalid("group", "is required when scope is group")
        group = self.groups.get(self.uuid_of(group_q, "groups"))
        if group is None:
            raise not_found()
        if not ctx.is_admin and ctx.uid not in group["_members"]:
            raise forbidden("You do not have permission")
        return None, group["_id"]

    def _h_list_subs(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        org_q, scope = req.q("organization"), req.q("scope")
        if not org_q:
            raise invalid("organization", "is required")
        if not scope:
            raise invalid("scope", "is required")
        if self.uuid_of(org_q, "organizations") != ctx.org:
            raise forbidden()
        uid, gid = self._scope_target(ctx, scope, req.q("user"), req.q("group"), write=False)
        items = [
            s
            for s in self.subscriptions.values()
            if s["_org"] == ctx.org
            and s["scope"] == scope
            and (uid is None or s["_user"] == uid)
            and (gid is None or s["_group"] == gid)
        ]
        sort = sort_param(req, ("created_at",), "created_at:asc")
        return paginate(self, req, items, sort, lambda r, f: r["_created"])

    def _h_create_sub(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        body = json_body(req)
        for name in ("url", "events", "organization", "scope"):
            if body.get(name) in (None, "", []):
                raise invalid(name, "is required")
        url, events = body["url"], body["events"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise invalid("events", "must be a list of event names")
        unknown = [e for e in events if e not in ALL_WEBHOOK_EVENTS]
        if unknown:
            raise invalid("events", f"unknown event(s): {', '.join(unknown)}")
        split = urlsplit(str(url))
        if split.scheme not in ("http", "https") or not split.netloc:
            raise invalid("url", "must be a valid URL")
        if split.scheme != "https" and not self.allow_http_callbacks:
            raise invalid("url", "must be a valid HTTPS URL")
        if body["scope"] != "organization" and any(e in ORG_ONLY_EVENTS for e in events):
            raise invalid("events", "routing_form_submission.created requires organization scope")
        if self.uuid_of(str(body["organization"]), "organizations") != ctx.org:
            raise forbidden()
        uid, gid = self._scope_target(ctx, body["scope"], body.get("user"), body.get("group"), write=True)
        if self.plan == "free" and any(e in PLAN_GATED_EVENTS for e in events):
            raise forbidden("Please upgrade to a paid Calendly account.")
        if any(s["callback_url"] == url and s["_org"] == ctx.org for s in self.subscriptions.values()):
            raise ApiError(409, "Already Exists", "Hook with this url already exists")
        key = body.get("signing_key")
        if not key and ctx.kind == "oauth" and ctx.client_id in self.oauth_clients:
            key = self.oauth_clients[ctx.client_id]["webhook_signing_key"]
        sid = self.new_uuid()
        ts = self.now()
        sub = {
            "uri": f"{API}/webhook_subscriptions/{sid}",
            "callback_url": url,
            "created_at": fmt_time(ts),
            "updated_at": fmt_time(ts),
            "retry_started_at": None,
            "state": "active",
            "events": list(events),
            "scope": body["scope"],
            "organization": f"{API}/organizations/{ctx.org}",
            "user": f"{API}/users/{uid}" if uid else None,
            "group": f"{API}/groups/{gid}" if gid else None,
            "creator": ctx.user["uri"],
            "_id": sid,
            "_org": ctx.org,
            "_user": uid,
            "_group": gid,
            "_creator": ctx.uid,
            "_signing_key": key or None,
            "_created": ts,
            "_failures": 0,
        }
        self.subscriptions[sid] = sub
        rendered = self.render(sub)
        return Response(201, {"resource": rendered}, {"Location": rendered["uri"]})

    def _sub_for(self, ctx: Caller, uuid: str) -> dict[str, Any]:
        sub = self.subscriptions.get(uuid)
        if sub is None or sub["_org"] != ctx.org:
            raise not_found()
        if not ctx.is_admin and sub["_user"] != ctx.uid:
            raise forbidden()
        return sub

    def _h_get_sub(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        return Response(200, {"resource": self.render(self._sub_for(ctx, req.params["uuid"]))})

    def _h_delete_sub(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        sub = self._sub_for(ctx, req.params["uuid"])
        del self.subscriptions[sub["_id"]]
        return Response(204)

    def _h_sample(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        event, org_q, scope = req.q("event"), req.q("organization"), req.q("scope")
        for name, value in (("event", event), ("organization", org_q), ("scope", scope)):
            if not value:
                raise invalid(name, "is required")
        if event not in ALL_WEBHOOK_EVENTS:
            raise invalid("event", "is not a known event")
        if self.uuid_of(str(org_q), "organizations") != ctx.org:
            raise forbidden()
        self._scope_target(ctx, scope, req.q("user"), req.q("group"), write=False)
        if event in EVENT_TYPE_EVENTS:
            ets = [e for e in self.event_types.values() if e["_org"] == ctx.org]
            payload = self._strip(ets[-1]) if ets else {}
        else:
            invs = sorted(
                (i for i in self.invitees.values() if self.events[i["_event"]]["_org"] == ctx.org),
                key=lambda i: i["_created"],
            )
            payload = self._invitee_payload(invs[-1]) if invs else {}
        envelope = {
            "created_at": datetime.fromtimestamp(int(self.now()), UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "created_by": ctx.user["uri"],
            "event": event,
            "payload": payload,
        }
        return Response(200, self.render(envelope))
