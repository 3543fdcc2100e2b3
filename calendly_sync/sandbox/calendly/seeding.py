"""Seedable, realistic Calendly data for the simulator (no Faker: ``random.Random(seed)`` only).

Why: the sandbox and the sync tests need data with the awkward parts of real accounts — split
and single name fields, empty and full Q&A, phone numbers in E.164 and local formats from several
countries, UTM tracking on some bookings, group events with several invitees, cancellations,
reschedule pairs and no-shows — and the same seed must always give the same data.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from calendly_sync.sandbox.calendly.account import Account


def _us(r: random.Random) -> tuple[str, str]:
    area, mid, end = r.choice(["212", "404", "415", "312", "617", "512"]), "555", f"{r.randrange(100, 200):04d}"
    return f"+1{area}{mid}{end}", r.choice([f"({area}) {mid}-{end}", f"{area}-{mid}-{end}", f"+1 {area}-{mid}-{end}"])


def _uk(r: random.Random) -> tuple[str, str]:
    n = f"{r.randrange(900, 1000)}{r.randrange(0, 1000):03d}"
    return f"+447700{n}", r.choice([f"07700 {n}", f"+44 7700 {n}"])


def _de(r: random.Random) -> tuple[str, str]:
    n = f"{r.randrange(1000000, 9999999)}"
    return f"+49151{n}", r.choice([f"0151 {n}", f"+49 151 {n}"])


def _fr(r: random.Random) -> tuple[str, str]:
    d = [f"{r.randrange(0, 100):02d}" for _ in range(4)]
    return "+336" + "".join(d), r.choice(["06 " + " ".join(d), "+33 6 " + " ".join(d)])


def _br(r: random.Random) -> tuple[str, str]:
    a, b = r.randrange(1000, 9999), r.randrange(1000, 9999)
    return f"+55119{a}{b}", r.choice([f"(11) 9{a}-{b}", f"+55 11 9{a}-{b}"])


def _in(r: random.Random) -> tuple[str, str]:
    a, b = r.randrange(10000, 99999), r.randrange(10000, 99999)
    return f"+9198{a % 1000:03d}{b}", r.choice([f"098{a % 1000:03d} {b}", f"+91 98{a % 1000:03d} {b}"])


def _au(r: random.Random) -> tuple[str, str]:
    a, b = r.randrange(100, 999), r.randrange(100, 999)
    return f"+61412{a}{b}", r.choice([f"0412 {a} {b}", f"+61 412 {a} {b}"])


# country: (first names, last names, time zones, phone maker)
COUNTRIES: dict[str, tuple[list[str], list[str], list[str], Callable[[random.Random], tuple[str, str]]]] = {
    "US": (
        ["Levi", "Madison", "Jordan", "Tyler", "Hannah", "Marcus", "Olivia", "Ethan"],
        ["Duncan", "Brooks", "Carter", "Nguyen", "Reyes", "Walker", "Patel", "Kim"],
        ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
        _us,
    ),
    "GB": (
        ["Oliver", "Amelia", "Harry", "Isla", "George", "Freya"],
        ["Smith", "Hughes", "Evans", "O'Brien", "Wright", "Khan"],
        ["Europe/London"],
        _uk,
    ),
    "DE": (
        ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Marie"],
        ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"],
        ["Europe/Berlin"],
        _de,
    ),
    "FR": (
        ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon"],
        ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent"],
        ["Europe/Paris"],
        _fr,
    ),
    "BR": (
        ["João", "Maria", "Pedro", "Ana", "Gabriel", "Juliana"],
        ["Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa"],
        ["America/Sao_Paulo"],
        _br,
    ),
    "IN": (
        ["Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Isha"],
        ["Sharma", "Iyer", "Reddy", "Gupta", "Nair", "Mehta"],
        ["Asia/Kolkata"],
        _in,
    ),
    "AU": (
        ["Jack", "Charlotte", "Noah", "Mia", "William", "Zoe"],
        ["Taylor", "Wilson", "Anderson", "Thompson", "White", "Martin"],
        ["Australia/Sydney"],
        _au,
    ),
}

COMPANIES = [
    ("Acme Inc", "acme.example"),
    ("Globex GmbH", "globex.example"),
    ("Initech", "initech.example"),
    ("Umbrella Health", "umbrella-health.example"),
    ("Soylent Foods", "soylent.example"),
    ("Hooli", "hooli.example"),
    ("Vandelay Industries", "vandelay.example"),
    ("Stark Logistics", "stark-logistics.example"),
    ("Wayne Analytics", "wayne-analytics.example"),
    ("Pied Piper", "piedpiper.example"),
    ("Tyrell Robotics", "tyrell.example"),
    ("Nakatomi Trading", "nakatomi.example"),
]
FREE_MAIL = ["gmail.example", "outlook.example", "yahoo.example", "proton.example"]
ROLES = ["CEO", "Head of Marketing", "Sales Manager", "Founder", "Operations Lead", "CTO", "Growth Marketer", ""]
TEAM_SIZES = ["1-10", "11-50", "51-200", "201-1000", "1000+"]
CANCEL_REASONS = [
    "Meeting conflict",
    "Something came up",
    "Found another solution",
    None,
    "Need to reschedule later",
    "Out sick",
]
UTM: dict[str, list[str | None]] = {
    "utm_source": ["google", "newsletter", "linkedin", "facebook", "partner"],
    "utm_medium": ["cpc", "email", "social", "referral"],
    "utm_campaign": ["spring_launch", "webinar_q3", "retargeting", "fall"],
    "utm_content": ["banner_a", "cta_footer", None, None],
    "utm_term": ["scheduling software", "crm integration", None, None, None],
}


def _ascii(text: str) -> str:
    table = str.maketrans({"ü": "u", "é": "e", "è": "e", "ã": "a", "ç": "c", "'": ""})
    return text.lower().translate(table)


def _person(r: random.Random) -> dict[str, Any]:
    country = r.choice(list(COUNTRIES))
    firsts, lasts, zones, phone = COUNTRIES[country]
    first, last = r.choice(firsts), r.choice(lasts)
    company, domain = r.choice(COMPANIES)
    if r.random() < 0.3:
        email = f"{_ascii(first)}{r.randrange(1, 99)}@{r.choice(FREE_MAIL)}"
    else:
        email = f"{_ascii(first)}.{_ascii(last).replace(' ', '')}@{domain}"
    e164, local = phone(r)
    return {
        "first": first,
        "last": last,
        "name": f"{first} {last}",
        "email": email,
        "company": company,
        "timezone": r.choice(zones),
        "phone": e164 if r.random() < 0.5 else local,
        "country": country,
    }


def _answers(r: random.Random, et: dict[str, Any], p: dict[str, Any]) -> list[dict[str, Any]]:
    qa = []
    for q in et["custom_questions"]:
        if not q["required"] and r.random() < 0.25:
            continue  # optional question left unanswered
        name = q["name"]
        if q["type"] == "phone_number":
            answer = p["phone"]
        elif q["type"] == "single_select":
            answer = r.choice(q["answer_choices"])
        elif q["type"] == "multi_select":
            answer = "\n".join(r.sample(q["answer_choices"], k=r.randint(1, len(q["answer_choices"]))))
        elif "role" in name.lower():
            answer = r.choice(ROLES)
        elif "compan" in name.lower():
            answer = p["company"]
        else:
            answer = r.choice(["Integrations with our CRM", "Pricing for teams", "Automations", "Just exploring"])
        qa.append({"question": name, "answer": answer, "position": q["position"]})
    return qa


def _tracking(r: random.Random) -> dict[str, Any] | None:
    if r.random() >= 0.35:
        return None
    return {k: r.choice(v) for k, v in UTM.items()}


def _slot(r: random.Random, now: datetime, lo_days: int, hi_days: int, duration: int) -> datetime:
    """A half-hour slot between 09:00 and 17:00 UTC on a weekday."""
    day = (now + timedelta(days=r.randint(lo_days, hi_days))).replace(hour=0, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    last = 17 * 60 - duration
    minutes = r.randrange(9 * 60, last + 1, 30)
    return day + timedelta(minutes=minutes)


def populate(sim: Account, seed: int, events: int = 40, now: datetime | None = None) -> dict[str, Any]:
    """Fill ``sim`` with event types, bookings, cancellations, reschedules and no-shows.

    Uses the simulator's Python API (``Account``) with ``fire_webhooks=False``, so it needs nothing
    from the server that calls it. Returns a summary (URIs, counts).
    """
    r = random.Random(seed)
    now = now or datetime.fromtimestamp(sim.now(), UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    admin_uri = sim.admin["uri"]
    member = sim.add_user("Sam Seller", "sam.seller@acme-sales.example", role="user", timezone_name="Europe/London")
    specs = [
        dict(
            name="Discovery Call",
            duration=30,
            split_name=True,
            locations=[{"kind": "zoom_conference"}],
            questions=[
                {"name": "Company name", "type": "string", "required": True},
                {"name": "Your role", "type": "string"},
                {"name": "Phone number", "type": "phone_number"},
            ],
        ),
        dict(
            name="Product Demo",
            duration=45,
            locations=[{"kind": "google_conference"}],
            questions=[
                {"name": "Company", "type": "string", "required": True},
                {"name": "Team size", "type": "single_select", "required": True, "answer_choices": TEAM_SIZES},
            ],
        ),
        dict(
            name="Onboarding Session",
            duration=60,
            owner_uri=member["uri"],
            questions=[],
            locations=[{"kind": "physical", "location": "221B Baker Street, London"}],
        ),
        dict(
            name="Group Workshop",
            duration=60,
            kind="group",
            invitee_limit=8,
            split_name=True,
            locations=[{"kind": "zoom_conference"}],
            questions=[
                {"name": "What would you like to learn?", "type": "text"},
                {"name": "Topics", "type": "multi_select", "answer_choices": ["Automation", "Reporting", "Billing"]},
            ],
        ),
        dict(
            name="Quick Chat",
            duration=15,
            locations=[{"kind": "outbound_call"}],
            questions=[{"name": "Phone number", "type": "phone_number", "required": True}],
        ),
    ]
    n_types = r.choice([3, 4, 5])
    ets = [sim.add_event_type(**{"owner_uri": admin_uri, **spec}, fire_webhooks=False) for spec in specs[:n_types]]
    # internal records carry the flags (split name, limits) the public objects do not show
    recs = {et["uri"]: sim.event_types[sim.uuid_of(et["uri"])] for et in ets}
    bookings: list[dict[str, Any]] = []
    taken: set[tuple[str, datetime]] = set()
    for _ in range(events):
        et = r.choice(ets)
        rec = recs[et["uri"]]
        for _try in range(20):
            start = _slot(r, now, -60, 30, et["duration"])
            if (rec["_owner"], start) not in taken:
                break
        taken.add((rec["_owner"], start))
        latest = min(now, start) - timedelta(minutes=r.randint(5, 120))
        created = latest - timedelta(
            minutes=r.randint(0, 14 * 24 * 60), seconds=r.randrange(60), microseconds=r.randrange(1_000_000)
        )
        n_inv = r.randint(1, 2) if et["kind"] == "group" else 1
        event_uri = None
        for _i in range(n_inv):
            p = _person(r)
            inv = sim.book(
                et["uri"],
                p["email"],
                p["name"],
                start,
                questions_and_answers=_answers(r, et, p),
                first_name=p["first"] if rec["_split_name"] else None,
                last_name=p["last"] if rec["_split_name"] else None,
                tracking=_tracking(r),
                text_reminder_number=p["phone"] if r.random() < 0.3 else None,
                timezone=p["timezone"] if r.random() < 0.95 else None,
                fire_webhooks=False,
                scheduling_method="api" if r.random() < 0.1 else None,
                event_uri=event_uri,
                created_at=created,
            )
            event_uri = inv["event"]
            bookings.append({"invitee": inv, "start": start, "created": created, "duration": et["duration"]})
            created += timedelta(minutes=r.randint(1, 600))
            created = min(created, latest)
    summary = {
        "event_types": [et["uri"] for et in ets],
        "member": member["uri"],
        "canceled": [],
        "rescheduled": [],
        "no_shows": [],
    }
    for b in bookings:
        inv, start, created = b["invitee"], b["start"], b["created"]
        roll = r.random()
        change_at = created + (min(now, start) - created) * r.uniform(0.2, 0.9)
        if roll < 0.10:
            sim.cancel(
                inv["uri"],
                r.choice(CANCEL_REASONS),
                "invitee" if r.random() < 0.8 else "host",
                fire_webhooks=False,
                at=change_at,
            )
            summary["canceled"].append(inv["uri"])
        elif roll < 0.15:
            new_start = start + timedelta(days=r.randint(1, 7))
            while new_start.weekday() >= 5:
                new_start += timedelta(days=1)
            new = sim.reschedule(inv["uri"], new_start, fire_webhooks=False, at=change_at)
            summary["rescheduled"].append((inv["uri"], new["uri"]))
        elif roll < 0.22 and start + timedelta(minutes=b["duration"] + 10) < now:
            ns = sim.mark_no_show(inv["uri"], fire_webhooks=False, at=start + timedelta(minutes=b["duration"] + 10))
            summary["no_shows"].append(ns["uri"])
    summary["invitees"] = len(bookings)
    return summary


def bulk_events(
    sim: Account, n: int, event_type_uri: str, *, start: datetime | None = None, step_minutes: int = 30
) -> list[str]:
    """Create exactly ``n`` scheduled events (one invitee each) quickly; returns their URIs."""
    base = start or (datetime.fromtimestamp(sim.now(), UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    uris = []
    for i in range(n):
        inv = sim.book(
            event_type_uri,
            f"bulk{i}@example.com",
            f"Bulk Invitee {i}",
            base + timedelta(minutes=step_minutes * i),
            fire_webhooks=False,
        )
        uris.append(inv["event"])
    return uris
