"""Contact attributes, lists, folders and list membership (``/v3/contacts/attributes|lists|folders``).

Why: the connector creates the attributes it maps and adds contacts to the lists its event types
map to; Brevo's rules decide what is accepted — attribute names, categories and types, list and
folder ids, at most 150 contacts per membership call, and a 400 when nobody was added or removed.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote

from calendly_sync.sandbox.brevo.contacts import Contacts
from calendly_sync.sandbox.brevo.processes import Processes
from calendly_sync.sandbox.brevo.records import Reply, now_iso
from calendly_sync.sandbox.httpbase import Request, Response

ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")
NORMAL_TYPES = ("text", "date", "float", "boolean", "multiple-choice", "user", "id")
LIST_MEMBERSHIP_MAX = 150
ALREADY_IN_LIST = "Contact already in list and/or does not exist"
ALREADY_OUT_OF_LIST = "Contact already removed from list and/or does not exist"


class Lists(Contacts, Processes):
    """Attribute, list and folder records and their routes."""

    # -- attributes ------------------------------------------------------------------------------
    def _get_attributes(self, req: Request) -> Response:
        return Response(200, {"attributes": [copy.deepcopy(a) for a in self.attributes.values()]})

    def _create_attribute(self, req: Request) -> Response:
        category = req.params["category"]
        name = unquote(req.params["name"]).upper()
        try:
            body = req.json()
        except ValueError:
            raise Reply(400, "bad_request", "Input must be a valid JSON object") from None
        if not body:
            raise Reply(400, "missing_parameter", "No inputs in the body")
        if not isinstance(body, dict):
            raise Reply(400, "bad_request", "Input must be a valid JSON object")
        if category not in ATTRIBUTE_CATEGORIES:
            raise Reply(400, "invalid_parameter", "Invalid attribute category")
        if not ATTRIBUTE_NAME_RE.match(name):
            raise Reply(400, "invalid_parameter", "Attribute name is invalid")
        if name in self.attributes or name in ("EMAIL", "EXT_ID"):
            raise Reply(400, "invalid_parameter", "Attribute name must be unique")
        record: dict[str, Any] = {"name": name, "category": category}
        if category in ("normal", "transactional"):
            kind = body.get("type")
            if kind is None:
                raise Reply(400, "missing_parameter", "Attribute type is missing")
            if kind not in NORMAL_TYPES or (kind == "id" and category != "transactional"):
                raise Reply(400, "invalid_parameter", "Attribute type is invalid for this category")
            record["type"] = kind
            if kind == "multiple-choice":
                options = body.get("multiCategoryOptions")
                if not isinstance(options, list) or not options:
                    raise Reply(400, "missing_parameter", "multiCategoryOptions is required for multiple-choice")
                record["multiCategoryOptions"] = list(options)
        elif category == "category":
            enumeration = body.get("enumeration")
            if not isinstance(enumeration, list) or not enumeration:
                raise Reply(400, "missing_parameter", "enumeration is required for category attributes")
            record.update(type="category", enumeration=enumeration)
        else:
            if not isinstance(body.get("value"), str):
                raise Reply(400, "missing_parameter", "value is required for calculated/global attributes")
            record["calculatedValue"] = body["value"]
        self.attributes[name] = record
        return Response(201)

    # -- lists and folders -----------------------------------------------------------------------
    def _new_folder(self, name: str) -> int:
        self._ids["folder"] += 1
        self.folders[self._ids["folder"]] = {"id": self._ids["folder"], "name": name}
        return self._ids["folder"]

    def _list_view(self, lst: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        members = [c for c in self.contacts.values() if lst["id"] in c["_lists"]]
        blacklisted = sum(1 for c in members if c["emailBlacklisted"])
        view = {
            "id": lst["id"],
            "name": lst["name"],
            "folderId": lst["folderId"],
            "totalBlacklisted": blacklisted,
            "totalSubscribers": len(members) - blacklisted,
            "uniqueSubscribers": len(members),
        }
        if full:
            view.update(createdAt=lst["createdAt"], campaignStats=[], dynamicList=False)
        return view

    def _page(self, req: Request, items: list[Any]) -> list[Any]:
        limit = self._int_query(req, "limit", 10, 50)
        offset = self._int_query(req, "offset", 0)
        if req.q("sort", "desc") == "desc":
            items = list(reversed(items))
        return items[offset : offset + limit]

    def _get_lists(self, req: Request) -> Response:
        ordered = [self.lists[k] for k in sorted(self.lists)]
        page = self._page(req, ordered)
        return Response(200, {"count": len(ordered), "lists": [self._list_view(lst) for lst in page]})

    def _create_list(self, req: Request) -> Response:
        body = self._object_body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Reply(400, "missing_parameter", "List name is missing")
        folder_id = body.get("folderId")
        if folder_id is None:
            raise Reply(400, "missing_parameter", "Folder ID is missing")
        if isinstance(folder_id, bool) or not isinstance(folder_id, int):
            raise Reply(400, "invalid_parameter", "folderId should be type number")
        if folder_id not in self.folders:
            raise Reply(404, "document_not_found", "Folder ID not found")
        return Response(201, {"id": self._new_list(name.strip(), folder_id)})

    def _new_list(self, name: str, folder_id: int) -> int:
        self._ids["list"] = max([self._ids["list"], *self.lists]) + 1
        self.lists[self._ids["list"]] = {
            "id": self._ids["list"],
            "name": name,
            "folderId": folder_id,
            "createdAt": now_iso(),
        }
        return self._ids["list"]

    def _list_or_404(self, raw: str) -> dict[str, Any]:
        list_id = self._int_param(raw, "listId")
        lst = self.lists.get(list_id)
        if lst is None:
            raise Reply(404, "document_not_found", "List ID not found")
        return lst

    def _get_list(self, req: Request) -> Response:
        return Response(200, self._list_view(self._list_or_404(req.params["list_id"]), full=True))

    def _get_list_contacts(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        members = [c for c in sorted(self.contacts.values(), key=lambda c: c["id"]) if lst["id"] in c["_lists"]]
        limit = self._int_query(req, "limit", 50, 500)
        offset = self._int_query(req, "offset", 0)
        return Response(
            200, {"contacts": [self._contact_view(c) for c in members[offset : offset + limit]], "count": len(members)}
        )

    def _get_folders(self, req: Request) -> Response:
        ordered = [self.folders[k] for k in sorted(self.folders)]
        views = []
        for folder in self._page(req, ordered):
            lists = [self._list_view(lst) for lst in self.lists.values() if lst["folderId"] == folder["id"]]
            views.append(
                {
                    "id": folder["id"],
                    "name": folder["name"],
                    "totalBlacklisted": sum(v["totalBlacklisted"] for v in lists),
                    "totalSubscribers": sum(v["totalSubscribers"] for v in lists),
                    "uniqueSubscribers": sum(v["uniqueSubscribers"] for v in lists),
                }
            )
        return Response(200, {"count": len(ordered), "folders": views})

    def _create_folder(self, req: Request) -> Response:
        body = self._object_body(req)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Reply(400, "missing_parameter", "Folder name is missing")
        return Response(201, {"id": self._new_folder(name.strip())})

    def _membership_targets(self, body: dict[str, Any]) -> list[tuple[Any, dict[str, Any] | None]]:
        given = [k for k in ("emails", "ids", "extIds") if k in body]
        if not given:
            raise Reply(400, "missing_parameter", "One of emails, ids or extIds is required")
        if len(given) > 1:
            raise Reply(400, "invalid_parameter", "Only one of emails, ids or extIds may be given")
        field = given[0]
        values = body[field]
        if not isinstance(values, list):
            raise Reply(400, "invalid_parameter", f"{field} should be type array")
        if len(values) < 1:
            raise Reply(400, "invalid_parameter", f"{field} should NOT have fewer than 1 items")
        if len(values) > LIST_MEMBERSHIP_MAX:
            raise Reply(400, "invalid_parameter", f"{field} should NOT have more than {LIST_MEMBERSHIP_MAX} items")
        out: list[tuple[Any, dict[str, Any] | None]] = []
        for i, value in enumerate(values):
            if field == "emails":
                if not isinstance(value, str):
                    raise Reply(400, "invalid_parameter", f"emails/{i} should be type string")
                out.append((value, self._by_email(value.strip().lower())))
            elif field == "ids":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise Reply(400, "invalid_parameter", f"ids/{i} should be type number")
                out.append((value, self.contacts.get(value)))
            else:
                out.append((value, self._by_ext_id(str(value))))
        return out

    def _list_add(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        body = self._object_body(req)
        success, failure = [], []
        for given, contact in self._membership_targets(body):
            if contact is None or lst["id"] in contact["_lists"]:
                failure.append(given)
            else:
                contact["_lists"].add(lst["id"])
                contact["modifiedAt"] = now_iso()
                success.append(given)
        if not success:
            raise Reply(400, "invalid_parameter", ALREADY_IN_LIST)
        return Response(201, {"contacts": {"success": success, "failure": failure}})

    def _list_remove(self, req: Request) -> Response:
        lst = self._list_or_404(req.params["list_id"])
        body = self._object_body(req)
        if body.get("all") is True:
            removed = 0
            for member in self.contacts.values():
                if lst["id"] in member["_lists"]:
                    member["_lists"].discard(lst["id"])
                    removed += 1
            process = self._new_process("REMOVE_CONTACTS_FROM_LIST", None)
            self._finish_process(process)
            return Response(201, {"contacts": {"processId": process["id"], "total": removed}})
        success, failure = [], []
        for given, contact in self._membership_targets(body):
            if contact is None or lst["id"] not in contact["_lists"]:
                failure.append(given)
            else:
                contact["_lists"].discard(lst["id"])
                contact["modifiedAt"] = now_iso()
                success.append(given)
        if not success:
            raise Reply(400, "invalid_parameter", ALREADY_OUT_OF_LIST)
        return Response(201, {"contacts": {"success": success, "failure": failure}})
