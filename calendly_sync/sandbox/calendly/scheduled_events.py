"""Scheduled events, their invitees, host cancellation and no-shows over HTTP.

Why: backfill pages through ``/scheduled_events`` and their invitees with Calendly's role rules
(an admin may read the organization, a member only their own events), filters and keyset
pagination; hosts cancel events and mark no-shows, each firing the matching webhooks.
"""

from __future__ import annotations

from typing import Any

from calendly_sync.sandbox.calendly.account import Account
from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.paging import json_body, paginate, sort_param, time_param
from calendly_sync.sandbox.calendly.records import fmt_time, forbidden, invalid, not_found
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response


class ScheduledEventRoutes(Account):
    """Handlers for ``/scheduled_events…`` and ``/invitee_no_shows…``."""

    def _event_for(
        self, ctx: Caller, uuid: str, denied: str = "You do not have permission to access this resource."
    ) -> dict[str, Any]:
        ev = self.events.get(uuid)
        if ev is None:
            raise not_found()
        if ev["_host"] != ctx.uid and not (ctx.is_admin and ev["_org"] == ctx.org):
            raise forbidden(denied)
        return ev

    # -- scheduled events ------------------------------------------------------------------------
    def _h_events(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        user_q, org_q, group_q = req.q("user"), req.q("organization"), req.q("group")
        if not (user_q or org_q or group_q):
            raise invalid("user", "one of user, organization or group is required")
        items = list(self.events.values())
        if org_q:
            if self.uuid_of(org_q, "organizations") != ctx.org or not ctx.is_admin:
                raise forbidden()
            items = [e for e in items if e["_org"] == ctx.org]
        if user_q:
            user = self._user_rec(user_q)
            if user is None or user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            if user["_id"] != ctx.uid and not org_q:
                raise forbidden(
                    "Please also specify organization when requesting events for a user within your organization."
                )
            items = [e for e in items if e["_host"] == user["_id"]]
        if group_q:
            if not org_q:
                raise forbidden(
                    "Please also specify organization when requesting events for a group within your organization."
                )
            group = self.groups.get(self.uuid_of(group_q, "groups"))
            if group is None:
                raise not_found()
            items = [e for e in items if e["_host"] in group["_members"]]
        status = req.q("status")
        if status is not None:
            if status not in ("active", "canceled"):
                raise invalid("status", "must be active or canceled")
            items = [e for e in items if e["status"] == status]
        lo, hi = time_param(req, "min_start_time"), time_param(req, "max_start_time")
        if lo is not None:
            items = [e for e in items if e["_start"] >= lo]
        if hi is not None:
            items = [e for e in items if e["_start"] < hi]
        email = req.q("invitee_email")
        if email:
            with_email = {i["_event"] for i in self.invitees.values() if i["email"].lower() == email.lower()}
            items = [e for e in items if e["_id"] in with_email]
        sort = sort_param(req, ("start_time",), "start_time:asc")
        return paginate(self, req, items, sort, lambda r, f: r["_start"])

    def _h_event(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        return Response(200, {"resource": self.render(self._event_for(ctx, req.params["uuid"]))})

    def _h_invitees(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to view this event")
        items = [i for i in self.invitees.values() if i["_event"] == ev["_id"]]
        status = req.q("status")
        if status is not None:
            if status not in ("active", "canceled"):
                raise invalid("status", "must be active or canceled")
            items = [i for i in items if i["status"] == status]
        email = req.q("email")
        if email:
            items = [i for i in items if i["email"].lower() == email.lower()]
        sort = sort_param(req, ("created_at",), "created_at:asc")
        return paginate(self, req, items, sort, lambda r, f: r["_created"])

    def _h_invitee(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to view this event")
        inv = self.invitees.get(req.params["inv"])
        if inv is None or inv["_event"] != ev["_id"]:
            raise not_found()
        return Response(200, {"resource": self.render(inv)})

    def _h_cancel_event(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        ev = self._event_for(ctx, req.params["uuid"], "You are not allowed to cancel this event")
        body = json_body(req)
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise invalid("reason", "must be a string")
        if ev["status"] == "canceled":
            raise forbidden("Event is already canceled")
        now = self.now()
        if ev["_start"] < now:
            raise forbidden("Event in the past")
        for inv in [i for i in self.invitees.values() if i["_event"] == ev["_id"] and i["status"] == "active"]:
            self._cancel_invitee_locked(inv, reason, "host", ctx.user["name"], now)
            self._fire_invitee("invitee.canceled", inv, out)
        cancellation = {
            "canceled_by": ctx.user["name"],
            "reason": reason,
            "canceler_type": "host",
            "created_at": fmt_time(now),
        }
        ev.update(status="canceled", cancellation=cancellation, updated_at=fmt_time(now))
        return Response(201, {"resource": self.render(cancellation)})

    # -- no-shows --------------------------------------------------------------------------------
    def _h_create_no_show(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        body = json_body(req)
        uri = body.get("invitee")
        if not isinstance(uri, str) or not uri:
            raise invalid("invitee", "is required")
        inv = self.invitees.get(self.uuid_of(uri, "invitees"))
        if inv is None:
            raise not_found()
        self._event_for(ctx, inv["_event"])
        ns = self._mark_no_show_locked(inv, self.now())
        self._fire_invitee("invitee_no_show.created", inv, out)
        return Response(201, {"resource": self.render(ns)})

    def _no_show_for(self, ctx: Caller, uuid: str) -> dict[str, Any]:
        ns = self.no_shows.get(uuid)
        if ns is None:
            raise not_found()
        self._event_for(ctx, self.invitees[ns["_invitee"]]["_event"])
        return ns

    def _h_get_no_show(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        return Response(200, {"resource": self.render(self._no_show_for(ctx, req.params["uuid"]))})

    def _h_delete_no_show(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        ns = self._no_show_for(ctx, req.params["uuid"])
        del self.no_shows[ns["_id"]]
        inv = self.invitees[ns["_invitee"]]
        inv["no_show"] = None
        inv["updated_at"] = fmt_time(self.now())
        self._fire_invitee("invitee_no_show.deleted", inv, out)
        return Response(204)
