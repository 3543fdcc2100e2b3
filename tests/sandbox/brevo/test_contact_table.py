"""The simulator finds contacts by email, ext_id and SMS through indexes that follow every change."""

from __future__ import annotations

from typing import Any

from calendly_sync.sandbox.brevo.records import ContactTable


def contact(cid: int, email: str | None, sms: str | None = None, ext_id: str | None = None) -> dict[str, Any]:
    return {"id": cid, "email": email, "_sms": sms, "ext_id": ext_id}


def scan(table: ContactTable, key: str, value: Any) -> dict[str, Any] | None:
    return next((c for c in table.values() if c[key] is not None and c[key] == value), None)


def test_lookups_answer_what_a_scan_answers_through_inserts_changes_and_deletions():
    table = ContactTable()
    for i in range(1, 6):
        table[i] = contact(i, f"p{i}@example.com", f"3361234567{i}", f"x{i}" if i % 2 else None)
    with table.changing(table[2]):  # a number moves, an address changes
        table[2]["_sms"] = "33612345671"
        table[2]["email"] = "new@example.com"
    del table[3]
    table.pop(4)
    table[6] = contact(6, "p1@example.com")  # a duplicate address: the oldest holder answers
    for key, values in {
        "email": ["p1@example.com", "p2@example.com", "new@example.com", "p3@example.com", "nobody@example.com"],
        "_sms": ["33612345671", "33612345672", "33612345673", "33612345675"],
        "ext_id": ["x1", "x3", "x5", "x9"],
    }.items():
        for value in values:
            assert table.find(key, value) is scan(table, key, value), (key, value)
    assert table.find("email", "p1@example.com")["id"] == 1
    table.clear()
    assert table.find("email", "new@example.com") is None and not table


def test_a_restored_account_is_indexed(brevo_sim):
    brevo_sim.restore({**brevo_sim.snapshot(), "contacts": [contact(7, "kept@example.com", "33698765432")]})
    assert isinstance(brevo_sim.contacts, ContactTable)
    assert brevo_sim._by_email("kept@example.com")["id"] == 7 and brevo_sim._by_phone("33698765432")["id"] == 7
