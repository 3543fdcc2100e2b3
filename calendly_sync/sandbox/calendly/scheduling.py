"""The Scheduling API: ``POST /invitees`` (book an open time) and ``POST /scheduling_links``.

Why: booking over the API validates what Calendly validates (time zone, required answers, exact
question text, answers from a select's choices, phone answers, full tracking, guests, location
kind, an open slot) and books the same record a Python ``book`` would, with
``scheduling_method: "api"``. Bookings are counted against the endpoint's own quotas per user and
billing tier (developer.calendly.com/api-docs/overview/rate-limits: trial 5 a day; paid
non-Enterprise 10 a minute, 50 an hour and 100 a day; Enterprise 500 a minute): past one, a ``429``
with ``X-RateLimit-*`` headers whose ``X-RateLimit-Reset`` says when the oldest counted call leaves
the exceeded window. Calendly documents no ``Retry-After``, so none is sent.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calendly_sync.sandbox.calendly.account import TRACKING_KEYS, Account
from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.paging import json_body
from calendly_sync.sandbox.calendly.records import ApiError, forbidden, invalid, not_found, to_ts
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response

#: (window in seconds, requests allowed in it) per billing tier, for ``POST /invitees``.
INVITEE_QUOTAS: dict[str, tuple[tuple[int, int], ...]] = {
    "trial": ((86400, 5),),
    "paid": ((60, 10), (3600, 50), (86400, 100)),
    "enterprise": ((60, 500),),
}
_WINDOW_NAMES = {60: "minute", 3600: "hour", 86400: "day"}
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,24}$")


class SchedulingRoutes(Account):
    """Handlers for the Scheduling API."""

    invitee_tier: str | None
    _invitee_calls: dict[str, deque[float]]

    def _invitee_quota(self, uid: str) -> None:
        """Count this ``POST /invitees`` for the user, or refuse it (429) when a window is full."""
        windows = INVITEE_QUOTAS.get(self.invitee_tier or "", ())
        if not windows:
            return
        now = self.now()
        calls = self._invitee_calls.setdefault(uid, deque())
        longest = max(w for w, _ in windows)
        while calls and calls[0] <= now - longest:
            calls.popleft()
        for window, limit in windows:
            recent = [t for t in calls if t > now - window]
            if len(recent) >= limit:
                reset = max(1, math.ceil(recent[len(recent) - limit] + window - now))
                raise ApiError(
                    429,
                    "Too Many Requests",
                    f"You have exceeded the Create Event Invitee limit of {limit} requests per user per "
                    f"{_WINDOW_NAMES.get(window, f'{window} s')}. Retry after the reset.",
                    headers={
                        "X-RateLimit-Limit": str(limit),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(reset),
                    },
                )
        calls.append(now)

    @staticmethod
    def _check_answer(question: dict[str, Any], answer: Any) -> None:
        """Calendly refuses an answer outside a select's choices and a phone answer that is no number."""
        name, kind = question["name"], question["type"]
        if not isinstance(answer, str):
            raise invalid("questions_and_answers", f"answer for {name} must be a string")
        if question["required"] and not answer.strip():
            raise invalid("questions_and_answers", f"answer required for {name}")
        choices = question.get("answer_choices") or []
        if kind in ("single_select", "multi_select") and choices and not question.get("include_other"):
            picked = [part for part in answer.split("\n") if part] if kind == "multi_select" else [answer]
            wrong = [part for part in picked if part not in choices]
            if wrong:
                raise invalid("questions_and_answers", f"answer for {name} must be one of {', '.join(choices)}")
        if kind == "phone_number" and answer.strip() and not _PHONE.match(answer.strip()):
            raise invalid("questions_and_answers", f"answer for {name} must be a valid phone number")

    def _h_create_invitee(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        self._invitee_quota(ctx.uid)
        body = json_body(req)
        et_uri, start_raw, invitee = body.get("event_type"), body.get("start_time"), body.get("invitee")
        if not et_uri:
            raise invalid("event_type", "is required")
        if not start_raw:
            raise invalid("start_time", "is required")
        if not isinstance(invitee, dict):
            raise invalid("invitee", "is required")
        et = self.event_types.get(self.uuid_of(str(et_uri), "event_types"))
        if et is None or et["deleted_at"] is not None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        try:
            start = to_ts(str(start_raw))
        except ValueError:
            raise invalid("start_time", "must be a valid UTC timestamp") from None
        email = invitee.get("email")
        if not email or "@" not in str(email):
            raise invalid("invitee.email", "is required and must be a valid email")
        tz = invitee.get("timezone")
        if not tz:
            raise invalid("invitee.timezone", "is required")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("invitee.timezone", "must be a valid IANA time zone") from None
        name = invitee.get("name")
        first, last = invitee.get("first_name"), invitee.get("last_name")
        if not name and not first:
            raise invalid("invitee.name", "name or first_name is required")
        name = name or " ".join(p for p in (first, last) if p)
        qas = body.get("questions_and_answers") or []
        names = {q["name"]: q for q in et["custom_questions"] if q["enabled"]}
        if not isinstance(qas, list):
            raise invalid("questions_and_answers", "must be a list")
        answered = set()
        for qa in qas:
            if not isinstance(qa, dict) or qa.get("question") not in names:
                raise invalid(
                    "questions_and_answers", f"unknown question {qa.get('question') if isinstance(qa, dict) else qa!r}"
                )
            self._check_answer(names[qa["question"]], qa.get("answer"))
            answered.add(qa["question"])
        for qname, q in names.items():
            if q["required"] and qname not in answered:
                raise invalid("questions_and_answers", f"answer required for {qname}")
        tracking = body.get("tracking")
        if tracking is not None and (not isinstance(tracking, dict) or set(TRACKING_KEYS) - set(tracking)):
            raise invalid("tracking", f"must include all of {', '.join(TRACKING_KEYS)}")
        guests = body.get("event_guests") or []
        if not isinstance(guests, list) or len(guests) > 10:
            raise invalid("event_guests", "at most 10 guests are allowed")
        location = body.get("location")
        if location is not None:
            kinds = {option["kind"] for option in et["locations"]}
            if not isinstance(location, dict) or location.get("kind") not in kinds:
                raise invalid("location.kind", f"must be one of {', '.join(sorted(kinds))}")
        if not any(abs(t - start) < 1 for t, _ in self._slots(et, start - 1, start + 1)):
            raise invalid("start_time", "The selected time is not available")
        inv = self._book_locked(
            et["uri"],
            str(email),
            str(name),
            start,
            questions_and_answers=qas,
            first_name=first,
            last_name=last,
            tracking=tracking,
            text_reminder_number=invitee.get("text_reminder_number"),
            tz=str(tz),
            scheduling_method="api",
            event_uri=None,
            created=None,
            location=location,
            event_guests=guests,
        )
        self._fire_invitee("invitee.created", inv, out)
        return Response(201, {"resource": self.render(inv)})

    def _h_scheduling_link(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        body = json_body(req)
        for name in ("max_event_count", "owner", "owner_type"):
            if body.get(name) in (None, ""):
                raise invalid(name, "is required")
        if body["max_event_count"] != 1:
            raise invalid("max_event_count", "must be 1")
        if body["owner_type"] != "EventType":
            raise invalid("owner_type", "must be EventType")
        et = self.event_types.get(self.uuid_of(str(body["owner"]), "event_types"))
        if et is None:
            raise not_found()
        if et["_org"] != ctx.org:
            raise forbidden()
        code = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        link = {
            "booking_url": f"https://calendly.com/d/{code[:4]}-{code[4:]}/{et['slug']}",
            "owner": et["uri"],
            "owner_type": "EventType",
        }
        self.scheduling_links.append(link)
        return Response(201, {"resource": self.render(link)})
