"""The Brevo simulator reproduces the documented API (shared/reference/brevo-api.md) over raw HTTP."""
from __future__ import annotations

import threading

import pytest
import requests

from calendly_sync.sandbox.brevo.server import SANDBOX_API_KEY, BrevoSim, phone_key

KEY = {"api-key": SANDBOX_API_KEY}


def call(sim: BrevoSim, method: str, path: str, json=None, params=None, headers=KEY) -> requests.Response:
    return requests.request(method, f"{sim.url}/v3{path}", json=json, params=params, headers=headers, timeout=5)


# -- auth -----------------------------------------------------------------------------------------


def test_missing_and_unknown_keys(brevo_sim):
    missing = call(brevo_sim, "GET", "/contacts/attributes", headers={})
    assert missing.status_code == 401
    assert missing.json() == {"message": "authentication not found in headers", "code": "unauthorized"}
    unknown = call(brevo_sim, "GET", "/contacts/attributes", headers={"api-key": "xkeysib-nope"})
    assert unknown.status_code == 401 and unknown.json() == {"message": "Key not found", "code": "unauthorized"}


def test_custom_api_keys(make_brevo_sim):
    sim = make_brevo_sim(api_keys={"xkeysib-custom"})
    assert call(sim, "GET", "/contacts/lists").status_code == 401
    assert call(sim, "GET", "/contacts/lists", headers={"api-key": "xkeysib-custom"}).status_code == 200


# -- contacts -------------------------------------------------------------------------------------


def test_create_then_upsert_is_201_then_empty_204(brevo_sim):
    r = call(brevo_sim, "POST", "/contacts", {"email": "Jane@Example.com", "attributes": {"FIRSTNAME": "Jane", "NOPE": 1}, "listIds": [10]})
    assert r.status_code == 201 and r.json() == {"id": 1}
    r = call(brevo_sim, "POST", "/contacts", {"email": "jane@example.com", "attributes": {"LASTNAME": "Doe"}, "listIds": [11], "updateEnabled": True})
    assert r.status_code == 204 and r.content == b""
    contact = brevo_sim.get_contact("JANE@example.com")
    assert contact["email"] == "jane@example.com"
    assert contact["attributes"] == {"FIRSTNAME": "Jane", "LASTNAME": "Doe"}
    assert contact["listIds"] == [10, 11]
    assert ("jane@example.com", "NOPE") in brevo_sim.ignored_attributes


def test_existing_without_update_enabled_is_duplicate(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(brevo_sim, "POST", "/contacts", {"email": "A@example.com"})
    assert r.status_code == 400
    assert r.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, email is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["email"]},
    }


def test_email_attribute_equal_to_existing_is_400(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"EMAIL": "a@example.com"}, "updateEnabled": True})
    assert r.status_code == 400 and r.json()["code"] == "duplicate_parameter"
    assert r.json()["metadata"] == {"duplicate_identifiers": ["email"]}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"email": "nope"}, "invalid_parameter", "Invalid email address"),
        ({"email": "a@example.com", "attributes": {"SMS": "0612345678"}}, "invalid_parameter", "Invalid phone number"),
        ({"email": "a@example.com", "attributes": {"SMS": "+1 555"}}, "invalid_parameter", "Invalid phone number"),
        ({"attributes": {"FIRSTNAME": "x"}}, "missing_parameter", "Please provide Email or SMS attribute value to create user"),
        ({"email": "a@example.com", "listIds": ["12"]}, "invalid_parameter", "listIds/0 should be type number"),
        ({"email": "a@example.com", "listIds": 12}, "invalid_parameter", "listIds should be type array"),
    ],
)
def test_contact_validation_errors(brevo_sim, body, code, message):
    r = call(brevo_sim, "POST", "/contacts", body)
    assert r.status_code == 400
    assert r.json() == {"code": code, "message": message}
    assert brevo_sim.contacts == {}


def test_unknown_list_id_is_404(brevo_sim):
    r = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "listIds": [999]})
    assert r.status_code == 404 and r.json() == {"code": "document_not_found", "message": "List ID not found"}


