"""Realistic, messy booking data for both simulators: what a real Calendly account sends to Brevo.

Why: data where every invitee is a different person with a unique, well-formed phone number hides
the costly cases. Real accounts have a team's switchboard number given by several colleagues, one
person booking with a work and a personal address (same mobile), repeat bookers who spell their
address in different cases, group events with several invitees, invalid and foreign numbers, long
free-text answers, and numbers that Brevo already holds for a contact the connector never made.

:func:`realistic_data` plans such a data set from a seed (``random.Random`` only, so the same seed
always gives the same data) without touching a simulator; :meth:`RealisticData.book` books it into
the Calendly simulator and :meth:`RealisticData.seed_brevo` puts the outside holders of numbers
into the Brevo simulator. The plan is plain data, so a test can compute the Brevo state it should
lead to on its own, from the plan rather than from the connector.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import phonenumbers

QUESTIONS = ["Company name", "Your role", "Phone number"]

FIRST = [
    "Levi",
    "Madison",
    "Jordan",
    "Tyler",
    "Hannah",
    "Marcus",
    "Olivia",
    "Ethan",
    "Amelia",
    "Noah",
    "Priya",
    "Lukas",
]
LAST = ["Duncan", "Brooks", "Carter", "Nguyen", "Reyes", "Walker", "Patel", "Kim", "Hughes", "Costa", "Müller", "Iyer"]
COMPANIES = [
    ("Acme Inc", "acme.example"),
    ("Globex GmbH", "globex.example"),
    ("Initech", "initech.example"),
    ("Umbrella Health", "umbrella-health.example"),
    ("Hooli", "hooli.example"),
    ("Pied Piper", "piedpiper.example"),
    ("Vandelay Industries", "vandelay.example"),
    ("Stark Logistics", "stark-logistics.example"),
]
FREE_MAIL = ["gmail.example", "outlook.example", "proton.example"]
ROLES = ["CEO", "Head of Marketing", "Sales Manager", "Founder", "Operations Lead", "CTO", "Growth Marketer"]
US_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
US_AREAS = ["212", "404", "415", "312", "617", "512", "206", "303"]
#: country → (time zone, country code, national mobile prefix, subscriber digits)
FOREIGN = {
    "GB": ("Europe/London", "44", "7700", 6),
    "DE": ("Europe/Berlin", "49", "151", 8),
    "FR": ("Europe/Paris", "33", "6", 8),
    "IN": ("Asia/Kolkata", "91", "98", 8),
    "BR": ("America/Sao_Paulo", "55", "119", 8),
    "AU": ("Australia/Sydney", "61", "412", 6),
}
INVALID = ["12345", "n/a", "call me on zoom", "0000", "+1 555", "555-CALL-NOW"]
FILLER = (
    "We are evaluating scheduling and CRM integrations for our sales and onboarding teams across "
    "three regions, and would like to understand pricing, data residency and how bookings flow into "
    "our marketing automations."
)

#: Shares of people by how they give a phone number (the rest: a unique US number).
PHONE_KINDS = (
    ("switchboard", 0.05),  # a team's shared number, each colleague typing it their own way
    ("two_emails", 0.06),  # one person, a work and a personal address, one mobile
    ("foreign", 0.12),  # a mobile from another country, with that country's time zone
    ("held", 0.05),  # a number Brevo already holds for a contact outside the connector
    ("invalid", 0.04),  # not a phone number at all
    ("mismatched", 0.03),  # a national number whose country the time zone does not give
    ("none", 0.08),  # no answer to the phone question
)


@dataclass(frozen=True)
class Person:
    """Someone who books: one or two addresses (lower case), how they type their number, where they are."""

    name: str
    emails: tuple[str, ...]
    phone: str | None  # as typed in the booking form; None: left blank
    e164: str | None  # the number it stands for, when it is one (for the plan's own bookkeeping)
    timezone: str
    company: str
    role: str
    kind: str


@dataclass(frozen=True)
class Seat:
    """One invitee of one meeting: who, with which spelling of which address, booked when."""

    person: int
    email: str  # as typed (case variants included)
    created_at: datetime
    answers: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Meeting:
    start: datetime
    seats: tuple[Seat, ...]


@dataclass
class RealisticData:
    """A planned data set: people, meetings (each with its seats) and Brevo's outside holders."""

    people: list[Person]
    meetings: list[Meeting]
    held_elsewhere: list[tuple[str, str]]  # (address of a contact outside the connector, its SMS)
    event_type: dict[str, Any] = field(default_factory=dict)  # set by book()

    @property
    def invitees(self) -> int:
        return sum(len(m.seats) for m in self.meetings)

    def seats(self) -> list[Seat]:
        return [s for m in self.meetings for s in m.seats]

    def describe(self) -> str:
        kinds: dict[str, int] = {}
        for p in self.people:
            kinds[p.kind] = kinds.get(p.kind, 0) + 1
        emails = {s.email.lower() for s in self.seats()}
        variants = sum(1 for s in self.seats() if s.email != s.email.lower())
        groups = sum(1 for m in self.meetings if len(m.seats) > 1)
        return (
            f"{len(self.meetings):,} events ({groups} with several invitees), {self.invitees:,} invitees, "
            f"{len(self.people):,} people, {len(emails):,} addresses ({variants} bookings typed in another case); "
            f"phones: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + f"; "
            f"{len(self.held_elsewhere)} numbers already held in Brevo by outside contacts"
        )

    def book(
        self,
        sim: Any,
        *,
        event_type: dict[str, Any] | None = None,
        name: str = "Discovery Call",
        fire_webhooks: bool = False,
    ) -> list[dict[str, Any]]:
        """Book every meeting into the Calendly simulator (one group event type unless given)."""
        if event_type is None:
            most = max((len(m.seats) for m in self.meetings), default=1)
            event_type = sim.add_event_type(
                name, QUESTIONS, kind="group", invitee_limit=max(2, most), fire_webhooks=False
            )
        self.event_type = {"uri": event_type["uri"], "name": event_type["name"]}
        booked = []
        for meeting in self.meetings:
            event_uri = None
            for seat in meeting.seats:
                person = self.people[seat.person]
                inv = sim.book(
                    event_type["uri"],
                    seat.email,
                    person.name,
                    meeting.start,
                    questions_and_answers=[dict(a) for a in seat.answers],
                    timezone=person.timezone,
                    created_at=seat.created_at,
                    event_uri=event_uri,
                    fire_webhooks=fire_webhooks,
                )
                event_uri = event_uri or inv["event"]
                booked.append(inv)
        return booked

    def seed_brevo(self, sim: Any) -> None:
        """Give Brevo the contacts outside the connector that already hold some of these numbers."""
        for email, sms in self.held_elsewhere:
            sim.seed_contact(email, {"SMS": sms})


