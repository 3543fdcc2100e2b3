"""The dashboard's charts: what happened per day and per hour, gathered with one query per series.

Each gathering function asks the database for counts already grouped into buckets (``TruncDay`` /
``TruncHour`` in ``settings.TIME_ZONE``, with ``Count``), so the cost does not grow with the rows in
the window; the pure functions of :mod:`calendly_sync.overview.series` fill the gaps, and
:mod:`calendly_sync.overview.figure` lays the chart out. The template
``calendly_sync/overview/_charts.html`` draws the list :func:`dashboard_charts` returns.

Which timestamp says that something "happened that day" (all Calendly's own times, so a backfill
weeks later files a booking under the day it was made, not the day the connector heard of it):

- **bookings**: the invitee's ``created_at`` in Calendly (``Booking.invitee_created_at``; the day the
  connector first saw it if Calendly gave none). The new invitee of a reschedule is not counted
  here (it has an ``old_invitee``): it is the same meeting, and it is counted as a reschedule.
- **cancellations**: the cancellation's ``created_at`` (``Booking.canceled_at``) of canceled
  invitees that were not rescheduled, the way ``BOOKING_STATUS`` tells a cancellation.
- **reschedules**: the same time, for canceled invitees with ``rescheduled`` true (the old half).
- **no-shows**: the no-show mark's ``created_at`` (``Booking.no_show_at``) of invitees still marked;
  a mark that was later removed is not counted.
- **deliveries per hour**: ``WebhookDelivery.received_at``, whatever became of the delivery.
- **webhook-to-Brevo latency**: from ``WebhookDelivery.received_at`` to its ``processed_at``, for
  processed deliveries that touched a contact. A delivery is marked processed only after its
  contact's push (and its automation events) came back accepted from Brevo (see
  :func:`calendly_sync.inbox.deliveries.finish`), in the same statement for the whole batch; no
  column stores the instant of Brevo's own answer per delivery, so this is that time plus the few
  milliseconds of the final update: the nearest honest measure, and never shorter than the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.utils import timezone

from calendly_sync.models import Booking, Connection, WebhookDelivery
from calendly_sync.overview import series as buckets
from calendly_sync.overview.figure import Chart, axis_duration_label, build_chart, duration_label

__all__ = [
    "DELIVERY_HOURS",
    "Chart",
    "booking_activity",
    "dashboard_charts",
    "deliveries_per_hour",
    "latency_per_day",
]

#: The deliveries chart shows the last 48 hours, one bar each. 720 hourly bars for 30 days would be
#: under a pixel wide at the admin's width, with unreadable labels and a 720-row table for a screen
#: reader; the day-by-day volume of those 30 days is the bookings chart. What the hourly view is
#: for, a webhook that stopped arriving hours ago or a burst in progress, needs the recent hours.
DELIVERY_HOURS = 48
QUANTILES = (0.5, 0.95)

BOOKING_SERIES = ("Bookings", "Cancellations", "Reschedules", "No-shows")


def _scoped(qs: QuerySet[Any], connection: Connection | None) -> QuerySet[Any]:
    return qs if connection is None else qs.filter(connection=connection)


def _day_counts(qs: QuerySet[Any], at: Any, start: datetime, end: datetime, tz: tzinfo) -> dict[date, int]:
    """One grouped query: how many rows of ``qs`` fall on each local day of [start, end) by ``at``."""
    rows = (
        qs.annotate(at=at)
        .filter(at__gte=start, at__lt=end)
        .annotate(day=TruncDay("at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("day", "n")
    )
    return buckets.day_counts(rows)


def booking_activity(connection: Connection | None, days: Sequence[date], tz: tzinfo) -> dict[str, list[int]]:
    """Bookings, cancellations, reschedules and no-shows on each of ``days`` (four grouped queries).

    The module docstring says which timestamp files each under its day.
    """
    start, end = buckets.day_window(days, tz)
    qs = _scoped(Booking.objects.all(), connection)
    canceled = qs.filter(status=Booking.Status.CANCELED)
    canceled_at = Coalesce("canceled_at", "calendly_updated_at")
    counts = {
        "Bookings": _day_counts(
            qs.filter(old_invitee_uri=""), Coalesce("invitee_created_at", "first_seen_at"), start, end, tz
        ),
        "Cancellations": _day_counts(canceled.filter(rescheduled=False), canceled_at, start, end, tz),
        "Reschedules": _day_counts(canceled.filter(rescheduled=True), canceled_at, start, end, tz),
        "No-shows": _day_counts(qs.exclude(no_show_uri=""), F("no_show_at"), start, end, tz),
    }
    return {name: buckets.fill(days, counts[name]) for name in BOOKING_SERIES}


def deliveries_per_hour(connection: Connection | None, hours: Sequence[datetime], tz: tzinfo) -> list[int]:
    """Webhook deliveries received in each of ``hours`` (UTC starts of local hours): one grouped query."""
    start, end = hours[0], hours[-1] + timedelta(hours=1)
    rows = (
        _scoped(WebhookDelivery.objects.all(), connection)
        .filter(received_at__gte=start, received_at__lt=end)
        .annotate(hour=TruncHour("received_at", tzinfo=tz))
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("hour", "n")
    )
    return buckets.fill(hours, buckets.hour_counts(rows))


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(q) WITHIN GROUP (ORDER BY …)``: a quantile computed in the database."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(quantile)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, quantile: float, **extra: Any) -> None:
        super().__init__(expression, quantile=float(quantile), **extra)


def latency_per_day(connection: Connection | None, days: Sequence[date], tz: tzinfo) -> dict[float, list[float | None]]:
    """p50 and p95 of receipt → processed (seconds) of each day's deliveries, None for a day without any.

    On PostgreSQL the quantiles are computed in the database (``percentile_cont``, one grouped
    query). SQLite has no such aggregate: the one query returns each delivery's (day, latency) and
    :func:`calendly_sync.overview.series.percentile`, the same interpolation, computes them.
    """
    start, end = buckets.day_window(days, tz)
    qs = (
        _scoped(WebhookDelivery.objects.all(), connection)
        .filter(
            status=WebhookDelivery.Status.PROCESSED,
            processed_at__isnull=False,
            received_at__gte=start,
            received_at__lt=end,
        )
        .exclude(email="")
        .filter(Q(connection__sync_contacts=True) | Q(connection__sync_events=True))
        .annotate(
            day=TruncDay("received_at", tzinfo=tz),
            latency=ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField()),
        )
    )
    per_day: dict[date, tuple[float | None, ...]]
    if connections[qs.db].vendor == "postgresql":
        aggregates = {
            f"q{i}": PercentileCont("latency", q, output_field=DurationField()) for i, q in enumerate(QUANTILES)
        }
        rows = qs.values("day").annotate(**aggregates).order_by()
        per_day = {row["day"].date(): tuple(_seconds(row[f"q{i}"]) for i in range(len(QUANTILES))) for row in rows}
    else:
        pairs = ((day, latency.total_seconds()) for day, latency in qs.values_list("day", "latency").iterator())
        per_day = buckets.percentiles_by_day(pairs, QUANTILES)
    return {q: [per_day.get(day, (None,) * len(QUANTILES))[i] for day in days] for i, q in enumerate(QUANTILES)}


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _day_label(day: date) -> str:
    return day.isoformat()


def _day_ticks(days: Sequence[date]) -> list[tuple[int, str]]:
    """A tick every seventh day, counted back from today so that today is labelled."""
    return [(i, f"{days[i]:%b} {days[i].day}") for i in range(len(days) - 1, -1, -7)]


def _hour_ticks(hours: Sequence[datetime], tz: tzinfo) -> list[tuple[int, str]]:
    """A tick every six hours of the local clock; midnight names the day instead."""
    ticks = []
    for i, hour in enumerate(hours):
        local = hour.astimezone(tz)
        if local.hour % 6 == 0:
            ticks.append((i, f"{local:%b} {local.day}" if local.hour == 0 else f"{local:%H:%M}"))
    return ticks


def dashboard_charts(
    connection: Connection | None = None, *, days: int = 30, now: datetime | None = None
) -> list[Chart]:
    """The dashboard's charts for one connection (None: all of them), over the last ``days`` days.

    Days and hours are those of ``settings.TIME_ZONE``; today and the current hour are included (so
    far). Six queries in all, whatever the number of rows.
    """
    tz = timezone.get_default_timezone()
    now = now or timezone.now()
    day_list = buckets.day_buckets(now, days, tz)
    hour_list = buckets.hour_buckets(now, DELIVERY_HOURS, tz)
    scope = "all" if connection is None else str(connection.pk)
    zone = settings.TIME_ZONE
    day_labels = [_day_label(d) for d in day_list]

    activity = booking_activity(connection, day_list, tz)
    deliveries = deliveries_per_hour(connection, hour_list, tz)
    latency = latency_per_day(connection, day_list, tz)

    return [
        build_chart(
            slug=f"cs-chart-{scope}-bookings",
            title="Bookings, cancellations, reschedules and no-shows per day",
            description=(
                f"Per day ({zone}): bookings by Calendly's creation time, cancellations and reschedules by "
                "cancellation time, no-shows by when the no-show was marked."
            ),
            kind="line",
            labels=day_labels,
            series=[(name, [float(v) for v in activity[name]]) for name in BOOKING_SERIES],
            x_ticks=_day_ticks(day_list),
            x_label=f"Day ({zone})",
            y_label="Invitees",
            min_top=5,
        ),
        build_chart(
            slug=f"cs-chart-{scope}-deliveries",
            title="Webhook deliveries per hour",
            description=(
                f"Deliveries received from Calendly in each of the last {DELIVERY_HOURS} hours ({zone}), "
                "whatever became of them."
            ),
            kind="bar",
            labels=[f"{h.astimezone(tz):%Y-%m-%d %H:%M}" for h in hour_list],
            series=[("Deliveries", [float(v) for v in deliveries])],
            x_ticks=_hour_ticks(hour_list, tz),
            x_label=f"Hour ({zone})",
            y_label="Deliveries",
            min_top=5,
        ),
        build_chart(
            slug=f"cs-chart-{scope}-latency",
            title="Webhook-to-Brevo latency per day (p50 and p95)",
            description=(
                "From receiving a delivery to Brevo holding its contact (the delivery marked processed), "
                f"by day of receipt ({zone}); a day without deliveries has no point."
            ),
            kind="line",
            labels=day_labels,
            series=[(f"p{round(q * 100)}", latency[q]) for q in QUANTILES],
            x_ticks=_day_ticks(day_list),
            x_label=f"Day of receipt ({zone})",
            y_label="Latency",
            fmt=duration_label,
            axis_fmt=axis_duration_label,
            missing="no deliveries",
            total=_worst,
        ),
    ]


def _worst(values: Sequence[float | None]) -> str:
    """A latency series in the summary: its worst day (summing latencies would mean nothing)."""
    present = [v for v in values if v is not None]
    return f"worst day {duration_label(max(present))}" if present else "no deliveries"
