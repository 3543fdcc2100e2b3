"""Automation events: ``POST /v3/events``, ``/v3/events/batch`` and ``GET /v3/events``.

Why: the connector sends an event per booking change for Brevo automations; the simulator checks
names, identifiers (``contact_id`` wins over the others), dates and property sizes as documented,
applies ``contact_properties`` to a known contact, stores events for unknown contacts without
creating one, and answers a batch with 202, 207 (some failed) or 400 (all failed).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from typing import Any

from calendly_sync.sandbox.brevo.contacts import Contacts
from calendly_sync.sandbox.brevo.records import Reply, now_iso, phone_key
from calendly_sync.sandbox.httpbase import Request, Response

EVENT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
EVENT_IDENTIFIER_KEYS = ("email_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id", "contact_id")
EVENT_PROPERTIES_MAX_BYTES = 50 * 1024
EVENTS_BATCH_MAX = 1000  # UNCONFIRMED upstream; a simulator choice


class Events(Contacts):
    """Event validation, storage and the event routes."""

    def _validate_event(self, event: Any) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        """Check one event; returns (stored record, contact, contact changes). Raises Reply."""
        if not isinstance(event, dict):
            raise Reply(400, "invalid_parameter", "event should be type object")
        name = event.get("event_name")
        if name is None or name == "":
            raise Reply(400, "missing_parameter", "event_name is required")
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
            raise Reply(
                400,
                "invalid_parameter",
                "event_name must be 1-255 characters: only alphanumeric characters, hyphens (-) and underscores (_) "
                "are allowed",
            )
        identifiers = event.get("identifiers")
        if not isinstance(identifiers, dict) or not identifiers:
            raise Reply(400, "missing_parameter", "identifiers is required with at least one identifier")
        for key, value in identifiers.items():
            if key not in EVENT_IDENTIFIER_KEYS:
                raise Reply(400, "invalid_parameter", f"identifiers.{key} is not a valid identifier")
            if key == "contact_id":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise Reply(400, "invalid_parameter", "identifiers.contact_id should be type integer")
            elif not isinstance(value, str) or not value.strip():
                raise Reply(400, "invalid_parameter", f"identifiers.{key} should be a non-empty string")
        if "email_id" in identifiers:
            self._valid_email(identifiers["email_id"])
        event_date = event.get("event_date")
        if event_date is not None:
            try:
                if not isinstance(event_date, str):
                    raise ValueError
                datetime.fromisoformat(event_date.replace("Z", "+00:00"))
            except ValueError:
                raise Reply(400, "invalid_parameter", "event_date must be an ISO-8601 date-time") from None
        contact_props = event.get("contact_properties") or {}
        if not isinstance(contact_props, dict):
            raise Reply(400, "invalid_parameter", "contact_properties should be type object")
        for key, value in contact_props.items():
            if not isinstance(value, (str, int, bool)) or isinstance(value, float):
                raise Reply(400, "invalid_parameter", f"contact_properties.{key} must be a string, integer or boolean")
        event_props = event.get("event_properties") or {}
        if not isinstance(event_props, dict):
            raise Reply(400, "invalid_parameter", "event_properties should be type object")
        for key in event_props:
            if not EVENT_NAME_RE.match(key):
                raise Reply(
                    400,
                    "invalid_parameter",
                    f"event_properties key {key!r}: only alphanumeric characters, hyphens (-) and underscores (_) "
                    "are allowed, max 255",
                )
        if len(json.dumps(event_props).encode("utf-8")) > EVENT_PROPERTIES_MAX_BYTES:
            raise Reply(400, "invalid_parameter", "event_properties exceeds the 50KB limit")

        contact = self._event_contact(identifiers)
        changes = (
            self._prepare(contact, {"attributes": contact_props}, verb="update") if contact and contact_props else None
        )
        record = {
            "event_name": name,
            "event_date": event_date or now_iso(),
            "identifiers": copy.deepcopy(identifiers),
            "contact_id": contact["id"] if contact else None,
            "contact_properties": copy.deepcopy(contact_props),
            "event_properties": copy.deepcopy(event_props),
        }
        return record, contact, changes

    def _event_contact(self, identifiers: dict[str, Any]) -> dict[str, Any] | None:
        if "contact_id" in identifiers:  # documented: takes priority over every other identifier
            return self.contacts.get(identifiers["contact_id"])
        if "email_id" in identifiers:
            return self._by_email(identifiers["email_id"].strip().lower())
        if "ext_id" in identifiers:
            return self._by_ext_id(identifiers["ext_id"])
        if "phone_id" in identifiers:
            key = phone_key(identifiers["phone_id"])
            return self._by_phone(key) if key else None
        return None

    def _store_event(
        self, record: dict[str, Any], contact: dict[str, Any] | None, changes: dict[str, Any] | None
    ) -> None:
        if contact is not None and changes is not None:
            self._apply(contact, changes)
        self._ids["event"] += 1
        self.events.append({"id": self._ids["event"], **record, "received_at": now_iso()})

    def _post_event(self, req: Request) -> Response:
        self._store_event(*self._validate_event(self._object_body(req)))
        return Response(204)

    def _post_events_batch(self, req: Request) -> Response:
        body = self._object_body(req)
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise Reply(400, "missing_parameter", "events is required and must be a non-empty array")
        if len(events) > EVENTS_BATCH_MAX:
            raise Reply(400, "out_of_range", f"events should NOT have more than {EVENTS_BATCH_MAX} items")
        errors: dict[str, list[int]] = {}
        accepted = 0
        for i, event in enumerate(events):
            try:
                self._store_event(*self._validate_event(event))
                accepted += 1
            except Reply as reply:
                errors.setdefault(reply.message, []).append(i)
        if not errors:
            return Response(202, {"message": "Events accepted for processing", "count": accepted})
        if not accepted:
            first = next(iter(errors))
            raise Reply(400, "invalid_parameter", first)
        return Response(
            207,
            {
                "status": "partial_success",
                "total_events": len(events),
                "successful_events": accepted,
                "failed_events": len(events) - accepted,
                "errors": [{"eventIndex": idx, "message": msg} for msg, idx in errors.items()],
            },
        )

    def _get_events(self, req: Request) -> Response:
        limit = self._int_query(req, "limit", 100, 10000)
        offset = self._int_query(req, "offset", 0)
        selected = list(self.events)
        if req.q("event_name"):
            selected = [e for e in selected if e["event_name"] == req.q("event_name")]
        if req.q("contact_id"):
            cid = self._int_param(req.q("contact_id") or "", "contact_id")
            selected = [e for e in selected if e["contact_id"] == cid]
        return Response(200, {"events": copy.deepcopy(selected[offset : offset + limit]), "count": len(selected)})
