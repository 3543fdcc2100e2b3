"""Contacts: upserts, validation, duplicates, identifiers, batch updates, dates (sandbox/brevo/contacts.py)."""

from __future__ import annotations

import threading

import pytest

from tests.sandbox.brevo.helpers import call


def test_create_then_upsert_is_201_then_empty_204(brevo_sim):
    r = call(
        brevo_sim,
        "POST",
        "/contacts",
        {"email": "Jane@Example.com", "attributes": {"FIRSTNAME": "Jane", "NOPE": 1}, "listIds": [10]},
    )
    assert r.status_code == 201 and r.json() == {"id": 1}
    r = call(
        brevo_sim,
        "POST",
        "/contacts",
        {"email": "jane@example.com", "attributes": {"LASTNAME": "Doe"}, "listIds": [11], "updateEnabled": True},
    )
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
    r = call(
        brevo_sim,
        "POST",
        "/contacts",
        {"email": "a@example.com", "attributes": {"EMAIL": "a@example.com"}, "updateEnabled": True},
    )
    assert r.status_code == 400 and r.json()["code"] == "duplicate_parameter"
    assert r.json()["metadata"] == {"duplicate_identifiers": ["email"]}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"email": "nope"}, "invalid_parameter", "Invalid email address"),
        ({"email": "a@example.com", "attributes": {"SMS": "0612345678"}}, "invalid_parameter", "Invalid phone number"),
        ({"email": "a@example.com", "attributes": {"SMS": "+1 555"}}, "invalid_parameter", "Invalid phone number"),
        (
            {"attributes": {"FIRSTNAME": "x"}},
            "missing_parameter",
            "Please provide Email or SMS attribute value to create user",
        ),
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
    assert (
        call(
            brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"SMS": "+33 6 12 34 56 78"}}
        ).status_code
        == 201
    )
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
    assert (
        call(
            brevo_sim,
            "POST",
            "/contacts",
            {"email": "a@example.com", "attributes": {"SMS": "+33612345678"}, "updateEnabled": True},
        ).status_code
        == 204
    )


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
    cid = call(
        brevo_sim,
        "POST",
        "/contacts",
        {"email": "jane+tag@example.com", "attributes": {"FIRSTNAME": "Jane"}, "listIds": [12]},
    ).json()["id"]
    r = call(brevo_sim, "GET", "/contacts/jane%2Btag%40example.com", params={"identifierType": "email_id"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {
        "id",
        "email",
        "emailBlacklisted",
        "smsBlacklisted",
        "createdAt",
        "modifiedAt",
        "listIds",
        "listUnsubscribed",
        "attributes",
        "statistics",
    }
    assert body["id"] == cid and body["email"] == "jane+tag@example.com" and body["listIds"] == [12]
    # a raw "+" stays a plus, never a space
    assert call(brevo_sim, "GET", "/contacts/jane+tag@example.com").status_code == 200
    assert call(brevo_sim, "GET", f"/contacts/{cid}").json()["email"] == "jane+tag@example.com"
    assert call(brevo_sim, "GET", f"/contacts/{cid}", params={"identifierType": "contact_id"}).status_code == 200
    missing = call(brevo_sim, "GET", "/contacts/ghost%40example.com")
    assert missing.status_code == 404 and missing.json() == {
        "code": "document_not_found",
        "message": "Contact does not exist",
    }
    assert call(brevo_sim, "GET", "/contacts/x", params={"identifierType": "bogus"}).status_code == 400


def test_put_updates_only(brevo_sim):
    r = call(brevo_sim, "PUT", "/contacts/ghost%40example.com", {"attributes": {"FIRSTNAME": "X"}})
    assert r.status_code == 404 and r.json()["message"] == "Contact does not exist"
    assert brevo_sim.contacts == {}
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "listIds": [10, 11]})
    r = call(
        brevo_sim,
        "PUT",
        "/contacts/a%40example.com",
        {"attributes": {"FIRSTNAME": "A"}, "listIds": [12], "unlinkListIds": [10]},
    )
    assert r.status_code == 204 and r.content == b""
    assert brevo_sim.get_contact("a@example.com")["listIds"] == [11, 12]
    # rename via attributes.EMAIL
    assert (
        call(brevo_sim, "PUT", "/contacts/a%40example.com", {"attributes": {"EMAIL": "new@example.com"}}).status_code
        == 204
    )
    assert brevo_sim.get_contact("new@example.com") is not None and brevo_sim.get_contact("a@example.com") is None