def test_sms_duplicates_compare_by_digits(brevo_sim):
    assert call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"SMS": "+33 6 12 34 56 78"}}).status_code == 201
    r = call(brevo_sim, "POST", "/contacts", {"email": "b@example.com", "attributes": {"SMS": "33612345678"}})
    assert r.status_code == 400
    assert r.json() == {
        "code": "duplicate_parameter",
        "message": "Unable to create contact, SMS is already associated with another Contact",
        "metadata": {"duplicate_identifiers": ["SMS"]},
    }
    call(brevo_sim, "POST", "/contacts", {"email": "b@example.com"})
    r = call(brevo_sim, "PUT", "/contacts/b%40example.com", {"attributes": {"SMS": "0033612345678"}})
    assert r.json()["message"] == "Unable to update contact, SMS is already associated with another Contact"
    # the owner may re-send its own number
    assert call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"SMS": "+33612345678"}, "updateEnabled": True}).status_code == 204


def test_ext_id_and_sms_only_contacts(brevo_sim):
    r = call(brevo_sim, "POST", "/contacts", {"ext_id": "inv-1"})
    assert r.status_code == 201
    r = call(brevo_sim, "POST", "/contacts", {"attributes": {"SMS": "+447911123456"}})
    assert r.status_code == 201
    got = call(brevo_sim, "GET", "/contacts/inv-1", params={"identifierType": "ext_id"})
    assert got.status_code == 200 and got.json()["attributes"]["EXT_ID"] == "inv-1" and "email" not in got.json()
    got = call(brevo_sim, "GET", "/contacts/%2B447911123456", params={"identifierType": "phone_id"})
    assert got.status_code == 200 and got.json()["attributes"]["SMS"] == "+447911123456"


def test_get_contact_shape_and_identifier_types(brevo_sim):
    cid = call(brevo_sim, "POST", "/contacts", {"email": "jane+tag@example.com", "attributes": {"FIRSTNAME": "Jane"}, "listIds": [12]}).json()["id"]
    r = call(brevo_sim, "GET", "/contacts/jane%2Btag%40example.com", params={"identifierType": "email_id"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "email", "emailBlacklisted", "smsBlacklisted", "createdAt", "modifiedAt", "listIds", "listUnsubscribed", "attributes", "statistics"}
    assert body["id"] == cid and body["email"] == "jane+tag@example.com" and body["listIds"] == [12]
    # a raw "+" stays a plus, never a space
    assert call(brevo_sim, "GET", "/contacts/jane+tag@example.com").status_code == 200
    assert call(brevo_sim, "GET", f"/contacts/{cid}").json()["email"] == "jane+tag@example.com"
    assert call(brevo_sim, "GET", f"/contacts/{cid}", params={"identifierType": "contact_id"}).status_code == 200
    missing = call(brevo_sim, "GET", "/contacts/ghost%40example.com")
    assert missing.status_code == 404 and missing.json() == {"code": "document_not_found", "message": "Contact does not exist"}
    assert call(brevo_sim, "GET", "/contacts/x", params={"identifierType": "bogus"}).status_code == 400


def test_put_updates_only(brevo_sim):
    r = call(brevo_sim, "PUT", "/contacts/ghost%40example.com", {"attributes": {"FIRSTNAME": "X"}})
    assert r.status_code == 404 and r.json()["message"] == "Contact does not exist"
    assert brevo_sim.contacts == {}
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "listIds": [10, 11]})
    r = call(brevo_sim, "PUT", "/contacts/a%40example.com", {"attributes": {"FIRSTNAME": "A"}, "listIds": [12], "unlinkListIds": [10]})
    assert r.status_code == 204 and r.content == b""
    assert brevo_sim.get_contact("a@example.com")["listIds"] == [11, 12]
    # rename via attributes.EMAIL
    assert call(brevo_sim, "PUT", "/contacts/a%40example.com", {"attributes": {"EMAIL": "new@example.com"}}).status_code == 204
    assert brevo_sim.get_contact("new@example.com") is not None and brevo_sim.get_contact("a@example.com") is None


