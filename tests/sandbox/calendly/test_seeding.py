"""Seeded data is realistic and deterministic (sandbox/calendly/seeding.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import CALENDLY_TIME


def test_seeded_data_is_realistic_and_deterministic() -> None:
    now = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    a = CalendlySim(seed=7, clock=lambda: now)
    b = CalendlySim(seed=7, clock=lambda: now)
    assert a.render(list(a.invitees.values())) == b.render(list(b.invitees.values()))
    names = {et["name"] for et in a.event_types.values()}
    assert {"Discovery Call", "Product Demo", "Onboarding Session"} <= names and 3 <= len(names) <= 5
    originals = list(a.events.values())
    assert len(originals) >= 40
    invs = list(a.invitees.values())
    assert any(i["status"] == "canceled" and not i["rescheduled"] for i in invs)
    assert any(i["rescheduled"] and i["new_invitee"] for i in invs)
    assert all(CALENDLY_TIME.match(i["created_at"]) for i in invs)
    assert any(i["tracking"]["utm_source"] for i in invs)
    assert any(i["first_name"] for i in invs) and any(i["first_name"] is None for i in invs)
    phones = [qa["answer"] for i in invs for qa in i["questions_and_answers"] if qa["question"] == "Phone number"]
    phones += [i["text_reminder_number"] for i in invs if i["text_reminder_number"]]
    assert any(p.startswith("+") for p in phones) and any(not p.startswith("+") for p in phones)
    starts = [e["_start"] for e in a.events.values()]
    assert min(starts) < now.timestamp() < max(starts)
    assert all(to <= now.timestamp() for to in (i["_created"] for i in invs))