def _valid(e164: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False


def _parsed(typed: str, region: str) -> str | None:
    text = "+" + typed[2:] if typed.startswith("00") else typed
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _Numbers:
    """Unique valid numbers, each typed in one of the ways people type them."""

    def __init__(self, r: random.Random) -> None:
        self.r = r
        self.used: set[str] = set()

    def us(self) -> tuple[str, str]:
        while True:
            area = self.r.choice(US_AREAS)
            exchange = self.r.randrange(201, 999)
            line = self.r.randrange(0, 10000)
            e164 = f"+1{area}{exchange:03d}{line:04d}"
            if e164 not in self.used and _valid(e164):
                self.used.add(e164)
                return e164, self.typed_us(e164)

    def typed_us(self, e164: str) -> str:
        area, exchange, line = e164[2:5], e164[5:8], e164[8:]
        return self.r.choice(
            [f"({area}) {exchange}-{line}", f"{area}-{exchange}-{line}", f"+1 {area} {exchange} {line}", e164]
        )

    def foreign(self, country: str) -> tuple[str, str]:
        _, code, prefix, digits = FOREIGN[country]
        while True:
            rest = "".join(str(self.r.randrange(10)) for _ in range(digits))
            e164 = f"+{code}{prefix}{rest}"
            if e164 not in self.used and _valid(e164):
                self.used.add(e164)
                typed = self.r.choice([f"0{prefix} {rest}", f"+{code} {prefix} {rest}", f"00{code}{prefix}{rest}"])
                if _parsed(typed, country) != e164:  # a national spelling that country does not read back
                    typed = f"+{code} {prefix} {rest}"
                return e164, typed


def _case_variant(r: random.Random, email: str) -> str:
    roll = r.random()
    if roll < 0.72:
        return email
    local, _, domain = email.partition("@")
    if roll < 0.88:
        return ".".join(part[:1].upper() + part[1:] for part in local.split(".")) + "@" + domain.capitalize()
    return email.upper()


def _people(r: random.Random, n: int, unique_phones: bool) -> tuple[list[Person], list[tuple[str, str]]]:
    numbers = _Numbers(r)
    people: list[Person] = []
    held: list[tuple[str, str]] = []
    taken: set[str] = set()

    def address(first: str, last: str, domain: str) -> str:
        base = f"{first}.{last}".lower().replace("ü", "u")
        email, k = f"{base}@{domain}", 1
        while email in taken:
            k += 1
            email = f"{base}{k}@{domain}"
        taken.add(email)
        return email

    while len(people) < n:
        first, last = r.choice(FIRST), r.choice(LAST)
        company, domain = r.choice(COMPANIES)
        role = r.choice(ROLES)
        if r.random() < 0.03:
            company = f"{company} — {FILLER} " * r.randint(1, 4)  # a long free-text answer
            company = company.strip()
        if r.random() < 0.02:
            role = f"{role}, {FILLER}"
        kind = "unique"
        if not unique_phones:
            roll, acc = r.random(), 0.0
            for name, share in PHONE_KINDS:
                acc += share
                if roll < acc:
                    kind = name
                    break
        tz = r.choice(US_ZONES)
        if kind == "switchboard":
            e164, _ = numbers.us()
            size = min(r.randint(3, 5), n - len(people))
            for _ in range(size):
                first, last = r.choice(FIRST), r.choice(LAST)
                people.append(
                    Person(
                        f"{first} {last}",
                        (address(first, last, domain),),
                        numbers.typed_us(e164),
                        e164,
                        r.choice(US_ZONES),
                        company,
                        r.choice(ROLES),
                        kind,
                    )
                )
            continue
        emails: tuple[str, ...] = (address(first, last, domain),)
        phone: str | None
        e164n: str | None
        if kind == "two_emails":
            e164n, phone = numbers.us()
            emails = (emails[0], address(first, f"{last}{r.randrange(10, 99)}", r.choice(FREE_MAIL)))
        elif kind == "foreign":
            country = r.choice(sorted(FOREIGN))
            tz = FOREIGN[country][0]
            e164n, phone = numbers.foreign(country)
        elif kind == "held":
            e164n, phone = numbers.us()
            held.append((f"frontdesk{len(held) + 1}@outside.example", e164n))
        elif kind == "invalid":
            e164n, phone = None, r.choice(INVALID)
        elif kind == "mismatched":
            # A UK mobile typed nationally ("07700 …") by someone whose time zone says US: no country code.
            uk, _ = numbers.foreign("GB")
            e164n, phone = None, f"0{uk[3:7]} {uk[7:]}"
        elif kind == "none":
            e164n, phone = None, None
        else:
            e164n, phone = numbers.us()
        people.append(Person(f"{first} {last}", emails, phone, e164n, tz, company, role, kind))
    return people[:n], held


def realistic_data(
    *,
    events: int = 600,
    invitees: int = 760,
    people: int | None = None,
    seed: int = 12,
    start: datetime,
    step: timedelta = timedelta(minutes=30),
    unique_phones: bool = False,
) -> RealisticData:
    """Plan ``events`` meetings with ``invitees`` seats among ``people`` (default ≈ 55 % of the seats).

    Every person books at least once; the other seats go to repeat bookers. About one meeting in
    seven takes several invitees (up to four). Each seat is created between one and thirty days
    before its meeting, at a distinct time. ``unique_phones=True`` gives everyone a unique, valid US
    number and one address typed one way (the old benchmark data).
    """
    if invitees < events:
        raise ValueError("every event needs at least one invitee")
    r = random.Random(seed)
    n_people = people or max(1, min(invitees, round(invitees * 0.55)))
    crowd, held = _people(r, n_people, unique_phones)
    # who sits where: everyone once, then repeat bookers (a few people book often)
    order = list(range(len(crowd)))
    r.shuffle(order)
    weights = [1.0 / (1 + (i % 17)) for i in range(len(crowd))]
    while len(order) < invitees:
        order.append(r.choices(range(len(crowd)), weights=weights)[0])
    order = order[:invitees]
    r.shuffle(order)
    sizes = [1] * events
    extra = invitees - events
    group_pool = list(range(events))
    r.shuffle(group_pool)
    pool = group_pool[: max(1, events // 7)]
    while extra > 0:
        open_events = [i for i in pool if sizes[i] < 4]
        if not open_events:
            pool = group_pool[: len(pool) * 2]
            continue
        sizes[r.choice(open_events)] += 1
        extra -= 1
    meetings: list[Meeting] = []
    seat_no = 0
    used_times: set[datetime] = set()
    for i, size in enumerate(sizes):
        meeting_start = start + step * i
        seats: list[Seat] = []
        present: set[int] = set()
        for _ in range(size):
            who = order[seat_no]
            seat_no += 1
            if who in present:  # nobody sits twice in one meeting: take someone not there yet
                who = next(p for p in range(len(crowd)) if p not in present)
            present.add(who)
            person = crowd[who]
            created = meeting_start - timedelta(days=r.randint(1, 30), minutes=r.randrange(0, 24 * 60))
            while created in used_times:
                created += timedelta(seconds=1)
            used_times.add(created)
            answers = [
                {"question": "Company name", "answer": person.company, "position": 0},
                {"question": "Your role", "answer": person.role, "position": 1},
            ]
            if person.phone is not None:
                answers.append({"question": "Phone number", "answer": person.phone, "position": 2})
            email = r.choice(person.emails) if len(person.emails) > 1 else person.emails[0]
            seats.append(Seat(who, email if unique_phones else _case_variant(r, email), created, tuple(answers)))
        meetings.append(Meeting(meeting_start, tuple(seats)))
    return RealisticData(crowd, meetings, held)
