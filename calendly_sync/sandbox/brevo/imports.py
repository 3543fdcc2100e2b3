"""``POST /v3/contacts/import``: bulk imports from ``jsonBody`` or a semicolon CSV ``fileBody``.

Why: backlogs are pushed as imports, which Brevo applies later (see ``processes``); each row goes
through the same validation as ``POST /contacts`` and a bad row is rejected, not fatal: a row whose
SMS another contact holds (or an earlier row of the same import took) is left out whole. ``fileUrl``
is refused (the simulator fetches nothing); ``newList`` creates the list the rows join.

What the finished process says about rejected rows is messy in Brevo's own material, so the
simulator offers each version (``BrevoSim(import_report=…)``): ``"urls"`` (the default, as the
current reference describes ``info.import``: per reason a URL to a CSV of the rejected rows, or
null), ``"counts"`` (the older SW2 example: numbers only) and ``"mixed"`` (one generated SDK: the
duplicate-email report a URL, the rest numbers). None of them says which row of the request was
which: a client must not depend on the report's shape.
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

#: The problem keys of a finished import's ``info.import`` in Brevo's current reference (each the
#: URL of a CSV of rejected rows, or null).
REPORT_KEYS = (
    "invalid_emails",
    "duplicate_contact_id",
    "duplicate_ext_id",
    "duplicate_email_id",
    "duplicate_phone_id",
    "duplicate_whatsapp_id",
    "duplicate_landline_number_id",
)
IMPORT_REPORTS = ("urls", "counts", "mixed")


class Imports(Lists):
    """The import route and how its rows are applied."""

    import_report: str
    import_reports: dict[tuple[int, str], str]

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
        notify_url = body.get("notifyUrl")
        if notify_url is not None and (
            not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://"))
        ):
            raise Reply(400, "invalid_parameter", "notifyUrl should be a valid URL")
        process = self._new_process("IMPORTUSER", None)
        process["_job"] = partial(self._run_and_report, process["id"], **job)
        process["_import"] = job  # the same job as data, so a saved sandbox can finish it after a restart
        if notify_url:
            process["_notify"] = notify_url
        if self.import_delay_polls <= 0:
            self._finish_process(process)
        elif self.import_seconds is not None:
            self._finish_later(process["id"], self.import_seconds)
        return Response(202, {"processId": process["id"]})

    def restore(self, data: dict[str, Any]) -> None:
        """Restore the records, and give each unfinished import its job back."""
        super().restore(data)
        with self.lock:
            for process in self.processes.values():
                job = process.get("_import")
                if job is not None and process["status"] not in ("completed", "failed"):
                    process["_job"] = partial(self._run_and_report, process["id"], **job)

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

    def _run_and_report(self, process_id: int, **job: Any) -> dict[str, Any]:
        """Run the import, and report it as the process's ``info.import``."""
        return self._report(process_id, self._run_import(**job))

    def _report(
        self, process_id: int, outcome: tuple[dict[str, int], dict[str, list[dict[str, Any]]]]
    ) -> dict[str, Any]:
        """The process's ``info.import``, in the shape ``import_report`` picks (see the module docstring).

        ``counts``: every counter as a number (the SW2 example). ``urls``: the seven documented keys,
        each the URL of a semicolon CSV of the rows rejected for that reason, or ``null`` when none
        (current docs: "CSV report URLs with details about problematic records"). ``mixed``: what one
        generated SDK declares, ``duplicate_email_id`` as a URL and the other problems as numbers.
        """
        counts, rejected = outcome
        if self.import_report == "counts":
            return dict(counts)
        report: dict[str, Any] = {}
        for key in REPORT_KEYS:
            as_url = self.import_report == "urls" or key == "duplicate_email_id"
            rows = rejected.get(key, [])
            if not as_url:
                report[key] = counts.get(key, 0)
                continue
            if not rows:
                report[key] = None
                continue
            lines = ["EMAIL;SMS"] + [
                f"{r.get('email') or ''};{(r.get('attributes') or {}).get('SMS') or ''}" for r in rows
            ]
            self.import_reports[(process_id, key)] = "\n".join(lines) + "\n"
            report[key] = f"{self.url}/_sim/import-reports/{process_id}/{key}.csv"
        return report

    def _import_report_file(self, req: Request) -> Response:
        """A rejected-rows CSV named by an import's report (served without an API key, like a signed URL)."""
        try:
            key = (int(req.params["process_id"]), req.params["name"])
        except ValueError:
            return Response(404, "not found")
        with self.lock:
            text = self.import_reports.get(key)
        if text is None:
            return Response(404, "not found")
        return Response(200, text.encode(), {"Content-Type": "text/csv; charset=utf-8"})

    def _run_import(
        self, rows: list[dict[str, Any]], list_ids: list[int], update_existing: bool, empty_attrs: bool
    ) -> tuple[dict[str, int], dict[str, list[dict[str, Any]]]]:
        """Apply rows one by one with the same validation as POST /contacts; bad rows are counted
        (and kept by reason, for the ``urls`` report)."""
        rejected: dict[str, list[dict[str, Any]]] = {}
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
                        rejected.setdefault("duplicate_email_id", []).append(row)
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
                    reason = "invalid_emails"
                elif reply.message == "Invalid phone number":
                    reason = "invalid_sms"
                elif "SMS" in ids:
                    reason = "duplicate_phone_id"
                elif "EXT_ID" in ids:
                    reason = "duplicate_ext_id"
                elif "email" in ids:
                    reason = "duplicate_email_id"
                else:
                    reason = "invalid_attributes"
                counts[reason] += 1
                rejected.setdefault(reason, []).append(row)
        return counts, rejected
