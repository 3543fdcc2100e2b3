"""``POST /v3/contacts/import``: bulk imports from ``jsonBody`` or a semicolon CSV ``fileBody``.

Why: backlogs are pushed as imports, which Brevo applies later (see ``processes``); each row goes
through the same validation as ``POST /contacts`` and a bad row is counted, not fatal. ``fileUrl``
is refused (the simulator fetches nothing); ``newList`` creates the list the rows join.
"""

from __future__ import annotations

import csv
import io
from functools import partial
from typing import Any

from calendly_sync.sandbox.brevo.lists import Lists
from calendly_sync.sandbox.brevo.records import Reply
from calendly_sync.sandbox.httpbase import Request, Response

IMPORT_MAX_BYTES = 10 * 1024 * 1024


class Imports(Lists):
    """The import route and how its rows are applied."""

    def _import(self, req: Request) -> Response:
        if len(req.body) > IMPORT_MAX_BYTES:
            raise Reply(400, "out_of_range", "Request body exceeds 10MB")
        body = self._object_body(req)
        sources = [k for k in ("fileUrl", "fileBody", "jsonBody") if body.get(k) not in (None, "", [])]
        if not sources:
            raise Reply(400, "missing_parameter", "One of fileUrl, fileBody or jsonBody is required")
        if len(sources) > 1:
            raise Reply(400, "invalid_parameter", "Only one of fileUrl, fileBody or jsonBody may be given")
        if sources[0] == "fileUrl":
            raise Reply(400, "invalid_parameter", "fileUrl is not supported by the simulator; use fileBody or jsonBody")
        list_ids = self._list_ids(body, "listIds")
        new_list = body.get("newList")
        if not list_ids and not new_list:
            raise Reply(400, "missing_parameter", "listIds is mandatory if newList is not defined")
        new_list_args: tuple[str, int] | None = None
        if new_list:
            if not isinstance(new_list, dict) or not new_list.get("listName"):
                raise Reply(400, "missing_parameter", "newList.listName is missing")
            folder_id = new_list.get("folderId")
            if folder_id is None:
                raise Reply(400, "missing_parameter", "newList.folderId is mandatory when listName is set")
            if folder_id not in self.folders:
                raise Reply(404, "document_not_found", "Folder ID not found")
            new_list_args = (str(new_list["listName"]), folder_id)
        rows = self._import_rows(body, sources[0])
        if new_list_args:
            list_ids = [*list_ids, self._new_list(*new_list_args)]
        update_existing = body.get("updateExistingContacts", True) is not False
        empty_attrs = body.get("emptyContactsAttributes", False) is True

        job: dict[str, Any] = {
            "rows": rows,
            "list_ids": list_ids,
            "update_existing": update_existing,
            "empty_attrs": empty_attrs,
        }
        process = self._new_process("IMPORTUSER", partial(self._run_import, **job))
        process["_import"] = job  # the same job as data, so a saved sandbox can finish it after a restart
        if self.import_delay_polls <= 0:
            self._finish_process(process)
        return Response(202, {"processId": process["id"]})

    def restore(self, data: dict[str, Any]) -> None:
        """Restore the records, and give each unfinished import its job back."""
        super().restore(data)
        with self.lock:
            for process in self.processes.values():
                job = process.get("_import")
                if job is not None and process["status"] not in ("completed", "failed"):
                    process["_job"] = partial(self._run_import, **job)

    @staticmethod
    def _import_rows(body: dict[str, Any], source: str) -> list[dict[str, Any]]:
        """Normalise jsonBody items / semicolon CSV rows into ``{email?, ext_id?, attributes}``."""
        rows: list[dict[str, Any]] = []
        if source == "jsonBody":
            items = body["jsonBody"]
            if not isinstance(items, list):
                raise Reply(400, "invalid_parameter", "jsonBody should be type array")
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise Reply(400, "invalid_parameter", f"jsonBody/{i} should be type object")
                attrs = item.get("attributes") or {}
                if not isinstance(attrs, dict):
                    raise Reply(400, "invalid_parameter", f"jsonBody/{i}/attributes should be type object")
                rows.append({"email": item.get("email"), "ext_id": item.get("ext_id"), "attributes": dict(attrs)})
            return rows
        if not isinstance(body["fileBody"], str):
            raise Reply(400, "invalid_parameter", "fileBody should be type string")
        reader = csv.reader(io.StringIO(body["fileBody"]), delimiter=";")
        header = [h.strip().upper() for h in next(reader, [])]
        if not header:
            raise Reply(400, "invalid_parameter", "fileBody has no header row")
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            row: dict[str, Any] = {"email": None, "ext_id": None, "attributes": {}}
            for name, value in zip(header, cells, strict=False):  # rows may be shorter or longer
                value = value.strip()
                if name == "EMAIL":
                    row["email"] = value or None
                elif name == "EXT_ID":
                    row["ext_id"] = value or None
                else:
                    row["attributes"][name] = value
            rows.append(row)
        return rows

    def _run_import(
        self, rows: list[dict[str, Any]], list_ids: list[int], update_existing: bool, empty_attrs: bool
    ) -> dict[str, int]:
        """Apply rows one by one with the same validation as POST /contacts; bad rows are counted."""
        counts = dict.fromkeys(
            (
                "new_contacts",
                "updated_contacts",
                "existing_contacts_skipped",
                "invalid_emails",
                "invalid_sms",
                "invalid_attributes",
                "duplicate_email_id",
                "duplicate_ext_id",
                "duplicate_phone_id",
                "missing_identifier",
            ),
            0,
        )
        list_ids = [i for i in list_ids if i in self.lists]
        seen: set[str] = set()
        for row in rows:
            attrs = {str(k).upper(): v for k, v in row["attributes"].items()}
            if not empty_attrs:
                attrs = {k: v for k, v in attrs.items() if v not in (None, "")}
            body: dict[str, Any] = {"attributes": attrs, "listIds": list_ids}
            if row.get("ext_id"):
                body["ext_id"] = str(row["ext_id"])
            try:
                email = self._valid_email(row["email"]) if row.get("email") else None
                if email is None and not row.get("ext_id") and not attrs.get("SMS"):
                    counts["missing_identifier"] += 1
                    continue
                if email is not None:
                    if email in seen:
                        counts["duplicate_email_id"] += 1
                        continue
                    seen.add(email)
                existing = (
                    self._by_email(email)
                    if email
                    else (self._by_ext_id(str(row["ext_id"])) if row.get("ext_id") else None)
                )
                if existing is not None and not update_existing:
                    counts["existing_contacts_skipped"] += 1
                    continue
                if existing is None:
                    self._apply(None, self._prepare(None, body, verb="create", email=email))
                    counts["new_contacts"] += 1
                else:
                    self._apply(existing, self._prepare(existing, body, verb="update"))
                    counts["updated_contacts"] += 1
            except Reply as reply:
                ids = (reply.metadata or {}).get("duplicate_identifiers", [])
                if reply.message == "Invalid email address":
                    counts["invalid_emails"] += 1
                elif reply.message == "Invalid phone number":
                    counts["invalid_sms"] += 1
                elif "SMS" in ids:
                    counts["duplicate_phone_id"] += 1
                elif "EXT_ID" in ids:
                    counts["duplicate_ext_id"] += 1
                elif "email" in ids:
                    counts["duplicate_email_id"] += 1
                else:
                    counts["invalid_attributes"] += 1
        return counts
