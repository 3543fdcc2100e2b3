"""Attributes, lists, folders and list membership (sandbox/brevo/lists.py)."""

from __future__ import annotations

from calendly_sync.sandbox.brevo import BrevoSim
from tests.sandbox.brevo.helpers import call


def test_attributes(brevo_sim):
    r = call(brevo_sim, "GET", "/contacts/attributes")
    assert r.json() == {
        "attributes": [
            {"name": "FIRSTNAME", "category": "normal", "type": "text"},
            {"name": "LASTNAME", "category": "normal", "type": "text"},
            {"name": "SMS", "category": "normal", "type": "text"},
        ]
    }
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"})
    assert r.status_code == 201 and r.content == b""
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"})
    assert r.status_code == 400 and r.json() == {
        "code": "invalid_parameter",
        "message": "Attribute name must be unique",
    }
    r = call(brevo_sim, "POST", "/contacts/attributes/normal/OTHER")
    assert r.status_code == 400 and r.json() == {"code": "missing_parameter", "message": "No inputs in the body"}
    assert call(brevo_sim, "POST", "/contacts/attributes/normal/OTHER", {"type": "banana"}).status_code == 400
    assert call(brevo_sim, "POST", "/contacts/attributes/weird/OTHER", {"type": "text"}).status_code == 400
    r = call(
        brevo_sim,
        "POST",
        "/contacts/attributes/category/BOOKING_STATUS",
        {"enumeration": [{"value": 1, "label": "scheduled"}]},
    )
    assert r.status_code == 201 and brevo_sim.attributes["BOOKING_STATUS"]["type"] == "category"


def test_lists_and_folders(brevo_sim):
    r = call(brevo_sim, "GET", "/contacts/lists")
    assert r.status_code == 200 and r.json()["count"] == 3
    assert {lst["name"] for lst in r.json()["lists"]} == {"Discovery calls", "Demos", "Calendly bookings"}
    assert set(r.json()["lists"][0]) == {
        "id",
        "name",
        "folderId",
        "totalBlacklisted",
        "totalSubscribers",
        "uniqueSubscribers",
    }
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
    assert call(brevo_sim, "GET", "/contacts/lists/999").json() == {
        "code": "document_not_found",
        "message": "List ID not found",
    }
    folders = call(brevo_sim, "GET", "/contacts/folders").json()
    assert folders["count"] == 2 and any(
        f["name"] == "Mine" and f["uniqueSubscribers"] == 1 for f in folders["folders"]
    )
    seedless = BrevoSim(seed_lists=False)
    assert seedless.lists == {} and seedless.folders == {}


def test_list_membership(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com", "ghost@example.com"]})
    assert r.status_code == 201 and r.json() == {
        "contacts": {"success": ["a@example.com"], "failure": ["ghost@example.com"]}
    }
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com"]})
    assert r.status_code == 400 and r.json() == {
        "code": "invalid_parameter",
        "message": "Contact already in list and/or does not exist",
    }
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": []}).status_code == 400
    assert (
        call(
            brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": [f"u{i}@x.com" for i in range(151)]}
        ).status_code
        == 400
    )
    assert (
        call(
            brevo_sim, "POST", "/contacts/lists/10/contacts/add", {"emails": ["a@example.com"], "ids": [1]}
        ).status_code
        == 400
    )
    assert call(brevo_sim, "POST", "/contacts/lists/999/contacts/add", {"emails": ["a@example.com"]}).status_code == 404
    r = call(brevo_sim, "POST", "/contacts/lists/10/contacts/remove", {"ids": [1]})
    assert r.status_code == 201 and r.json()["contacts"]["success"] == [1]
    assert call(brevo_sim, "POST", "/contacts/lists/10/contacts/remove", {"ids": [1]}).status_code == 400
    call(brevo_sim, "POST", "/contacts/lists/11/contacts/add", {"ids": [1]})
    r = call(brevo_sim, "POST", "/contacts/lists/11/contacts/remove", {"all": True})
    assert r.status_code == 201 and r.json()["contacts"]["total"] == 1
    assert brevo_sim.list_members(11) == []
