"""The realistic data generator (sandbox/realistic.py): seeded, messy in the documented ways, bookable."""

from __future__ import annotations

from datetime import UTC, datetime

import phonenumbers

from calendly_sync.sandbox.realistic import realistic_data

START = datetime(2027, 1, 4, 9, tzinfo=UTC)


def test_the_same_seed_gives_the_same_data_and_the_issues_shape():
    data = realistic_data(start=START)
    assert data == realistic_data(start=START) and data != realistic_data(start=START, seed=13)
    assert (len(data.meetings), data.invitees) == (600, 760)
    addresses = {s.email.lower() for s in data.seats()}
    assert 400 <= len(data.people) <= 440 and len(addresses) < data.invitees  # repeat bookers
    numbers: dict[str, set[str]] = {}
    for p in data.people:
        if p.e164:
            numbers.setdefault(p.e164, set()).update(p.emails)
    assert sum(1 for owners in numbers.values() if len(owners) >= 3) >= 5  # switchboards
    assert any(len(p.emails) == 2 for p in data.people)  # a work and a personal address
    assert sum(1 for s in data.seats() if s.email != s.email.lower()) > 100  # case variants
    assert max(len(m.seats) for m in data.meetings) == 4
    assert {p.kind for p in data.people} >= {"invalid", "foreign", "mismatched", "none", "held"}
    assert any(len(p.company) > 500 for p in data.people)  # long answers
    for p in data.people:  # every number meant to be valid is, the way its owner types it
        if p.e164:
            assert phonenumbers.is_valid_number(phonenumbers.parse(p.e164, None))
    assert len(data.held_elsewhere) == sum(1 for p in data.people if p.kind == "held")
    for seat in data.seats():  # nobody sits twice in one meeting
        assert seat.email
    for meeting in data.meetings:
        assert len({s.person for s in meeting.seats}) == len(meeting.seats)


def test_unique_phones_is_the_old_benchmark_data():
    data = realistic_data(start=START, events=50, invitees=60, unique_phones=True)
    assert {p.kind for p in data.people} == {"unique"}
    assert len({p.e164 for p in data.people}) == len(data.people)
    assert all(s.email == s.email.lower() for s in data.seats())


def test_booked_into_the_simulators(calendly_sim, brevo_sim):
    data = realistic_data(start=START, events=30, invitees=45, seed=3)
    booked = data.book(calendly_sim)
    data.seed_brevo(brevo_sim)
    assert len(booked) == 45 and len({b["event"] for b in booked}) == 30
    assert [b["email"] for b in booked] == [s.email for s in data.seats()]
    assert len(brevo_sim.contacts) == len(data.held_elsewhere)
    for email, sms in data.held_elsewhere:
        assert brevo_sim.get_contact(email)["attributes"]["SMS"] == sms
