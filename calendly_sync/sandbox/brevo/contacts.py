"""Contacts: lookups by email, ext_id, phone or id; validated writes; and the ``/v3/contacts`` routes.

Why: upserts are the connector's main call and carry most of Brevo's awkward behaviour — a 201
with an id on create but an empty 204 on update, duplicate SMS numbers compared by their E.164
digits, ``ext_id`` owned by another contact, unknown or mis-typed attributes dropped silently,
invalid dates refused (``strict_dates``) or dropped, batch updates that apply all or nothing.
Every write is validated first (``_prepare``, no mutation) and applied after (``_apply``), so
imports and events reuse exactly the same rules.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

from calendly_sync.sandbox.brevo.records import BrevoRecords, Reply, now_iso, phone_key
from calendly_sync.sandbox.httpbase import Request, Response

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IDENTIFIER_TYPES = ("email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _since_query(req: Request, name: str) -> datetime | None:
    """A ``modifiedSince``-style filter: RFC 3339 with ``Z`` or an offset; a bare date or a
    date-time without a time zone is refused, as Brevo documents."""
    raw = req.q(name)
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in str(raw):
        raise Reply(
            400, "invalid_parameter", f"{name} should be a date-time with a time zone (YYYY-MM-DDTHH:mm:ss.SSSZ)"
        )
    return value


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class Contacts(BrevoRecords):
    """Contact lookups, validation and writes, and the contact routes."""

    strict_dates: bool

    # -- lookups -------------------------------------------------------------------------------
    def _by_email(self, email: str) -> dict[str, Any] | None:
        return self.contacts.find("email", email)

    def _by_ext_id(self, ext_id: str) -> dict[str, Any] | None:
        return self.contacts.find("ext_id", ext_id)

    def _by_phone(self, key: str) -> dict[str, Any] | None:
        return self.contacts.find("_sms", key)

    def _by_identifier(self, identifier: str, id_type: str | None, *, allow_phone: bool) -> dict[str, Any] | None:
        if id_type is not None and id_type not in IDENTIFIER_TYPES:
            raise Reply(400, "invalid_parameter", "identifierType is not valid")
        if id_type == "email_id" or (id_type is None and "@" in identifier):
            return self._by_email(identifier.strip().lower())
        if id_type == "contact_id" or (id_type is None and identifier.isdigit()):
            found = self.contacts.get(int(identifier)) if identifier.isdigit() else None
            if found is None and id_type is None and allow_phone:
                key = phone_key(identifier)
                return self._by_phone(key) if key else None
            return found
        if id_type == "ext_id":
            return self._by_ext_id(identifier)
        if id_type == "phone_id" or (id_type is None and allow_phone):
            key = phone_key(identifier)
            return self._by_phone(key) if key else None
        return None  # whatsapp/landline identifiers are not stored by the simulator

    def _contact_view(self, c: dict[str, Any]) -> dict[str, Any]:
        attrs = copy.deepcopy(c["attributes"])
        if c["ext_id"] is not None:
            attrs["EXT_ID"] = c["ext_id"]
        view: dict[str, Any] = {"id": c["id"]}
        if c["email"] is not None:
            view["email"] = c["email"]
        view.update(
            emailBlacklisted=c["emailBlacklisted"],
            smsBlacklisted=c["smsBlacklisted"],
            createdAt=c["createdAt"],
            modifiedAt=c["modifiedAt"],
            listIds=sorted(c["_lists"]),
            listUnsubscribed=list(c["listUnsubscribed"]),
            attributes=attrs,
            statistics={"messagesSent": [], "opened": [], "clicked": [], "delivered": []},
        )
        return view

    # -- contact writes --------------------------------------------------------------------------
    def _clean_attributes(self, attrs: dict[str, Any], who: str) -> dict[str, Any]:
        """Known attributes with acceptable values; ``None`` values mean "clear"."""
        clean: dict[str, Any] = {}
        for name, value in attrs.items():
            if name in ("EMAIL", "SMS"):
                continue  # identifiers, handled by the caller
            meta = self.attributes.get(name)
            if meta is None:
                self.ignored_attributes.append((who, name))
                continue
            if value is None or value == "":
                clean[name] = None
                continue
            kind = meta.get("type")
            if kind == "date":
                if not _valid_date(value):
                    if self.strict_dates:
                        raise Reply(
                            400, "invalid_parameter", f"Invalid date format for attribute {name}: expected YYYY-MM-DD"
                        )
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "boolean":
                if not isinstance(value, bool):
                    self.ignored_attributes.append((who, name))
                    continue
            elif kind == "multiple-choice":
                if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    self.ignored_attributes.append((who, name))
                    continue
            elif isinstance(value, (dict, list)):
                self.ignored_attributes.append((who, name))
                continue
            clean[name] = value
        return clean

    def _prepare(
        self,
        contact: dict[str, Any] | None,
        body: dict[str, Any],
        *,
        verb: str,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Validate one create/update against current state; returns the change set (no mutation)."""
        attrs = body.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise Reply(400, "invalid_parameter", "attributes should be type object")
        changes: dict[str, Any] = {
            "lists_add": self._list_ids(body, "listIds"),
            "lists_remove": self._list_ids(body, "unlinkListIds"),
        }
        who = email or (contact and (contact["email"] or str(contact["id"]))) or "?"
        self_id = contact["id"] if contact else None

        if "EMAIL" in attrs and attrs["EMAIL"] not in (None, ""):
            new_email = self._valid_email(attrs["EMAIL"])
            owner = self._by_email(new_email)
            if contact is not None and (owner is not None or new_email == contact["email"]):
                raise Reply(
                    400,
                    "duplicate_parameter",
                    f"Unable to {verb} contact, email is already associated with another Contact",
                    {"duplicate_identifiers": ["email"]},
                )
            if contact is not None:
                changes["email"] = new_email
            elif email is None:
                email = new_email
        if contact is None:
            changes["email"] = email

        if "SMS" in attrs:
            raw = attrs["SMS"]
            if raw in (None, ""):
                changes["sms"] = (None, None)
            else:
                key = phone_key(raw)
                if key is None:
                    raise Reply(400, "invalid_parameter", "Invalid phone number")
                owner = self._by_phone(key)
                if owner is not None and owner["id"] != self_id:
                    raise Reply(
                        400,
                        "duplicate_parameter",
                        f"Unable to {verb} contact, SMS is already associated with another Contact",
                        {"duplicate_identifiers": ["SMS"]},
                    )
                changes["sms"] = (raw.strip() if isinstance(raw, str) else str(raw), key)

        if body.get("ext_id") is not None:
            ext_id = body["ext_id"]
            if not isinstance(ext_id, str) or not ext_id:
                raise Reply(400, "invalid_parameter", "ext_id should be type string")
            owner = self._by_ext_id(ext_id)
            if owner is not None and owner["id"] != self_id:
                raise Reply(
                    400,
                    "duplicate_parameter",
                    f"Unable to {verb} contact, EXT_ID is already associated with another Contact",
                    {"duplicate_identifiers": ["EXT_ID"]},
                )
            changes["ext_id"] = ext_id

        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in body:
                if not isinstance(body[flag], bool):
                    raise Reply(400, "invalid_parameter", f"{flag} should be type boolean")
                changes[flag] = body[flag]
        changes["attributes"] = self._clean_attributes(attrs, who)
        return changes

    def _apply(self, contact: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
        now = now_iso()
        if contact is None:
            self._ids["contact"] += 1
            contact = {
                "id": self._ids["contact"],
                "email": changes.get("email"),
                "ext_id": None,
                "emailBlacklisted": False,
                "smsBlacklisted": False,
                "createdAt": now,
                "modifiedAt": now,
                "listUnsubscribed": [],
                "attributes": {},
                "_lists": set(),
                "_sms": None,
            }
            self.contacts[contact["id"]] = contact
        with self.contacts.changing(contact):  # the identifiers' indexes follow the changes
            if changes.get("email") and changes["email"] != contact["email"]:
                contact["email"] = changes["email"]
                contact["emailBlacklisted"] = False  # documented: changing the address lifts the block
            if "ext_id" in changes:
                contact["ext_id"] = changes["ext_id"]
            if "sms" in changes:
                raw, key = changes["sms"]
                if raw is None:
                    contact["attributes"].pop("SMS", None)
                else:
                    contact["attributes"]["SMS"] = raw
                contact["_sms"] = key
        for name, value in changes["attributes"].items():
            if value is None:
                contact["attributes"].pop(name, None)
            else:
                contact["attributes"][name] = value
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if flag in changes:
                contact[flag] = changes[flag]
        contact["_lists"].update(changes["lists_add"])
        contact["_lists"].difference_update(changes["lists_remove"])
        contact["modifiedAt"] = now
        return contact

    # -- contact routes ------------------------------------------------------------------------
    def _create_contact(self, req: Request) -> Response:
        body = self._object_body(req)
        attrs = body.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise Reply(400, "invalid_parameter", "attributes should be type object")
        update_enabled = body.get("updateEnabled", False)
        if not isinstance(update_enabled, bool):
            raise Reply(400, "invalid_parameter", "updateEnabled should be type boolean")
        email = self._valid_email(body["email"]) if body.get("email") not in (None, "") else None
        ext_id = body.get("ext_id") if isinstance(body.get("ext_id"), str) and body.get("ext_id") else None
        sms_raw = attrs.get("SMS")
        sms_key = None
        if sms_raw not in (None, ""):
            sms_key = phone_key(sms_raw)
            if sms_key is None:
                raise Reply(400, "invalid_parameter", "Invalid phone number")
        if email is None and ext_id is None and sms_key is None:
            raise Reply(400, "missing_parameter", "Please provide Email or SMS attribute value to create user")
        self._list_ids(body, "listIds")  # type errors before duplicate errors

        if email is not None:
            existing, ident = self._by_email(email), "email"
        elif ext_id is not None:
            existing, ident = self._by_ext_id(ext_id), "EXT_ID"
        else:
            existing, ident = self._by_phone(sms_key), "SMS"  # type: ignore[arg-type]
        if existing is not None and not update_enabled:
            raise Reply(
                400,
                "duplicate_parameter",
                f"Unable to create contact, {ident} is already associated with another Contact",
                {"duplicate_identifiers": [ident]},
            )
        if existing is None:
            changes = self._prepare(None, body, verb="create", email=email)
            contact = self._apply(None, changes)
            return Response(201, {"id": contact["id"]})
        changes = self._prepare(existing, body, verb="update")
        self._apply(existing, changes)
        return Response(204)

    def _get_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])  # not unquote_plus: "+" stays literal
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=True)
        if contact is None:
            raise Reply(404, "document_not_found", "Contact does not exist")
        return Response(200, self._contact_view(contact))

    def _update_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=False)
        if contact is None:
            raise Reply(404, "document_not_found", "Contact does not exist")
        body = self._object_body(req)
        changes = self._prepare(contact, body, verb="update")
        self._apply(contact, changes)
        return Response(204)

    def _delete_contact(self, req: Request) -> Response:
        identifier = unquote(req.params["identifier"])
        contact = self._by_identifier(identifier, req.q("identifierType"), allow_phone=False)
        if contact is None:
            raise Reply(404, "document_not_found", "Contact does not exist")
        del self.contacts[contact["id"]]
        return Response(204)

    def _get_contacts(self, req: Request) -> Response:
        """``GET /contacts``: newest first (``sort=asc`` for oldest), ``limit`` ≤ 1000, and the
        documented ``modifiedSince`` / ``createdSince`` filters (a full date-time with a time zone;
        a contact's modification date moves on any update)."""
        limit = self._int_query(req, "limit", 50, 1000)
        offset = self._int_query(req, "offset", 0)
        chosen = list(self.contacts.values())
        for param, field in (("modifiedSince", "modifiedAt"), ("createdSince", "createdAt")):
            since = _since_query(req, param)
            if since is not None:
                chosen = [c for c in chosen if _parse_time(c[field]) >= since]
        ordered = sorted(chosen, key=lambda c: c["id"], reverse=req.q("sort", "desc") != "asc")
        return Response(
            200, {"contacts": [self._contact_view(c) for c in ordered[offset : offset + limit]], "count": len(ordered)}
        )

    def _batch_update(self, req: Request) -> Response:
        body = self._object_body(req)
        items = body.get("contacts")
        if not isinstance(items, list) or not items:
            raise Reply(400, "missing_parameter", "contacts is required")
        targets: list[dict[str, Any]] = []
        missing: list[str] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise Reply(400, "invalid_parameter", f"contacts/{i} should be type object")
            contact = None
            if item.get("email"):
                contact = self._by_email(str(item["email"]).strip().lower())
            elif item.get("id") is not None:
                contact = self.contacts.get(item["id"]) if isinstance(item["id"], int) else None
            elif item.get("sms"):
                key = phone_key(item["sms"])
                contact = self._by_phone(key) if key else None
            else:
                raise Reply(400, "missing_parameter", f"contacts/{i} needs one of email, id or sms")
            if contact is None:
                missing.append(str(i))
            else:
                targets.append(contact)
        if missing:
            raise Reply(404, "document_not_found", f"No contact found for indexes {','.join(missing)}")
        planned = [(c, self._prepare(c, item, verb="update")) for c, item in zip(targets, items, strict=True)]
        for contact, changes in planned:  # all-or-nothing: nothing applied until all validated
            self._apply(contact, changes)
        return Response(204)