def test_batch_update_is_all_or_nothing(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(brevo_sim, "POST", "/contacts/batch", {"contacts": [
        {"email": "a@example.com", "attributes": {"FIRSTNAME": "A"}},
        {"email": "ghost@example.com", "attributes": {"FIRSTNAME": "G"}},
        {"email": "ghost2@example.com"},
    ]})
    assert r.status_code == 404 and r.json() == {"code": "document_not_found", "message": "No contact found for indexes 1,2"}
    assert "FIRSTNAME" not in brevo_sim.get_contact("a@example.com")["attributes"]
    r = call(brevo_sim, "POST", "/contacts/batch", {"contacts": [{"id": 1, "attributes": {"FIRSTNAME": "A"}}]})
    assert r.status_code == 204 and brevo_sim.get_contact("a@example.com")["attributes"]["FIRSTNAME"] == "A"


def test_strict_and_lenient_dates(brevo_sim, make_brevo_sim):
    for sim in (brevo_sim, lenient := make_brevo_sim(strict_dates=False)):
        assert call(sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"}).status_code == 201
    r = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"MEETING_DATE": "14/03/2025"}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_parameter" and "MEETING_DATE" in r.json()["message"]
    r = call(lenient, "POST", "/contacts", {"email": "a@example.com", "attributes": {"MEETING_DATE": "14/03/2025", "FIRSTNAME": "A"}})
    assert r.status_code == 201
    assert lenient.get_contact("a@example.com")["attributes"] == {"FIRSTNAME": "A"}


# -- attributes, lists, folders -------------------------------------------------------------------


def test_attributes(brevo_sim):
    r = call(brevo_sim, "GET", "/contacts/attributes")
    assert r.json() == {"attributes": [
        {"name": "FIRSTNAME", "category": "normal", "type": "text"},
        {"name": "LASTNAME", "category": "normal", "type": "text"},
        {"name": "SMS", "category": "normal", "type": "text"},
    ]}
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"})
    assert r.status_code == 201 and r.content == b""
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"})
    assert r.status_code == 400 and r.json() == {"code": "invalid_parameter", "message": "Attribute name must be unique"}
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/OTHER")
    assert r.status_code == 400 and r.json() == {"code": "missing_parameter", "message": "No inputs in the body"}
    assert call(brevo_sim, "POST", "/contacts/attributes/normal/OTHER", {"type": "banana"}).status_code == 400
    assert call(brevo_sim, "POST", "/contacts/attributes/weird/OTHER", {"type": "text"}).status_code == 400
    r = call(brevo_sim, "POST", "/contacts/attributes/category/BOOKING_STATUS", {"enumeration": [{"value": 1, "label": "scheduled"}]})
    assert r.status_code == 201 and brevo_sim.attributes["BOOKING_STATUS"]["type"] == "category"


def test_lists_and_folders(brevo_sim):
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert r.status_code == 200 and r.json()["count"] == 3
    assert {lst["name"] for lst in r.json()["lists"]} == {"Discovery calls", "Demos", "Calendly bookings"}
    assert set(r.json()["lists"][0]) == {"id", "name", "folderId", "totalBlacklisted", "totalSubscribers", "uniqueSubscribers"}
    assert call(brevo_sim, "GET", "/contacts/lists", params={"limit": 51}).status_code == 400
    folder = call(brevo_sim, "POST", "/contacts/folders", {"name": "Mine"}).json()["id"]
    assert call(brevo_sim, "POST", "/contacts/folders", {}).json()["message"] == "Folder name is missing"
    r = call(brevo_sim, "POST", "/contacts/lists", {"folderId": folder})
    assert r.status_code == 400 and r.json() == {"code": "missing_parameter", "message": "List name is missing"}
    assert call(brevo_sim, "POST", "/contacts/lists", {"name": "X", "folderId": 999}).status_code == 404
    r = call(brevo_sim, "POST", "/contacts/lists", {"name": "New", "folderId": folder})
    assert r.status_code == 201
    new_id = r.json()["id"]
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "listIds": [new_id]})
    got = call(brevo_sim, "GET", f"/contacts/lists/{new_id}").json()
    assert got["name"] == "New" and got["uniqueSubscribers"] == 1
    assert call(brevo_sim, "GET", "/contacts/lists/999").json() == {"code": "document_not_found", "message": "List ID not found"}
    folders = call(brevo_sim, "GET", "/contacts/folders").json()
    assert folders["count"] == 2 and any(f["name"] == "Mine" and f["uniqueSubscribers"] == 1 for f in folders["folders"])
    seedless = BrevoSim(seed_lists=False)
    assert seedless.lists == {} and seedless.folders == {}


