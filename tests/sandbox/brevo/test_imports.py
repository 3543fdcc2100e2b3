"""Imports from jsonBody and fileBody, applied when their process completes (sandbox/brevo/imports.py, processes.py)."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.brevo.helpers import call


def test_import_json_walks_process_states(make_brevo_sim):
    sim = make_brevo_sim(import_delay_polls=2, import_report="counts")
    call(sim, "POST", "/contacts", {"email": "old@example.com", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Keep"}})
    r = call(
        sim,
        "POST",
        "/contacts/import",
        {
            "jsonBody": [
                {"email": "new@example.com", "attributes": {"FIRSTNAME": "New"}},
                {"email": "old@example.com", "attributes": {"FIRSTNAME": "Updated", "LASTNAME": ""}},
                {"email": "broken"},
                {"email": "new@example.com"},
            ],
            "listIds": [12],
        },
    )
    assert r.status_code == 202
    pid = r.json()["processId"]
    statuses = [call(sim, "GET", f"/processes/{pid}").json()["status"] for _ in range(3)]
    assert statuses == ["queued", "in_process", "completed"]
    process = call(sim, "GET", f"/processes/{pid}").json()
    assert process["info"]["import"]["new_contacts"] == 1
    assert process["info"]["import"]["updated_contacts"] == 1
    assert process["info"]["import"]["invalid_emails"] == 1
    assert process["info"]["import"]["duplicate_email_id"] == 1
    assert sim.get_contact("old@example.com")["attributes"] == {"FIRSTNAME": "Updated", "LASTNAME": "Keep"}
    assert sim.get_contact("new@example.com")["listIds"] == [12]
    missing = call(sim, "GET", "/processes/999")
    assert missing.status_code == 404 and missing.json() == {
        "code": "document_not_found",
        "message": "Process ID not found",
    }


def test_import_file_body_and_options(make_brevo_sim):
    sim = make_brevo_sim(import_delay_polls=0, import_report="counts")
    call(sim, "POST", "/contacts", {"email": "old@example.com", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Gone"}})
    r = call(
        sim,
        "POST",
        "/contacts/import",
        {
            "fileBody": "EMAIL;FIRSTNAME;LASTNAME\nold@example.com;Newer;\ncsv@example.com;Csv;Row\n",
            "newList": {"listName": "Imported", "folderId": 1},
            "emptyContactsAttributes": True,
        },
    )
    assert r.status_code == 202
    assert sim.processes[r.json()["processId"]]["status"] == "completed"
    assert sim.get_contact("old@example.com")["attributes"] == {"FIRSTNAME": "Newer"}
    new_list = max(sim.lists)
    assert sim.lists[new_list]["name"] == "Imported" and sim.list_members(new_list) == [
        "csv@example.com",
        "old@example.com",
    ]
    r = call(
        sim,
        "POST",
        "/contacts/import",
        {
            "jsonBody": [{"email": "old@example.com", "attributes": {"FIRSTNAME": "No"}}],
            "listIds": [10],
            "updateExistingContacts": False,
        },
    )
    assert sim.processes[r.json()["processId"]]["info"]["import"]["existing_contacts_skipped"] == 1
    assert sim.get_contact("old@example.com")["attributes"]["FIRSTNAME"] == "Newer"
    assert call(sim, "POST", "/contacts/import", {"jsonBody": [{"email": "x@example.com"}]}).status_code == 400
    assert call(sim, "POST", "/contacts/import", {"listIds": [10]}).status_code == 400


def _import_with_sms_clashes(sim):
    """Four rows: one whose SMS another contact holds, two sharing a number, one clean."""
    sim.seed_contact("frontdesk@outside.example", {"SMS": "+14045550101"})
    r = call(
        sim,
        "POST",
        "/contacts/import",
        {
            "jsonBody": [
                {"email": "held@example.com", "attributes": {"SMS": "+1 404 555 0101", "FIRSTNAME": "Held"}},
                {"email": "first@example.com", "attributes": {"SMS": "+14045550102"}},
                {"email": "second@example.com", "attributes": {"SMS": "0014045550102"}},
                {"email": "clean@example.com", "attributes": {"FIRSTNAME": "Clean"}},
            ],
            "listIds": [10],
        },
    )
    assert r.status_code == 202
    return call(sim, "GET", f"/processes/{r.json()['processId']}").json()


def test_an_import_rejects_whole_rows_whose_sms_is_taken_and_reports_them_as_csv_urls(make_brevo_sim):
    """The current reference: ``info.import`` holds, per reason, a URL to a CSV of the rejected rows
    (null when none), not which rows of the request they were."""
    sim = make_brevo_sim(import_delay_polls=0)
    report = _import_with_sms_clashes(sim)["info"]["import"]
    assert set(report) == {
        "invalid_emails",
        "duplicate_contact_id",
        "duplicate_ext_id",
        "duplicate_email_id",
        "duplicate_phone_id",
        "duplicate_whatsapp_id",
        "duplicate_landline_number_id",
    }
    assert [k for k, v in report.items() if v] == ["duplicate_phone_id"]
    csv_text = requests.get(report["duplicate_phone_id"], timeout=5).text  # no api-key: a signed file URL
    assert csv_text.splitlines() == [
        "EMAIL;SMS",
        "held@example.com;+1 404 555 0101",
        "second@example.com;0014045550102",
    ]
    assert sim.get_contact("held@example.com") is None and sim.get_contact("second@example.com") is None
    assert sim.get_contact("first@example.com")["attributes"]["SMS"] == "+14045550102"
    assert sim.get_contact("clean@example.com")["listIds"] == [10]


def test_import_reports_in_the_older_and_mixed_shapes(make_brevo_sim):
    counts = _import_with_sms_clashes(make_brevo_sim(import_delay_polls=0, import_report="counts"))["info"]["import"]
    assert counts["duplicate_phone_id"] == 2 and counts["new_contacts"] == 2
    mixed = _import_with_sms_clashes(make_brevo_sim(import_delay_polls=0, import_report="mixed"))["info"]["import"]
    assert mixed["duplicate_phone_id"] == 2 and mixed["duplicate_email_id"] is None
    with pytest.raises(ValueError, match="import_report"):
        make_brevo_sim(import_report="json")


@pytest.fixture
def receiver():
    """A throwaway HTTP server that records the calls it gets (an import's notifyUrl)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[tuple[str, str, bytes]] = []
    got = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append((self.command, self.path, body))
            self.send_response(204)
            self.end_headers()
            got.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls, got
    finally:
        server.shutdown()
        server.server_close()


def test_an_import_calls_its_notify_url_when_it_finishes_on_its_own(make_brevo_sim, receiver):
    """As Brevo: the import ends by itself (``import_seconds``) and then calls ``notifyUrl``, with a
    body whose shape is not Brevo's to promise (it changes from call to call)."""
    url, calls, got = receiver
    sim = make_brevo_sim(import_seconds=0.0)
    r = call(
        sim,
        "POST",
        "/contacts/import",
        {"jsonBody": [{"email": "n@example.com"}], "listIds": [12], "notifyUrl": f"{url}/done/abc"},
    )
    assert r.status_code == 202
    assert got.wait(5)
    assert [(m, p) for m, p, _ in calls] == [("POST", "/done/abc")]
    assert sim.get_contact("n@example.com")["listIds"] == [12]  # finished before it called back
    assert sim.count(r"^GET /v3/processes/") == 0
    with sim.lock:
        assert [n["url"] for n in sim.notifications] == [f"{url}/done/abc"]


def test_an_import_finished_by_polling_calls_its_notify_url_too(make_brevo_sim, receiver):
    url, calls, got = receiver
    sim = make_brevo_sim()  # finishes at its second poll only
    pid = call(
        sim, "POST", "/contacts/import", {"jsonBody": [{"email": "p@example.com"}], "listIds": [12], "notifyUrl": url}
    ).json()["processId"]
    assert call(sim, "GET", f"/processes/{pid}").json()["status"] == "queued"
    assert not calls
    assert call(sim, "GET", f"/processes/{pid}").json()["status"] == "completed"
    assert got.wait(5) and len(calls) == 1


@pytest.mark.parametrize("bad", ["not a url", 12, "ftp://example.com/x"])
def test_an_import_with_a_bad_notify_url_is_refused(make_brevo_sim, bad):
    sim = make_brevo_sim()
    r = call(
        sim, "POST", "/contacts/import", {"jsonBody": [{"email": "b@example.com"}], "listIds": [12], "notifyUrl": bad}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_parameter"
