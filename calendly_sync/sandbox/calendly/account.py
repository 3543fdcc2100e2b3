"""The simulated account's Python API: organizations, users, groups, event types and bookings.

Why: tests, the seeding and the sandbox shape the account directly (book, cancel, reschedule,
mark a no-show) without going through HTTP, and each change fires the webhooks Calendly would
fire (``fire_webhooks=False`` to stay quiet). The HTTP routes reuse the ``*_locked`` halves, so a
booking made over the Scheduling API and one made from Python are the same record. Open slots
(a 09:00–17:00 UTC weekday grid) live here too: both the availability route and booking read them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from calendly_sync.sandbox.calendly.records import API, fmt_time, invalid, to_ts
from calendly_sync.sandbox.calendly.webhooks import Outgoing, WebhookDelivery

QUESTION_TYPES = ("string", "text", "single_select", "multi_select", "phone_number")
TRACKING_KEYS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "salesforce_uuid")


class Account(WebhookDelivery):
    """Create and change the account's records from Python, firing webhooks like Calendly."""

    # =========================================================================================
    # organizations, users, groups
    def add_organization(self, name: str) -> dict[str, Any]:
        with self.lock:
            oid = self.new_uuid()
            ts = self.now()
            rec = {
                "uri": f"{API}/organizations/{oid}",
                "name": name,
                "plan": "teams",
                "stage": "paid",
                "created_at": fmt_time(ts),
                "updated_at": fmt_time(ts),
                "_id": oid,
            }
            self.orgs[oid] = rec
            return self.render(rec)

    def add_user(
        self,
        name: str,
        email: str,
        role: str = "admin",
        *,
        org_uri: str | None = None,
        timezone_name: str = "America/New_York",
    ) -> dict[str, Any]:
        """A user in ``org_uri`` (default org). ``role``: owner | admin | user (member)."""
        if role not in ("owner", "admin", "user"):
            raise ValueError("role must be owner, admin or user")
        with self.lock:
            uid = self.new_uuid()
            org_id = self.uuid_of(org_uri, "organizations") if org_uri else self._org_id
            slug = "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c == "-") or "user"
            ts = self.now()
            rec = {
                "uri": f"{API}/users/{uid}",
                "name": name,
                "slug": slug,
                "email": email,
                "scheduling_url": f"https://calendly.com/{slug}",
                "timezone": timezone_name,
                "time_notation": "12h",
                "avatar_url": None,
                "created_at": fmt_time(ts),
                "updated_at": fmt_time(ts),
                "current_organization": f"{API}/organizations/{org_id}",
                "resource_type": "User",
                "locale": "en",
                "_id": uid,
                "_org": org_id,
                "_role": role,
            }
            self.users[uid] = rec
            return self.render(rec)

    def add_group(self, name: str, member_uris: Iterable[str]) -> dict[str, Any]:
        with self.lock:
            gid = self.new_uuid()
            rec = {
                "uri": f"{API}/groups/{gid}",
                "name": name,
                "organization": f"{API}/organizations/{self._org_id}",
                "_id": gid,
                "_members": {self.uuid_of(u, "users") for u in member_uris},
            }
            self.groups[gid] = rec
            return self.render(rec)

    # =========================================================================================
    # event types
    def add_event_type(
        self,
        name: str,
        questions: list[str | dict[str, Any]] | None = None,
        *,
        owner_uri: str | None = None,
        duration: int = 30,
        kind: str = "solo",
        active: bool = True,
        locations: list[dict[str, Any]] | None = None,
        split_name: bool = False,
        invitee_limit: int | None = None,
        slug: str | None = None,
        color: str = "#0069ff",
        description: str | None = None,
        secret: bool = False,
        fire_webhooks: bool = True,
    ) -> dict[str, Any]:
        """Create an event type. ``questions`` items are names or full custom_question dicts.

        ``split_name`` makes bookings carry first_name/last_name (null otherwise, per §5).
        """
        out: Outgoing = []
        with self.lock:
            owner = self.users[self.uuid_of(owner_uri, "users")] if owner_uri else self.users[self._admin_id]
            etid = self.new_uuid()
            ts = self.now()
            slug = slug or "-".join(name.lower().split())
            cq = []
            for pos, q in enumerate(questions or []):
                q = {"name": q} if isinstance(q, str) else dict(q)
                qtype = q.get("type", "string")
                if qtype not in QUESTION_TYPES:
                    raise ValueError(f"unknown question type {qtype}")
                cq.append(
                    {
                        "name": q["name"],
                        "type": qtype,
                        "position": q.get("position", pos),
                        "enabled": q.get("enabled", True),
                        "required": q.get("required", False),
                        "answer_choices": list(q.get("answer_choices", [])),
                        "include_other": q.get("include_other", False),
                    }
                )
            limit = invitee_limit or (1 if kind == "solo" else 10)
            rec = {
                "uri": f"{API}/event_types/{etid}",
                "name": name,
                "active": active,
                "booking_method": "instant",
                "slug": slug,
                "scheduling_url": f"https://calendly.com/{owner['slug']}/{slug}",
                "duration": duration,
                "duration_options": None,
                "kind": kind,
                "pooling_type": None,
                "type": "StandardEventType",
                "color": color,
                "created_at": fmt_time(ts),
                "updated_at": fmt_time(ts),
                "internal_note": None,
                "is_paid": False,
                "description_plain": description or name,
                "description_html": f"<p>{html.escape(description or name)}</p>",
                "profile": {"type": "User", "name": owner["name"], "owner": owner["uri"]},
                "secret": secret,
                "deleted_at": None,
                "admin_managed": False,
                "locations": locations or [{"kind": "zoom_conference"}],
                "position": len(self.event_types),
                "locale": "en",
                "custom_questions": cq,
                "start_time_increment": 30 if duration <= 30 else 60,
                "before_buffer": 0,
                "after_buffer": 0,
                "_id": etid,
                "_owner": owner["_id"],
                "_org": owner["_org"],
                "_split_name": split_name,
                "_limit": limit,
                "_created": ts,
                "_updated": ts,
            }
            self.event_types[etid] = rec
            if fire_webhooks:
                self._fire_event_type("event_type.created", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    def update_event_type(self, uri: str, *, fire_webhooks: bool = True, **changes: Any) -> dict[str, Any]:
        out: Outgoing = []
        with self.lock:
            rec = self.event_types[self.uuid_of(uri, "event_types")]
            for key, value in changes.items():
                if key.startswith("_") or key in ("uri", "created_at"):
                    raise ValueError(f"cannot change {key}")
                rec[key] = value
            ts = self.now()
            rec["updated_at"], rec["_updated"] = fmt_time(ts), ts
            if fire_webhooks:
                self._fire_event_type("event_type.updated", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    def delete_event_type(self, uri: str, *, fire_webhooks: bool = True) -> dict[str, Any]:
        out: Outgoing = []
        with self.lock:
            rec = self.event_types[self.uuid_of(uri, "event_types")]
            ts = self.now()
            rec.update(active=False, deleted_at=fmt_time(ts), updated_at=fmt_time(ts), _updated=ts)
            if fire_webhooks:
                self._fire_event_type("event_type.deleted", rec, out)
            result = self.render(rec)
        self._send(out)
        return result

    # =========================================================================================
    # bookings
    def book(
        self,
        event_type_uri: str,
        email: str,
        name: str,
        start_time: datetime | str | float,
        *,
        questions_and_answers: list[dict[str, Any]] | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        tracking: dict[str, Any] | None = None,
        text_reminder_number: str | None = None,
        timezone: str | None = "America/New_York",
        fire_webhooks: bool = True,
        scheduling_method: str | None = None,
        event_uri: str | None = None,
        created_at: datetime | str | float | None = None,
        payment: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
        event_guests: list[str] | None = None,
        invitee_scheduled_by: str | None = None,
    ) -> dict[str, Any]:
        """Book (no availability check: tests need freedom). Group types join an open event at the slot."""
        out: Outgoing = []
        with self.lock:
            inv = self._book_locked(
                event_type_uri,
                email,
                name,
                to_ts(start_time),
                questions_and_answers=questions_and_answers,
                first_name=first_name,
                last_name=last_name,
                tracking=tracking,
                text_reminder_number=text_reminder_number,
                tz=timezone,
                scheduling_method=scheduling_method,
                event_uri=event_uri,
                created=to_ts(created_at) if created_at is not None else None,
                payment=payment,
                location=location,
                event_guests=event_guests,
                invitee_scheduled_by=invitee_scheduled_by,
            )
            if fire_webhooks:
                self._fire_invitee("invitee.created", inv, out)
            result = self.render(inv)
        self._send(out)
        return result

    def _book_locked(
        self,
        event_type_uri: str,
        email: str,
        name: str,
        start: float,
        *,
        questions_and_answers: list[dict[str, Any]] | None,
        first_name: str | None,
        last_name: str | None,
        tracking: dict[str, Any] | None,
        text_reminder_number: str | None,
        tz: str | None,
        scheduling_method: str | None,
        event_uri: str | None,
        created: float | None,
        payment: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
        event_guests: list[str] | None = None,
        old_invitee: str | None = None,
        invitee_scheduled_by: str | None = None,
    ) -> dict[str, Any]:
        et = self.event_types[self.uuid_of(event_type_uri, "event_types")]
        ts = created if created is not None else self.now()
        event = None
        if event_uri:
            event = self.events[self.uuid_of(event_uri, "scheduled_events")]
        elif et["kind"] == "group":
            for ev in self.events.values():
                if (
                    ev["_event_type"] == et["_id"]
                    and ev["_start"] == start
                    and ev["status"] == "active"
                    and ev["invitees_counter"]["active"] < ev["invitees_counter"]["limit"]
                ):
                    event = ev
                    break
        if event is None:
            event = self._new_event(
                et, start, ts, location=location, invitee_phone=text_reminder_number, event_guests=event_guests
            )
        if et["_split_name"]:
            if first_name is None and last_name is None:
                first_name, _, last_name = name.partition(" ")
                last_name = last_name or None
        else:
            first_name = last_name = None
        iid = self.new_uuid()
        full_tracking = dict.fromkeys(TRACKING_KEYS)
        full_tracking.update(tracking or {})
        inv = {
            "uri": f"{event['uri']}/invitees/{iid}",
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "name": name,
            "status": "active",
            "questions_and_answers": [
                {"question": qa["question"], "answer": qa["answer"], "position": qa.get("position", i)}
                for i, qa in enumerate(questions_and_answers or [])
            ],
            "timezone": tz,
            "event": event["uri"],
            "created_at": fmt_time(ts),
            "updated_at": fmt_time(ts),
            "tracking": full_tracking,
            "text_reminder_number": text_reminder_number,
            "rescheduled": False,
            "old_invitee": old_invitee,
            "new_invitee": None,
            "cancel_url": f"https://calendly.com/cancellations/{iid}",
            "reschedule_url": f"https://calendly.com/reschedulings/{iid}",
            "routing_form_submission": None,
            "payment": payment,
            "no_show": None,
            "reconfirmation": None,
            "scheduling_method": scheduling_method,
            "invitee_scheduled_by": invitee_scheduled_by,
            "_id": iid,
            "_event": event["_id"],
            "_created": ts,
        }
        self.invitees[iid] = inv
        counter = event["invitees_counter"]
        counter["total"] += 1
        counter["active"] += 1
        event["updated_at"] = fmt_time(max(ts, event["_created"]))
        return inv

    def _new_event(
        self,
        et: dict[str, Any],
        start: float,
        created: float,
        *,
        location: dict[str, Any] | None = None,
        invitee_phone: str | None = None,
        event_guests: list[str] | None = None,
    ) -> dict[str, Any]:
        host = self.users[et["_owner"]]
        eid = self.new_uuid()
        end = start + et["duration"] * 60
        kind = (location or {}).get("kind") or (et["locations"][0]["kind"] if et["locations"] else "ask_invitee")
        loc: dict[str, Any]
        if kind == "zoom_conference":
            mid = self.rng.randrange(10**10, 10**11)
            loc = {
                "type": "zoom",
                "status": "pushed",
                "join_url": f"https://us06web.zoom.us/j/{mid}",
                "data": {"id": mid},
            }
        elif kind == "google_conference":
            code = "-".join("".join(self.rng.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(n)) for n in (3, 4, 3))
            loc = {
                "type": "google_conference",
                "status": "pushed",
                "join_url": f"https://meet.google.com/{code}",
                "data": {},
            }
        elif kind == "microsoft_teams_conference":
            loc = {
                "type": "microsoft_teams_conference",
                "status": "pushed",
                "join_url": f"https://teams.microsoft.com/l/meetup-join/{eid}",
                "data": {},
            }
        elif kind == "outbound_call":
            loc = {"type": "outbound_call", "location": (location or {}).get("location") or invitee_phone}
        else:
            default = next((option.get("location") for option in et["locations"] if option.get("kind") == kind), None)
            loc = {"type": kind, "location": (location or {}).get("location") or default}
        ev = {
            "uri": f"{API}/scheduled_events/{eid}",
            "name": et["name"],
            "meeting_notes_plain": None,
            "meeting_notes_html": None,
            "status": "active",
            "start_time": fmt_time(start),
            "end_time": fmt_time(end),
            "event_type": et["uri"],
            "location": loc,
            "invitees_counter": {"total": 0, "active": 0, "limit": et["_limit"]},
            "created_at": fmt_time(created),
            "updated_at": fmt_time(created),
            "event_memberships": [{"user": host["uri"], "user_email": host["email"], "user_name": host["name"]}],
            "event_guests": [
                {"email": g, "created_at": fmt_time(created), "updated_at": fmt_time(created)}
                for g in event_guests or []
            ],
            "calendar_event": {"kind": "google", "external_id": f"{self.rng.getrandbits(80):020x}"},
            "_id": eid,
            "_event_type": et["_id"],
            "_host": host["_id"],
            "_org": et["_org"],
            "_start": start,
            "_created": created,
        }
        self.events[eid] = ev
        return ev

    def _invitee_rec(self, invitee_uri: str) -> dict[str, Any]:
        iid = self.uuid_of(invitee_uri, "invitees")
        if iid not in self.invitees:
            raise KeyError(f"unknown invitee {invitee_uri}")
        return self.invitees[iid]

    def cancel(
        self,
        invitee_uri: str,
        reason: str | None = None,
        canceler_type: str = "invitee",
        *,
        fire_webhooks: bool = True,
        canceled_by: str | None = None,
        at: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Cancel one invitee (a solo event is canceled with it). Returns the invitee."""
        out: Outgoing = []
        with self.lock:
            inv = self._invitee_rec(invitee_uri)
            if inv["status"] == "canceled":
                raise ValueError("invitee already canceled")
            ts = to_ts(at) if at is not None else self.now()
            ev = self.events[inv["_event"]]
            if canceled_by is None:
                canceled_by = inv["name"] if canceler_type == "invitee" else self.users[ev["_host"]]["name"]
            self._cancel_invitee_locked(inv, reason, canceler_type, canceled_by, ts)
            if fire_webhooks:
                self._fire_invitee("invitee.canceled", inv, out)
            result = self.render(inv)
        self._send(out)
        return result

    def _cancel_invitee_locked(
        self, inv: dict[str, Any], reason: str | None, canceler_type: str, canceled_by: str, ts: float
    ) -> None:
        cancellation = {
            "canceled_by": canceled_by,
            "reason": reason,
            "canceler_type": canceler_type,
            "created_at": fmt_time(ts),
        }
        inv.update(status="canceled", cancellation=cancellation, updated_at=fmt_time(ts))
        ev = self.events[inv["_event"]]
        ev["invitees_counter"]["active"] -= 1
        ev["updated_at"] = fmt_time(ts)
        if ev["invitees_counter"]["limit"] == 1 and ev["status"] == "active":
            ev["status"] = "canceled"
            ev["cancellation"] = dict(cancellation)

    def reschedule(
        self,
        invitee_uri: str,
        new_start_time: datetime | str | float,
        *,
        fire_webhooks: bool = True,
        at: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """The documented pair: old invitee canceled+rescheduled→new_invitee; new invitee on a NEW event."""
        out: Outgoing = []
        with self.lock:
            old = self._invitee_rec(invitee_uri)
            if old["status"] != "active":
                raise ValueError("only active invitees can be rescheduled")
            ts = to_ts(at) if at is not None else self.now()
            old_ev = self.events[old["_event"]]
            et = self.event_types[old_ev["_event_type"]]
            new = self._book_locked(
                et["uri"],
                old["email"],
                old["name"],
                to_ts(new_start_time),
                questions_and_answers=old["questions_and_answers"],
                first_name=old["first_name"],
                last_name=old["last_name"],
                tracking=old["tracking"],
                text_reminder_number=old["text_reminder_number"],
                tz=old["timezone"],
                scheduling_method=old["scheduling_method"],
                event_uri=None,
                created=ts,
                payment=old["payment"],
                old_invitee=old["uri"],
            )
            self._cancel_invitee_locked(old, None, "invitee", old["name"], ts)
            old.update(rescheduled=True, new_invitee=new["uri"])
            if fire_webhooks:
                self._fire_invitee("invitee.canceled", old, out)
                self._fire_invitee("invitee.created", new, out)
            result = self.render(new)
        self._send(out)
        return result

    def mark_no_show(
        self, invitee_uri: str, *, fire_webhooks: bool = True, at: datetime | str | float | None = None
    ) -> dict[str, Any]:
        out: Outgoing = []
        with self.lock:
            ns = self._mark_no_show_locked(self._invitee_rec(invitee_uri), to_ts(at) if at is not None else self.now())
            if fire_webhooks:
                self._fire_invitee("invitee_no_show.created", self.invitees[ns["_invitee"]], out)
            result = self.render(ns)
        self._send(out)
        return result

    def _mark_no_show_locked(self, inv: dict[str, Any], ts: float) -> dict[str, Any]:
        if inv["no_show"] is not None:
            raise invalid("invitee", "Invitee is already marked as no-show")
        nid = self.new_uuid()
        ns = {
            "uri": f"{API}/invitee_no_shows/{nid}",
            "invitee": inv["uri"],
            "created_at": fmt_time(ts),
            "_id": nid,
            "_invitee": inv["_id"],
        }
        self.no_shows[nid] = ns
        inv["no_show"] = {"uri": ns["uri"], "created_at": ns["created_at"]}
        inv["updated_at"] = fmt_time(ts)
        return ns

    def unmark_no_show(self, no_show_uri: str, *, fire_webhooks: bool = True) -> None:
        out: Outgoing = []
        with self.lock:
            ns = self.no_shows.pop(self.uuid_of(no_show_uri, "invitee_no_shows"))
            inv = self.invitees[ns["_invitee"]]
            inv["no_show"] = None
            inv["updated_at"] = fmt_time(self.now())
            if fire_webhooks:
                self._fire_invitee("invitee_no_show.deleted", inv, out)
        self._send(out)

    # =========================================================================================
    # open slots
    def _slots(self, et: dict[str, Any], start: float, end: float) -> list[tuple[float, int]]:
        """Open slots (start, remaining) on a 09:00–17:00 UTC weekday grid."""
        step = et["start_time_increment"] * 60
        dur = et["duration"] * 60
        now = self.now()
        t = math.ceil(start / step) * step
        result = []
        while t < end:
            dt = datetime.fromtimestamp(t, UTC)
            day_start = dt.replace(hour=9, minute=0, second=0, microsecond=0).timestamp()
            day_end = dt.replace(hour=17, minute=0, second=0, microsecond=0).timestamp()
            if dt.weekday() < 5 and day_start <= t and t + dur <= day_end and t >= now:
                remaining = self._remaining(et, t)
                if remaining > 0:
                    result.append((float(t), remaining))
            t += step
        return result

    def _remaining(self, et: dict[str, Any], t: float) -> int:
        dur = et["duration"] * 60
        for ev in self.events.values():
            if ev["status"] != "active" or ev["_host"] != et["_owner"]:
                continue
            ev_end = ev["_start"] + (to_ts(ev["end_time"]) - to_ts(ev["start_time"]))
            if ev["_start"] < t + dur and t < ev_end:
                if et["kind"] == "group" and ev["_event_type"] == et["_id"] and ev["_start"] == t:
                    return int(ev["invitees_counter"]["limit"] - ev["invitees_counter"]["active"])
                return 0
        return int(et["_limit"])