def test_batch_update_is_all_or_nothing(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    r = call(
        brevo_sim,
        "POST",
        "/contacts/batch",
        {
            "contacts": [
                {"email": "a@example.com", "attributes": {"FIRSTNAME": "A"}},
                {"email": "ghost@example.com", "attributes": {"FIRSTNAME": "G"}},
                {"email": "ghost2@example.com"},
            ]
        },
    )
    assert r.status_code == 404 and r.json() == {
        "code": "document_not_found",
        "message": "No contact found for indexes 1,2",
    }
    assert "FIRSTNAME" not in brevo_sim.get_contact("a@example.com")["attributes"]
    r = call(brevo_sim, "POST", "/contacts/batch", {"contacts": [{"id": 1, "attributes": {"FIRSTNAME": "A"}}]})
    assert r.status_code == 204 and brevo_sim.get_contact("a@example.com")["attributes"]["FIRSTNAME"] == "A"


def test_strict_and_lenient_dates(brevo_sim, make_brevo_sim):
    for sim in (brevo_sim, lenient := make_brevo_sim(strict_dates=False)):
        assert call(sim, "POST", "/contacts/attributes/normal/MEETING_DATE", {"type": "date"}).status_code == 201
    r = call(brevo_sim, "POST", "/contacts", {"email": "a@example.com", "attributes": {"MEETING_DATE": "14/03/2025"}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_parameter" and "MEETING_DATE" in r.json()["message"]
    r = call(
        lenient,
        "POST",
        "/contacts",
        {"email": "a@example.com", "attributes": {"MEETING_DATE": "14/03/2025", "FIRSTNAME": "A"}},
    )
    assert r.status_code == 201
    assert lenient.get_contact("a@example.com")["attributes"] == {"FIRSTNAME": "A"}


def test_concurrent_upserts_create_one_contact(brevo_sim):
    def upsert() -> None:
        call(brevo_sim, "POST", "/contacts", {"email": "race@example.com", "updateEnabled": True})

    threads = [threading.Thread(target=upsert) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(brevo_sim.contacts) == 1


def test_list_contacts_modified_or_created_since(brevo_sim):
    """``GET /contacts?modifiedSince=…``: contacts whose record changed since then (any update)."""
    call(brevo_sim, "POST", "/contacts", {"email": "early@example.com"})
    call(brevo_sim, "POST", "/contacts", {"email": "touched@example.com"})
    with brevo_sim.lock:
        for c in brevo_sim.contacts.values():
            c["createdAt"] = c["modifiedAt"] = "2026-01-01T10:00:00.000Z"
    call(
        brevo_sim,
        "POST",
        "/contacts",
        {"email": "touched@example.com", "attributes": {"FIRSTNAME": "T"}, "updateEnabled": True},
    )
    call(brevo_sim, "POST", "/contacts", {"email": "late@example.com"})
    since = {"modifiedSince": "2026-01-01T10:00:01.000Z", "limit": 1000}
    modified = call(brevo_sim, "GET", "/contacts", params=since).json()
    assert sorted(c["email"] for c in modified["contacts"]) == ["late@example.com", "touched@example.com"]
    assert modified["count"] == 2
    created = call(brevo_sim, "GET", "/contacts", params={"createdSince": "2026-01-01T11:00:00+01:00"}).json()
    assert [c["email"] for c in created["contacts"]] == ["late@example.com", "touched@example.com", "early@example.com"]
    for bad in ("2026-01-01", "2026-01-01T10:00:00", "yesterday"):
        r = call(brevo_sim, "GET", "/contacts", params={"modifiedSince": bad})
        assert r.status_code == 400 and r.json()["code"] == "invalid_parameter"
