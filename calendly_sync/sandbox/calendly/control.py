"""The ``/_sim/`` control API (no auth): book, cancel, reschedule, no-show and state, over HTTP.

Why: the sandbox and the browser tests drive the simulated account from outside the process (a
shell, another server), so the Python API's main moves are exposed as plain JSON routes; their
errors are ``400 {"message": ...}``, not Calendly's shape, because no real client ever sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calendly_sync.sandbox.calendly.account import Account
from calendly_sync.sandbox.calendly.records import ApiError
from calendly_sync.sandbox.httpbase import Request, Response


class ControlRoutes(Account):
    """Handlers for ``/_sim/...``."""

    def _sim_json(self, req: Request) -> dict[str, Any]:
        try:
            data = req.json() or {}
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def _h_sim_book(self, req: Request) -> Response:
        data = self._sim_json(req)
        if not data.get("email") or not data.get("name"):
            return Response(400, {"message": "email and name are required"})
        with self.lock:
            et_uri = data.get("event_type") or next(
                (et["uri"] for et in sorted(self.event_types.values(), key=lambda e: e["_created"]) if et["active"]),
                None,
            )
        if not et_uri:
            return Response(400, {"message": "no active event type; add one first"})
        start = data.get("start_time") or (
            datetime.fromtimestamp(self.now(), UTC).replace(hour=10, minute=0, second=0, microsecond=0)
            + timedelta(days=1)
        )
        try:
            inv = self.book(
                et_uri,
                data["email"],
                data["name"],
                start,
                questions_and_answers=data.get("questions_and_answers"),
                first_name=data.get("first_name"),
                last_name=data.get("last_name"),
                tracking=data.get("tracking"),
                text_reminder_number=data.get("text_reminder_number"),
                timezone=data.get("timezone", "America/New_York"),
            )
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(201, {"resource": inv})

    def _h_sim_cancel(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            inv = self.cancel(data["invitee"], data.get("reason"), data.get("canceler_type", "invitee"))
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, {"resource": inv})

    def _h_sim_reschedule(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            inv = self.reschedule(data["invitee"], data["start_time"])
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(201, {"resource": inv})

    def _h_sim_no_show(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            ns = self.mark_no_show(data["invitee"])
        except (KeyError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        except ApiError as exc:
            return Response(400, {"message": exc.details[0]["message"] if exc.details else exc.message})
        return Response(201, {"resource": ns})

    def _h_sim_state(self, req: Request) -> Response:
        with self.lock:
            return Response(
                200,
                {
                    "users": len(self.users),
                    "event_types": len(self.event_types),
                    "scheduled_events": len(self.events),
                    "invitees": len(self.invitees),
                    "no_shows": len(self.no_shows),
                    "webhook_subscriptions": len(self.subscriptions),
                    "outbox": len(self.outbox),
                    "deliveries": len(self.deliveries),
                    "token_requests": dict(self.token_requests),
                },
            )
