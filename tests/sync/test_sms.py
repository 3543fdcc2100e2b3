"""Who keeps a shared SMS number (sync/sms.py): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calendly_sync.sync.sms import SmsClaim, dropped_message, held_message, owners

T = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def test_the_contact_that_first_booked_with_a_number_keeps_it():
    claims = [
        SmsClaim("zoe@acme.example", "+14045550101", T),
        SmsClaim("ana@acme.example", "+14045550101", T + timedelta(days=2)),
        SmsClaim("bob@acme.example", "+14045550101", T + timedelta(minutes=1)),
        SmsClaim("ana@acme.example.org", "+33612345678", T + timedelta(days=9)),
    ]
    assert owners(claims) == {"+14045550101": "zoe@acme.example", "+33612345678": "ana@acme.example.org"}
    assert owners(reversed(claims)) == owners(claims)  # the order the claims come in does not matter


def test_ties_go_to_the_lower_address_and_held_numbers_to_nobody():
    claims = [SmsClaim("b@x.example", "+14045550101", T), SmsClaim("a@x.example", "+14045550101", T)]
    assert owners(claims) == {"+14045550101": "a@x.example"}
    assert owners(claims, held={"+14045550101"}) == {}


def test_the_warnings_name_the_number_and_who_keeps_it():
    assert "+14045550101" in dropped_message("+14045550101", "a@x.example")
    assert "a@x.example" in dropped_message("+14045550101", "a@x.example")
    assert "+14045550101" in held_message("+14045550101") and "outside" in held_message("+14045550101")