def test_list_membership(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com", "ghost@example.com"]})
    assert r.status_code == 201 and r.json() == {"contacts": {"success": ["a@example.com"], "failure": ["ghost@example.com"]}}
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com"]})
    assert r.status_code == 400 and r.json() == {"code": "invalid_parameter", "message": "Contact already in list and/or does not exist"}
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": []}).status_code == 400
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": [f"u{i}@x.com" for i in range(151)]}).status_code == 400
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com"], "ids": [1]}).status_code == 400
    assert call(brevo_sim, "POST", "/contacts/lists/999/contacts/add", {"emails": ["a@example.com"]}).status_code == 404
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/remove", {"ids": [1]})
    assert r.status_code == 201 and r.json()["contacts"]["success"] == [1]
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/remove", {"ids": [1]}).status_code == 400
    call(brevo_sim, "POST", "/contacts/lists/11/contacts/add", {"ids": [1]})
    r = call(brevo_sim, "POST", "/contacts/lists/11/contacts/remove", {"all": True})
    assert r.status_code == 201 and r.json()["contacts"]["total"] == 1
    assert brevo_sim.list_members(11) == []


# -- events ---------------------------------------------------------------------------------------


def test_event_accepted_and_queryable(brevo_sim):
    cid = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"}).json()["id"]
    r = call(brevo_sim, "POST", "/events", {
        "event_name": "calendly_booking_created",
        "identifiers": {"email_id": "a@example.com"},
        "event_date": "2025-03-14T10:00:00Z",
        "contact_properties": {"FIRSTNAME": "A"},
        "event_properties": {"event_type": "intro", "nested": {"x": [1, 2]}},
    })
    assert r.status_code == 204 and r.content == b""
    assert brevo_sim.events[0]["contact_id"] == cid
    assert brevo_sim.get_contact("a@example.com")["attributes"]["FIRSTNAME"] == "A"
    listed = call(brevo_sim, "GET", "/events", params={"event_name": "calendly_booking_created", "contact_id": cid}).json()
    assert listed["count"] == 1 and listed["events"][0]["identifiers"] == {"email_id": "a@example.com"}


@pytest.mark.parametrize(
    "body",
    [
        {"identifiers": {"email_id": "a@example.com"}},
        {"event_name": "has space", "identifiers": {"email_id": "a@example.com"}},
        {"event_name": "x" * 256, "identifiers": {"email_id": "a@example.com"}},
        {"event_name": "ok"},
        {"event_name": "ok", "identifiers": {}},
        {"event_name": "ok", "identifiers": {"twitter": "x"}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_date": "yesterday"},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_properties": {"bad.key": 1}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "event_properties": {"big": "x" * 52000}},
        {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}, "contact_properties": {"X": 1.5}},
    ],
)
def test_event_validation(brevo_sim, body):
    r = call(brevo_sim, "POST", "/events", body)
    assert r.status_code == 400 and set(r.json()) == {"code", "message"}
    assert brevo_sim.events == []


def test_events_batch(brevo_sim):
    ok = {"event_name": "ok", "identifiers": {"email_id": "a@example.com"}}
    bad = {"event_name": "not ok", "identifiers": {"email_id": "a@example.com"}}
    r = call(brevo_sim, "POST", "/events/batch", {"events": [ok, ok]})
    assert r.status_code == 202 and r.json()["count"] == 2
    r = call(brevo_sim, "POST", "/events/batch", {"events": [bad, ok, bad]})
    assert r.status_code == 207
    assert r.json()["successful_events"] == 1 and r.json()["failed_events"] == 2 and r.json()["errors"][0]["eventIndex"] == [0, 2]
    assert call(brevo_sim, "POST", "/events/batch", {"events": [bad]}).status_code == 400
    assert len(brevo_sim.events) == 3


# -- imports --------------------------------------------------------------------------------------


