"""Decide a booking's state and a contact's desired Brevo state. Pure functions.

Order-independence comes from making each merge a *join*: applying observations in any order,
any number of times, gives the same result.

* **Status** — Calendly never re-activates a cancelled invitee (re-booking creates a new invitee),
  so ``canceled`` absorbs ``active``.
* **Descriptive fields** (name, answers, times, cancellation details) come from the observation
  ranked highest by ``(status rank, Calendly time)``; the cancelled observation always outranks.
* **No-show** — a separate fact with its own Calendly time: the newest of "marked" and "unmarked"
  wins. Times are compared at whole seconds, because webhook envelopes carry second precision
  while the no-show object carries microseconds; on a tie, "unmarked" wins (a removal always
  follows the mark it removes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from calendly_sync.calendly.invitee import BookingFields, fields_merged_as
from calendly_sync.sync.observations import NoShowFact, Observation

BOOKED = "booked"
CANCELLED = "cancelled"
NO_SHOW = "no_show"


@dataclass(frozen=True, kw_only=True)
class BookingState(BookingFields):
    """What we believe about one invitee: the stored fields, and where the data fields came from."""

    data_rank: tuple[int, datetime] | None = None  # rank of the observation the data fields came from (not stored)


# Each of these comes from the higher-ranked observation (an empty value never erases).
_RANKED_FIELDS = fields_merged_as(BookingState, "data", "cancel")


def _rank(obs: Observation) -> tuple[int, datetime]:
    return (1 if obs.status == "canceled" else 0, obs.observed_at)


def _second(t: datetime) -> datetime:
    return t.replace(microsecond=0)


def _no_show_wins(new: NoShowFact, current_at: datetime | None, current_present: bool) -> bool:
    if current_at is None:
        return True
    a, b = _second(new.at), _second(current_at)
    if a != b:
        return a > b
    # Same second: a removal beats a mark; between equals keep the one already applied.
    return (not new.present) and current_present


_EMPTY: tuple[Any, ...] = ("", None, (), {})


def apply(state: BookingState | None, obs: Observation) -> BookingState:
    """Fold one observation into a booking state. Commutative and idempotent."""
    if state is None:
        state = BookingState(invitee_uri=obs.invitee_uri)
    changes: dict[str, Any] = {}
    rank = _rank(obs)
    higher = state.data_rank is None or rank > state.data_rank

    # Each field comes from the higher-ranked observation; an empty value there never erases
    # what the other one knew.
    for name in _RANKED_FIELDS:
        new, old = getattr(obs, name), getattr(state, name)
        hi, lo = (new, old) if higher else (old, new)
        changes[name] = hi if hi not in _EMPTY else lo
    changes["data_rank"] = rank if higher else state.data_rank
    changes["status"] = "canceled" if "canceled" in (state.status, obs.status) else "active"
    changes["rescheduled"] = state.rescheduled or obs.rescheduled

    created = [t for t in (state.invitee_created_at, obs.created_at) if t is not None]
    if created:
        changes["invitee_created_at"] = min(created)
    times = [t for t in (state.calendly_updated_at, obs.observed_at) if t is not None]
    changes["calendly_updated_at"] = max(times)

    if obs.no_show is not None and _no_show_wins(obs.no_show, state.no_show_observed_at, state.is_no_show):
        fact = obs.no_show
        changes.update(
            no_show_uri=fact.uri if fact.present else "",
            no_show_at=fact.at if fact.present else None,
            no_show_observed_at=fact.at,
        )
    return replace(state, **changes)


# -- contact projection ----------------------------------------------------------------------


def booking_status(booking: Any) -> str:
    """booked | cancelled | no_show, as BOOKING_STATUS shows it.

    The cancelled half of a reschedule is not a cancellation: the person still has a meeting.
    """
    if booking.status == "canceled" and not booking.rescheduled:
        return CANCELLED
    if booking.status == "active" and booking.no_show_uri:
        return NO_SHOW
    return BOOKED


def current_booking(bookings: Iterable[Any]) -> Any | None:
    """The most recently created booking that is not the cancelled half of a reschedule.

    When only such halves are known (the new half has not arrived yet), the newest of them
    stands in, so a reschedule never reads as a cancellation in the meantime. Ties on the
    creation time are broken by invitee URI so the choice never depends on query order.
    """
    items = list(bookings)
    if not items:
        return None
    real = [b for b in items if not (b.status == "canceled" and b.rescheduled)]
    pool = real or items

    def key(b: Any) -> tuple[datetime, str]:
        t = b.invitee_created_at or b.calendly_updated_at
        return (t or datetime.min.replace(tzinfo=UTC), b.invitee_uri)

    return max(pool, key=key)


@dataclass(frozen=True)
class ListRule:
    list_ids: tuple[int, ...]
    unlink_on_cancel: bool = False


def desired_lists(
    bookings: Iterable[Any], rules: dict[str, ListRule], default_list_ids: Iterable[int]
) -> tuple[list[int], list[int]]:
    """(lists to be in, lists to leave): the union over all bookings; removal only where configured.

    A list is left only when every booking that maps to it is a real cancellation and its
    mapping says ``unlink_on_cancel``.
    """
    keep: set[int] = set()
    leave: set[int] = set()
    defaults = tuple(int(i) for i in default_list_ids)
    for b in bookings:
        rule = rules.get(b.event_type_uri)
        ids = rule.list_ids if rule is not None else defaults
        if rule is not None and rule.unlink_on_cancel and booking_status(b) == CANCELLED:
            leave.update(ids)
        else:
            keep.update(ids)
    return sorted(keep), sorted(leave - keep)
