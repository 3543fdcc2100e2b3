"""Who keeps a shared phone number. Pure functions: no Django, no API client.

Brevo holds an SMS number on one contact only: a create or update that gives a number another
contact holds is refused (``duplicate_parameter``, "SMS is already associated with another
Contact"), and a bulk import leaves such a row out. Several invitees of one connection often give
the same number — a team's switchboard, one person booking with a work and a personal address — so
the connector decides before it sends anything which contact keeps each number:

* a contact **claims** the number its current booking gives for SMS (in E.164);
* of the contacts of a connection claiming one number, the one that first booked with it keeps it:
  the earliest Calendly creation time among each contact's bookings giving that number, ties
  broken by the lower email address. A later booking never takes a number away, and the choice
  does not depend on the order in which Calendly's data arrives;
* a number Brevo already holds for a contact the connector did not make (found out the first time
  Brevo refuses it, then remembered) goes to nobody;
* the others are sent without the number, each with a warning naming the number and who keeps it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["SMS", "SmsClaim", "dropped_message", "held_message", "owners"]

SMS = "SMS"


@dataclass(frozen=True)
class SmsClaim:
    """A contact asking for a number: its email, the E.164 number, and since when it has given it."""

    email: str
    number: str
    since: datetime


def owners(claims: Iterable[SmsClaim], held: Collection[str] = ()) -> dict[str, str]:
    """Number → the email of the contact that keeps it (see the module docstring for the rule).

    ``held``: numbers Brevo holds for contacts outside the connector; they have no owner here.
    """
    best: dict[str, SmsClaim] = {}
    for claim in claims:
        if claim.number in held:
            continue
        current = best.get(claim.number)
        if current is None or (claim.since, claim.email) < (current.since, current.email):
            best[claim.number] = claim
    return {number: claim.email for number, claim in best.items()}


def earliest(times: Iterable[datetime | None]) -> datetime | None:
    """The first of these times that is known (a booking's creation time may be missing)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


def dropped_message(number: str, owner: str) -> str:
    return (
        f"SMS: {number} is kept by {owner}, who booked with it first (Brevo keeps a number on one contact); "
        f"this contact is sent without it"
    )


def held_message(number: str) -> str:
    return (
        f"SMS: {number} is held in Brevo by a contact outside this connection (Brevo refused it before); "
        f"this contact is sent without it"
    )