def test_import_json_walks_process_states(make_brevo_sim):
    sim = make_brevo_sim(import_delay_polls=2)
    call(sim, "POST", "/contacts", {"email": "old@example.com", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Keep"}})
    r = call(sim, "POST", "/contacts/import", {
        "jsonBody": [
            {"email": "new@example.com", "attributes": {"FIRSTNAME": "New"}},
            {"email": "old@example.com", "attributes": {"FIRSTNAME": "Updated", "LASTNAME": ""}},
            {"email": "broken"},
            {"email": "new@example.com"},
        ],
        "listIds": [12],
    })
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
    assert missing.status_code == 404 and missing.json() == {"code": "document_not_found", "message": "Process ID not found"}


def test_import_file_body_and_options(make_brevo_sim):
    sim = make_brevo_sim(import_delay_polls=0)
    call(sim, "POST", "/contacts", {"email": "old@example.com", "attributes": {"FIRSTNAME": "Old", "LASTNAME": "Gone"}})
    r = call(sim, "POST", "/contacts/import", {
        "fileBody": "EMAIL;FIRSTNAME;LASTNAME\nold@example.com;Newer;\ncsv@example.com;Csv;Row\n",
        "newList": {"listName": "Imported", "folderId": 1},
        "emptyContactsAttributes": True,
    })
    assert r.status_code == 202
    assert sim.processes[r.json()["processId"]]["status"] == "completed"
    assert sim.get_contact("old@example.com")["attributes"] == {"FIRSTNAME": "Newer"}
    new_list = max(sim.lists)
    assert sim.lists[new_list]["name"] == "Imported" and sim.list_members(new_list) == ["csv@example.com", "old@example.com"]
    r = call(sim, "POST", "/contacts/import", {"jsonBody": [{"email": "old@example.com", "attributes": {"FIRSTNAME": "No"}}], "listIds": [10], "updateExistingContacts": False})
    assert sim.processes[r.json()["processId"]]["info"]["import"]["existing_contacts_skipped"] == 1
    assert sim.get_contact("old@example.com")["attributes"]["FIRSTNAME"] == "Newer"
    assert call(sim, "POST", "/contacts/import", {"jsonBody": [{"email": "x@example.com"}]}).status_code == 400
    assert call(sim, "POST", "/contacts/import", {"listIds": [10]}).status_code == 400


# -- rate limits and faults -----------------------------------------------------------------------


def test_rate_limit_per_bucket_with_headers(make_brevo_sim):
    now = [100.0]
    sim = make_brevo_sim(rate_limit_per_second=3, clock=lambda: now[0])
    for _ in range(3):
        r = call(sim, "GET", "/contacts/lists")
        assert r.status_code == 200 and "x-sib-ratelimit-remaining" in r.headers
    limited = call(sim, "GET", "/contacts/attributes")
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_requests"
    assert limited.headers["x-sib-ratelimit-limit"] == "3"
    assert limited.headers["x-sib-ratelimit-remaining"] == "0"
    assert limited.headers["x-sib-ratelimit-reset"] == "1"
    assert "Retry-After" not in limited.headers
    # other buckets are separate
    assert call(sim, "POST", "/events", {"event_name": "x", "identifiers": {"ext_id": "1"}}).status_code == 204
    now[0] += 1.01
    assert call(sim, "GET", "/contacts/lists").status_code == 200


def test_forced_faults(brevo_sim):
    brevo_sim.force_429(times=1, reset=7)
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert r.status_code == 429 and r.headers["x-sib-ratelimit-reset"] == "7" and r.headers["x-sib-ratelimit-remaining"] == "0"
    assert r.json()["code"] == "too_many_requests"
    brevo_sim.fail_next(502, b"", route=r"GET /v3/contacts/lists")
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert r.status_code == 502 and r.content == b""
    brevo_sim.too_early()
    assert call(brevo_sim, "GET", "/contacts/lists").json()["code"] == "account_in_process"
    assert call(brevo_sim, "GET", "/contacts/lists").status_code == 200


def test_sim_state_needs_no_auth(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    state = requests.get(f"{brevo_sim.url}/_sim/state", timeout=5).json()
    assert state["counts"]["contacts"] == 1 and state["contacts"][0]["email"] == "a@example.com"


def test_phone_key_spellings():
    assert phone_key("+33612345678") == phone_key("0033612345678") == phone_key("33 6 12 34 56 78") == "33612345678"
    assert phone_key("0612345678") is None and phone_key("hello") is None and phone_key(True) is None


def test_concurrent_upserts_create_one_contact(brevo_sim):
    def upsert() -> None:
        call(brevo_sim, "POST", "/contacts", {"email": "race@example.com", "updateEnabled": True})

    threads = [threading.Thread(target=upsert) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(brevo_sim.contacts) == 1


def test_main_runs_until_interrupted(monkeypatch, capsys):
    from calendly_sync.sandbox.brevo import server as module

    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_block_forever", interrupt)
    assert module.main(["--port", "0"]) == 0
    out = capsys.readouterr().out
    assert "/v3" in out and SANDBOX_API_KEY in out
