"""The dashboard's charts: what happened per day and per hour, gathered with one query per series.

Each gathering function asks the database for counts already grouped into buckets (the local days
and hours of ``settings.TIME_ZONE``, their edges computed in Python: :func:`bucket_index`, with
``Count``), so only a few numbers come back however many rows the window holds; the pure functions
of :mod:`calendly_sync.overview.series` fill the gaps, and
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
from datetime import date, datetime, tzinfo
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Aggregate, Case, Count, F, FloatField, Func, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
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


def bucket_index(field: str, edges: Sequence[datetime]) -> Case:
    """SQL for "which bucket is ``field`` in": the first ``i`` with ``field < edges[i + 1]``.

    The rows are first limited to [edges[0], edges[-1]). Comparing instants is all the database
    does per row: the zone's rules (DST, half-hour offsets) went into the edges, in Python. This is
    what ``TruncDay(tzinfo=…)`` would do, without its per-row zone conversion, which SQLite runs as
    a Python function for every row: with it, the charts of 100,000 bookings and 100,000 deliveries
    took 8.9× the floor of ``bench/charts.py`` on SQLite; with these comparisons, 5.2×.
    """
    whens = [When(**{f"{field}__lt": edge}, then=Value(i)) for i, edge in enumerate(edges[1:])]
    return Case(*whens, default=Value(None), output_field=IntegerField())


def _counts(qs: QuerySet[Any], at: Any, edges: Sequence[datetime]) -> list[int]:
    """One grouped query: how many rows of ``qs`` fall in each bucket between ``edges`` by ``at``."""
    rows = (
        qs.annotate(at=at)
        .filter(at__gte=edges[0], at__lt=edges[-1])
        .annotate(bucket=bucket_index("at", edges))
        .values("bucket")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("bucket", "n")
    )
    return buckets.fill_indexed(len(edges) - 1, rows)


def booking_activity(connection: Connection | None, days: Sequence[date], tz: tzinfo) -> dict[str, list[int]]:
    """Bookings, cancellations, reschedules and no-shows on each of ``days`` (four grouped queries).

    The module docstring says which timestamp files each under its day.
    """
    edges = buckets.day_edges(days, tz)
    qs = _scoped(Booking.objects.all(), connection)
    canceled = qs.filter(status=Booking.Status.CANCELED)
    canceled_at = Coalesce("canceled_at", "calendly_updated_at")
    return {
        "Bookings": _counts(qs.filter(old_invitee_uri=""), Coalesce("invitee_created_at", "first_seen_at"), edges),
        "Cancellations": _counts(canceled.filter(rescheduled=False), canceled_at, edges),
        "Reschedules": _counts(canceled.filter(rescheduled=True), canceled_at, edges),
        "No-shows": _counts(qs.exclude(no_show_uri=""), F("no_show_at"), edges),
    }


def deliveries_per_hour(connection: Connection | None, hours: Sequence[datetime]) -> list[int]:
    """Webhook deliveries received in each of ``hours`` (UTC starts of local hours): one grouped query."""
    return _counts(_scoped(WebhookDelivery.objects.all(), connection), F("received_at"), buckets.hour_edges(hours))


class Seconds(Func):
    """``end - start`` in seconds, as a float, computed by the database.

    PostgreSQL: ``EXTRACT(EPOCH FROM …)`` of the interval, to the microsecond. SQLite: the
    difference of the Julian days, a C function (Django's own datetime subtraction there is a
    Python function per row), rounded to the millisecond, SQLite's own resolution for dates.
    """

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    arg_joiner = " - "
    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        return self.as_sql(
            compiler,
            connection,
            template="ROUND((julianday(%(expressions)s)) * 86400.0, 3)",
            arg_joiner=") - julianday(",
            **extra_context,
        )


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(q) WITHIN GROUP (ORDER BY …)``: a quantile computed in the database."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(quantile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, quantile: float, **extra: Any) -> None:
        super().__init__(expression, quantile=float(quantile), **extra)


def latency_per_day(connection: Connection | None, days: Sequence[date], tz: tzinfo) -> dict[float, list[float | None]]:
    """p50 and p95 of receipt → processed (seconds) of each day's deliveries, None for a day without any.

    On PostgreSQL the quantiles are computed in the database (``percentile_cont``, one grouped
    query). SQLite has no such aggregate: the one query returns each delivery's (day, seconds) and
    :func:`calendly_sync.overview.series.percentile`, the same interpolation, computes them.
    """
    edges = buckets.day_edges(days, tz)
    qs = (
        _scoped(WebhookDelivery.objects.all(), connection)
        .filter(
            status=WebhookDelivery.Status.PROCESSED,
            processed_at__isnull=False,
            received_at__gte=edges[0],
            received_at__lt=edges[-1],
        )
        .exclude(email="")
        .filter(Q(connection__sync_contacts=True) | Q(connection__sync_events=True))
        .annotate(bucket=bucket_index("received_at", edges), seconds=Seconds("processed_at", "received_at"))
    )
    per_day: list[tuple[float | None, ...]]
    if connections[qs.db].vendor == "postgresql":
        aggregates = {f"q{i}": PercentileCont("seconds", q) for i, q in enumerate(QUANTILES)}
        per_day = [(None,) * len(QUANTILES)] * len(days)
        for row in qs.values("bucket").annotate(**aggregates).order_by():
            per_day[row["bucket"]] = tuple(row[f"q{i}"] for i in range(len(QUANTILES)))
    else:
        per_day = buckets.percentiles_indexed(len(days), qs.values_list("bucket", "seconds").iterator(), QUANTILES)
    return {q: [day[i] for day in per_day] for i, q in enumerate(QUANTILES)}


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
    deliveries = deliveries_per_hour(connection, hour_list)
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
