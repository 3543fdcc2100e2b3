"""``GET /event_types``, ``/event_types/{uuid}`` and ``/event_type_available_times``.

Why: the connector lists event types to map them, and the Scheduling API books only open times;
availability is bounded by ``max_available_days`` (31 by default, as documented).
"""

from __future__ import annotations

from datetime import UTC, datetime

from calendly_sync.sandbox.calendly.account import Account
from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.paging import bool_param, paginate, sort_param, time_param
from calendly_sync.sandbox.calendly.records import fmt_time, forbidden, invalid, not_found
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response


class EventTypeRoutes(Account):
    """Handlers for event types and their available times."""

    max_available_days: int

    def _h_event_types(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        user_q, org_q = req.q("user"), req.q("organization")
        if not user_q and not org_q:
            raise invalid("organization", "one of user or organization is required")
        items = [et for et in self.event_types.values() if et["deleted_at"] is None]
        if org_q:
            if self.uuid_of(org_q, "organizations") != ctx.org:
                raise forbidden()
            items = [et for et in items if et["_org"] == ctx.org]
        if user_q:
            user = self._user_rec(user_q)
            if user is None or user["_org"] != ctx.org:
                raise forbidden("This user is not in your organization")
            items = [et for et in items if et["_owner"] == user["_id"]]
        active = bool_param(req, "active")
        if active is not None:
            items = [et for et in items if et["active"] == active]
        sort = sort_param(req, ("name", "position", "created_at", "updated_at"), "name:asc")
        keymap = {"created_at": "_created", "updated_at": "_updated"}
        return paginate(self, req, items, sort, lambda r, f: r[keymap.get(f, f)])

    def _h_event_type(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        et = self.event_types.get(req.params["uuid"])
        if et is None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        return Response(200, {"resource": self.render(et)})

    def _h_available_times(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        for name in ("event_type", "start_time", "end_time"):
            if not req.q(name):
                raise invalid(name, "is required")
        et = self.event_types.get(self.uuid_of(req.q("event_type") or "", "event_types"))
        if et is None:
            raise not_found()
        start, end = time_param(req, "start_time"), time_param(req, "end_time")
        assert start is not None and end is not None
        if start < self.now() - 60:
            raise invalid("start_time", "must be in the future")
        if end <= start:
            raise invalid("end_time", "must be after start_time")
        if end - start > self.max_available_days * 86400:
            raise invalid("end_time", f"date range can be no greater than {self.max_available_days} days")
        owner = self.users[et["_owner"]]
        collection = []
        for t, remaining in self._slots(et, start, end):
            day = datetime.fromtimestamp(t, UTC)
            collection.append(
                {
                    "status": "available",
                    "invitees_remaining": remaining,
                    "start_time": fmt_time(t),
                    "scheduling_url": f"https://calendly.com/{owner['slug']}/{et['slug']}/"
                    f"{day.strftime('%Y-%m-%dT%H:%M:%SZ')}?month={day.strftime('%Y-%m')}&date={day.strftime('%Y-%m-%d')}",
                }
            )
        return Response(200, {"collection": collection})
