"""The connector's own count of bookings against the plan's quotas, taken before Calendly is called.

Why: Calendly's booking quotas are small below Enterprise (10 a minute, 50 an hour and 100 a day on
paid plans, 5 a day on a trial) and are counted per Calendly user across every process. Counting
here refuses the booking that would exceed them with the time to wait, without spending a call
that Calendly would refuse anyway; Calendly's own ``429`` stays the final word (other apps book
for the same user). Every call sent counts, whatever Calendly answers, as Calendly counts
requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from calendly_sync.calendly.limits import DEFAULT_PLAN, PLANS, Plan, wait_seconds
from calendly_sync.models import BookingCall, Connection
from calendly_sync.scheduling.errors import QuotaExceeded

#: Rows older than this are never needed again (the longest window of any plan).
_HISTORY = timedelta(seconds=max(plan.horizon for plan in PLANS.values()))


def plan_of(connection: Connection) -> Plan:
    return PLANS.get(connection.scheduling_plan) or PLANS[DEFAULT_PLAN]


def quota_key(connection: Connection) -> str:
    """Calendly counts per user; before the user is known, per connection."""
    return connection.calendly_user_uri or f"connection:{connection.pk}"


def reserve_booking(connection: Connection, *, now: datetime | None = None) -> None:
    """Count one booking call for the connection's Calendly user, or raise :class:`QuotaExceeded`.

    The count and the new row are one transaction holding the connection's row lock, so two
    processes booking at once cannot both take the last place.
    """
    plan = plan_of(connection)
    key = quota_key(connection)
    now = now or timezone.now()
    with transaction.atomic():
        list(Connection.objects.select_for_update().filter(pk=connection.pk).values_list("pk", flat=True))
        BookingCall.objects.filter(calendly_user=key, created_at__lte=now - _HISTORY).delete()
        stamps = [
            t.timestamp()
            for t in BookingCall.objects.filter(
                calendly_user=key, created_at__gt=now - timedelta(seconds=plan.horizon)
            ).values_list("created_at", flat=True)
        ]
        wait = wait_seconds(stamps, now.timestamp(), plan.windows)
        if wait:
            raise QuotaExceeded(
                f"Booking quota reached: Calendly allows {plan.describe()} bookings through its API for this "
                f"user on the {connection.get_scheduling_plan_display()} plan; retry in {wait} s.",
                wait,
                "connector",
            )
        BookingCall.objects.create(calendly_user=key, connection=connection, created_at=now)


@dataclass(frozen=True)
class Usage:
    """How much of each window the connection's user has used (for the doctor)."""

    plan: Plan
    used: tuple[int, ...]  # one count per plan window

    def describe(self) -> str:
        return ", ".join(f"{n} of {w.describe()}" for n, w in zip(self.used, self.plan.windows, strict=True))


def usage(connection: Connection, *, now: datetime | None = None) -> Usage:
    plan = plan_of(connection)
    now = now or timezone.now()
    calls = BookingCall.objects.filter(calendly_user=quota_key(connection))
    used = tuple(calls.filter(created_at__gt=now - timedelta(seconds=w.seconds)).count() for w in plan.windows)
    return Usage(plan, used)
