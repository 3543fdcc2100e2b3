"""The Brevo state a realistic data set should end in, computed from the plan alone.

Plain rules read off the product's documented behaviour (README, "Shared phone numbers"), written
here again rather than imported, so that a test comparing this with the simulator checks the
connector instead of restating it:

* one contact per address, whatever its case; its attributes come from its most recently created
  booking (FIRSTNAME/LASTNAME split at the first space, COMPANY, JOB_TITLE, the event type, the
  meeting's date in the invitee's time zone, "booked"); every contact is in list 10;
* SMS: the number that booking gives, in E.164 (a national number takes the country of the
  invitee's time zone; anything that is not a valid number is dropped). Of the contacts giving one
  number, only the one whose first booking with it was created first keeps it (ties: the lower
  address); a number Brevo already holds for an outside contact goes to nobody, and that outside
  contact keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from calendly_sync.sandbox.realistic import RealisticData

REGION = {
    "America/New_York": "US",
    "America/Chicago": "US",
    "America/Denver": "US",
    "America/Los_Angeles": "US",
    "Europe/London": "GB",
    "Europe/Berlin": "DE",
    "Europe/Paris": "FR",
    "Asia/Kolkata": "IN",
    "America/Sao_Paulo": "BR",
    "Australia/Sydney": "AU",
}
LIST = 10


def e164(raw: str | None, tz: str) -> str | None:
    if not raw:
        return None
    text = raw.strip()
    compact = text.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    if compact.startswith("00"):
        text = "+" + compact[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else REGION.get(tz))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Expected:
    state: dict[str, dict[str, Any]]  # email → {"attributes", "listIds"} as Brevo should hold it
    dropped: dict[str, str]  # email → the number it gives but is not sent (kept by another, or held)
    owners: dict[str, str]  # number → the email that keeps it (numbers with several claimants only)


def expected(data: RealisticData, event_type_name: str = "Discovery Call") -> Expected:
    by_email: dict[str, list[tuple[Any, Any]]] = {}
    for meeting in data.meetings:
        for seat in meeting.seats:
            by_email.setdefault(seat.email.lower(), []).append((seat, meeting))
    state: dict[str, dict[str, Any]] = {}
    claims: dict[str, tuple[str, Any]] = {}  # email → (number, first booked with it)
    for email, seats in by_email.items():
        seat, meeting = max(seats, key=lambda sm: sm[0].created_at)
        person = data.people[seat.person]
        answers = {a["question"]: a["answer"] for a in seat.answers}
        first, _, last = person.name.partition(" ")
        attributes = {
            "FIRSTNAME": first,
            "LASTNAME": last,
            "COMPANY": answers["Company name"],
            "JOB_TITLE": answers["Your role"],
            "CALENDLY_EVENT_TYPE": event_type_name,
            "BOOKING_STATUS": "booked",
            "MEETING_DATE": meeting.start.astimezone(ZoneInfo(person.timezone)).date().isoformat(),
        }
        state[email] = {"attributes": attributes, "listIds": [LIST]}
        number = e164(answers.get("Phone number"), person.timezone)
        if number:
            since = min(
                s.created_at
                for s, _ in seats
                if e164({a["question"]: a["answer"] for a in s.answers}.get("Phone number"), person.timezone) == number
            )
            claims[email] = (number, since)
    held = {sms for _, sms in data.held_elsewhere}
    by_number: dict[str, list[tuple[Any, str]]] = {}
    for email, (number, since) in claims.items():
        by_number.setdefault(number, []).append((since, email))
    owners: dict[str, str] = {}
    dropped: dict[str, str] = {}
    for number, claimants in by_number.items():
        keeper = None if number in held else min(claimants)[1]
        if keeper:
            state[keeper]["attributes"]["SMS"] = number
        if len(claimants) > 1 and keeper:
            owners[number] = keeper
        for _, email in claimants:
            if email != keeper:
                dropped[email] = number
    for email, sms in data.held_elsewhere:
        state[email] = {"attributes": {"SMS": sms}, "listIds": []}
    return Expected(state, dropped, owners)
