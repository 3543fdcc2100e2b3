"""Imports from jsonBody and fileBody, applied when their process completes (sandbox/brevo/imports.py, processes.py)."""

from __future__ import annotations

from tests.sandbox.brevo.helpers import call


def test_import_json_walks_process_states(make_brevo_sim):
    sim = make_brevo_sim(import_delay_polls=2)
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
    sim = make_brevo_sim(import_delay_polls=0)
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
