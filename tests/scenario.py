"""A realistic booking history in the simulated Calendly, and the Brevo state it should produce.

The expected state is computed here from the simulator's own records with plain rules read off
the product's documented behaviour, not with the connector's reducer, so a test comparing the two
checks the connector rather than restating it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

QUESTIONS = ["Company name", "Your role", "Phone number"]
ZONES = ["America/New_York", "Europe/Paris", "Europe/London", "Asia/Kolkata", "America/Chicago", "Australia/Sydney"]
FIRST = ["Levi", "Ana", "Zoe", "Omar", "Mei", "Lars", "Priya", "Tom", "Inès", "Kofi", "Sara", "Hugo"]
LAST = ["Duncan", "Pereira", "Ng", "Haddad", "Chen", "Berg", "Iyer", "Walsh", "Morel", "Mensah", "Costa", "Roux"]


@dataclass
class Person:
    email: str
    name: str
    company: str
    role: str
    phone: str
    timezone: str


def _phone(rng: random.Random, i: int) -> str:
    """Unique valid numbers in several formats, with some invalid ones (Brevo must never see those)."""
    kind = rng.random()
    if kind < 0.10:
        return "12345"  # invalid: dropped with a warning
    if kind < 0.15:
        return ""  # no phone given
    if kind < 0.55:
        return f"+1 415 {200 + i // 10000:03d}-{i % 10000:04d}"  # US, international format
    if kind < 0.80:
        return f"+33 6 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 1{rng.randint(0, 9)}"
    return f"+44 7700 {900000 + i % 100000:06d}"[:16]


def make_people(n: int, seed: int) -> list[Person]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        email = f"{first.lower().replace('è', 'e').replace('ï', 'i')}.{last.lower()}.{i}@example.com"
        people.append(
            Person(
                email,
                f"{first} {last}",
                f"Company {i % 97}",
                rng.choice(["CTO", "CEO", "Engineer"]),
                _phone(rng, i),
                rng.choice(ZONES),
            )
        )
    return people


@dataclass
class Scenario:
    people: list[Person]
    event_types: dict[str, str]  # key → URI
    lists: dict[str, list[int]]  # event type URI → lists
    facts: Counter  # expected automation events by name


def build(
    sim: Any, *, events: int = 1000, seed: int = 7, fire_webhooks: bool = False, people: int | None = None
) -> Scenario:
    """Bookings across three mapped event types, with cancellations, reschedules and no-shows."""
    rng = random.Random(seed)
    crowd = make_people(people or max(10, int(events * 0.6)), seed)
    types = {
        "discovery": sim.add_event_type("Discovery Call", QUESTIONS, fire_webhooks=False)["uri"],
        "demo": sim.add_event_type("Product Demo", QUESTIONS, fire_webhooks=False)["uri"],
        "onboarding": sim.add_event_type("Onboarding", QUESTIONS, fire_webhooks=False)["uri"],
    }
    lists = {types["discovery"]: [10], types["demo"]: [11], types["onboarding"]: [10, 12]}
    facts: Counter = Counter()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(events):
        person = rng.choice(crowd)
        key = rng.choice(list(types))
        start = now + timedelta(days=rng.randint(-60, 80), hours=rng.randint(-6, 6))
        answers = [
            {"question": "Company name", "answer": person.company, "position": 0},
            {"question": "Your role", "answer": person.role, "position": 1},
        ]
        if person.phone:
            answers.append({"question": "Phone number", "answer": person.phone, "position": 2})
        email = person.email if rng.random() < 0.85 else person.email.upper()  # same person, other case
        inv = sim.book(
            types[key],
            email,
            person.name,
            start,
            questions_and_answers=answers,
            timezone=person.timezone,
            fire_webhooks=fire_webhooks,
        )
        facts["calendly_booking_created"] += 1
        roll = rng.random()
        if roll < 0.10:
            sim.cancel(inv["uri"], reason="Conflict", fire_webhooks=fire_webhooks)
            facts["calendly_booking_canceled"] += 1
        elif roll < 0.17:
            new = sim.reschedule(inv["uri"], start + timedelta(days=rng.randint(1, 9)), fire_webhooks=fire_webhooks)
            facts["calendly_booking_rescheduled"] += 1
            if rng.random() < 0.2:
                sim.cancel(new["uri"], reason="Changed my mind", fire_webhooks=fire_webhooks)
                facts["calendly_booking_canceled"] += 1
        elif roll < 0.30 and start < now:
            no_show = sim.mark_no_show(inv["uri"], fire_webhooks=fire_webhooks)
            facts["calendly_no_show"] += 1
            if rng.random() < 0.25:
                sim.unmark_no_show(no_show["uri"], fire_webhooks=fire_webhooks)
                facts["calendly_no_show_removed"] += 1
    return Scenario(crowd, types, lists, facts)


def _e164(raw: str, tz: str) -> str | None:
    region = {
        "America/New_York": "US",
        "America/Chicago": "US",
        "Europe/Paris": "FR",
        "Europe/London": "GB",
        "Asia/Kolkata": "IN",
        "Australia/Sydney": "AU",
    }.get(tz)
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def expected_brevo_state(sim: Any, scenario: Scenario) -> dict[str, dict[str, Any]]:
    """email → {"attributes": …, "listIds": …}, from the simulator's invitees."""
    by_email: dict[str, list[dict[str, Any]]] = {}
    with sim.lock:
        invitees = [dict(i) for i in sim.invitees.values()]
        events = {eid: dict(e) for eid, e in sim.events.items()}
    for inv in invitees:
        inv["_ev"] = events[inv["_event"]]
        by_email.setdefault(inv["email"].lower(), []).append(inv)
    state = {}
    for email, bookings in by_email.items():
        candidates = [b for b in bookings if not (b["status"] == "canceled" and b["rescheduled"])] or bookings
        current = max(candidates, key=lambda b: (b["created_at"], b["uri"]))
        if current["status"] == "canceled" and not current["rescheduled"]:
            status = "cancelled"
        elif current["status"] == "active" and current["no_show"]:
            status = "no_show"
        else:
            status = "booked"
        start = datetime.fromisoformat(current["_ev"]["start_time"].replace("Z", "+00:00"))
        answers = {qa["question"]: qa["answer"] for qa in current["questions_and_answers"]}
        first, _, last = current["name"].partition(" ")
        attributes = {
            "FIRSTNAME": first,
            "LASTNAME": last,
            "COMPANY": answers["Company name"],
            "JOB_TITLE": answers["Your role"],
            "CALENDLY_EVENT_TYPE": current["_ev"]["name"],
            "BOOKING_STATUS": status,
            "MEETING_DATE": start.astimezone(ZoneInfo(current["timezone"])).date().isoformat(),
        }
        phone = _e164(answers.get("Phone number", ""), current["timezone"]) if answers.get("Phone number") else None
        if phone:
            attributes["SMS"] = phone
        lists = sorted({i for b in bookings for i in scenario.lists[sim.render(b["_ev"])["event_type"]]})
        state[email] = {"attributes": attributes, "listIds": lists}
    return state


def actual_brevo_state(brevo_sim: Any) -> dict[str, dict[str, Any]]:
    out = {}
    with brevo_sim.lock:
        emails = [c["email"] for c in brevo_sim.contacts.values() if c.get("email")]
    for c in (brevo_sim.get_contact(e) for e in emails):
        attrs = {
            k: v
            for k, v in c["attributes"].items()
            if k
            in (
                "FIRSTNAME",
                "LASTNAME",
                "COMPANY",
                "JOB_TITLE",
                "CALENDLY_EVENT_TYPE",
                "BOOKING_STATUS",
                "MEETING_DATE",
                "SMS",
            )
        }
        if "SMS" in attrs:
            attrs["SMS"] = "+" + str(attrs["SMS"]).lstrip("+")
        out[c["email"].lower()] = {"attributes": attrs, "listIds": sorted(c["listIds"])}
    return out


def diff(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], limit: int = 5) -> list[str]:
    problems = []
    for email in sorted(set(expected) | set(actual)):
        if expected.get(email) != actual.get(email):
            problems.append(f"{email}: expected {expected.get(email)} got {actual.get(email)}")
    return problems[:limit] + ([f"… {len(problems) - limit} more"] if len(problems) > limit else [])
