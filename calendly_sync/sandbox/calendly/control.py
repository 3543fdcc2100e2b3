"""The ``/_sim/`` control API (no auth): book, cancel, reschedule, no-show and state, over HTTP.

``/_sim/cancel``, ``/_sim/reschedule`` and ``/_sim/no_show`` take ``{"invitee": <invitee URI>}``;
``/_sim/reschedule`` also takes ``start_time`` (default: the same time the next day).
``/_sim/book_link`` books through a single-use scheduling link as an invitee opening it would:
``{"url": <booking URL with its query>, optional "start_time", "name", "email"}``.

Why: the sandbox and the browser tests drive the simulated account from outside the process (a
shell, another server), so the Python API's main moves are exposed as plain JSON routes; their
errors are ``400 {"message": ...}``, not Calendly's shape, because no real client ever sees them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from calendly_sync.sandbox.calendly.account import TRACKING_KEYS, Account
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

    def book_link(
        self, url: str, *, start_time: datetime | str | None = None, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """Book through a scheduling link as its booking page would: the invitee's name and email from
        the URL's prefill (or given), its ``utm_*`` and ``salesforce_uuid`` recorded as the booking's
        ``tracking``; a single-use link books once (``ValueError`` the second time)."""
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
        base = f"{parts.scheme}://{parts.netloc}{parts.path}"
        with self.lock:
            link = next((item for item in self.scheduling_links if item["booking_url"] == base), None)
            if link is None:
                raise ValueError(f"no scheduling link {base}")
            if link.get("_booked", 0) >= 1:
                raise ValueError("this single-use link has already been used")
            link["_booked"] = link.get("_booked", 0) + 1
        email = email or params.get("email")
        name = (
            name or params.get("name") or " ".join(p for p in (params.get("first_name"), params.get("last_name")) if p)
        )
        if not email or not name:
            raise ValueError("the link has no prefilled name and email: give them")
        tracking = {key: params[key] for key in TRACKING_KEYS if params.get(key)}
        start = start_time or (
            datetime.fromtimestamp(self.now(), UTC).replace(hour=10, minute=0, second=0, microsecond=0)
            + timedelta(days=1)
        )
        return self.book(link["owner"], email, name, start, tracking=tracking or None)

    def _h_sim_book_link(self, req: Request) -> Response:
        data = self._sim_json(req)
        if not isinstance(data.get("url"), str):
            return Response(400, {"message": "url is required: the booking URL with its query"})
        try:
            inv = self.book_link(
                data["url"], start_time=data.get("start_time"), name=data.get("name"), email=data.get("email")
            )
        except (KeyError, ValueError) as exc:
            return self._sim_error(exc)
        return Response(201, {"resource": inv})

    def _sim_invitee(self, data: dict[str, Any]) -> str:
        invitee = data.get("invitee")
        if not invitee or not isinstance(invitee, str):
            raise ValueError('invitee is required: an invitee URI, as /_sim/book answers it in "resource.uri"')
        return invitee

    @staticmethod
    def _sim_error(exc: Exception) -> Response:
        """A KeyError's text is its quoted key; answer the sentence instead."""
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return Response(400, {"message": str(message)})

    def _h_sim_cancel(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            inv = self.cancel(self._sim_invitee(data), data.get("reason"), data.get("canceler_type", "invitee"))
        except (KeyError, ValueError) as exc:
            return self._sim_error(exc)
        return Response(200, {"resource": inv})

    def _h_sim_reschedule(self, req: Request) -> Response:
        """Move an invitee; without ``start_time``, to the same time the next day."""
        data = self._sim_json(req)
        try:
            uri = self._sim_invitee(data)
            start = data.get("start_time")
            if start is None:
                with self.lock:
                    event = self.events[self._invitee_rec(uri)["_event"]]
                    start = event["_start"] + 24 * 3600
            elif isinstance(start, bool) or not isinstance(start, (str, int, float)):
                raise ValueError("start_time must be an ISO 8601 time, e.g. 2030-01-07T15:00:00Z")
            inv = self.reschedule(uri, start)
        except (KeyError, ValueError) as exc:
            return self._sim_error(exc)
        return Response(201, {"resource": inv})

    def _h_sim_no_show(self, req: Request) -> Response:
        data = self._sim_json(req)
        try:
            ns = self.mark_no_show(self._sim_invitee(data))
        except (KeyError, ValueError) as exc:
            return self._sim_error(exc)
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
