"""What the dashboard's charts cost as the tables grow: the connector's grouped queries against a
floor (the same rows only counted) and a naive baseline (every timestamp fetched and bucketed in Python).

    .venv/bin/python bench/charts.py [--small] [--bookings N] [--deliveries M] [--rounds R]

Prints the median of R rounds of each, and the ratios against the floor measured in the same run.
Nothing asserts on time. With ``DATABASE_URL`` set (PostgreSQL), the rows it made are deleted at the end.
"""

from __future__ import annotations

import bisect
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common


def median_seconds(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    args = common.parse_args(
        __doc__ or "",
        [
            (("--bookings",), {"type": int, "default": None}),
            (("--deliveries",), {"type": int, "default": None}),
            (("--rounds",), {"type": int, "default": 5}),
        ],
    )
    n_bookings = args.bookings or (10_000 if args.small else 100_000)
    n_deliveries = args.deliveries or (10_000 if args.small else 100_000)
    db = common.setup_django()
    common.header(f"dashboard charts: {n_bookings:,} bookings, {n_deliveries:,} deliveries over 30 days", db)

    from django.db.models import Count
    from django.template.loader import render_to_string
    from django.utils import timezone

    from calendly_sync.models import Booking, Connection, WebhookDelivery
    from calendly_sync.overview import series
    from calendly_sync.overview.charts import DELIVERY_HOURS, dashboard_charts

    rng = random.Random(14)
    now = timezone.now()
    conn = Connection.objects.create(name=f"bench-charts-{common.RUN_ID}")
    common._state["connections"].append(conn.pk)
    try:
        with common.Timer() as t:
            bookings = []
            for i in range(n_bookings):
                created = now - timedelta(days=rng.random() * 40)
                kind = rng.random()
                fields: dict[str, object] = {}
                if kind < 0.15:
                    fields = {"status": "canceled", "canceled_at": created + timedelta(hours=rng.random() * 48)}
                elif kind < 0.25:
                    fields = {"status": "canceled", "rescheduled": True, "canceled_at": created + timedelta(hours=5)}
                elif kind < 0.3:
                    fields = {"no_show_uri": f"https://x/ns/{i}", "no_show_at": created + timedelta(days=1)}
                bookings.append(
                    Booking(
                        connection=conn,
                        invitee_uri=f"https://api.calendly.com/invitees/{common.RUN_ID}-{i}",
                        email=f"p{i}@example.com",
                        invitee_created_at=created,
                        **fields,
                    )
                )
            Booking.objects.bulk_create(bookings, batch_size=5_000)
            deliveries = []
            for i in range(n_deliveries):
                received = now - timedelta(days=rng.random() * 40)
                deliveries.append(
                    WebhookDelivery(
                        connection=conn,
                        event="invitee.created",
                        idempotency_key=f"{common.RUN_ID}-{i}",
                        email=f"p{i}@example.com",
                        status="processed",
                        received_at=received,
                        processed_at=received + timedelta(seconds=rng.expovariate(1 / 2)),
                    )
                )
            WebhookDelivery.objects.bulk_create(deliveries, batch_size=5_000)
        common.line("rows inserted in", f"{t.seconds:.1f} s")

        tz = timezone.get_default_timezone()
        days = series.day_buckets(now, 30, tz)
        hours = series.hour_buckets(now, DELIVERY_HOURS, tz)
        day_edges = series.day_edges(days, tz)
        hour_edges = series.hour_edges(hours)
        start, end = day_edges[0], day_edges[-1]
        bk = Booking.objects.filter(connection=conn)
        dl = WebhookDelivery.objects.filter(connection=conn)

        def floor() -> None:
            """The same six reads, only counted: no buckets, no quantile."""
            bk.filter(old_invitee_uri="", invitee_created_at__gte=start, invitee_created_at__lt=end).count()
            bk.filter(status="canceled", rescheduled=False, canceled_at__gte=start, canceled_at__lt=end).count()
            bk.filter(status="canceled", rescheduled=True, canceled_at__gte=start, canceled_at__lt=end).count()
            bk.exclude(no_show_uri="").filter(no_show_at__gte=start, no_show_at__lt=end).count()
            dl.filter(received_at__gte=hours[0], received_at__lt=hours[-1] + timedelta(hours=1)).count()
            dl.filter(status="processed", received_at__gte=start, received_at__lt=end).aggregate(n=Count("pk"))

        def naive() -> None:
            """Every timestamp to Python, bucketed there (what grouping in the database saves)."""
            for field, qs in (
                ("invitee_created_at", bk.filter(old_invitee_uri="")),
                ("canceled_at", bk.filter(status="canceled", rescheduled=False)),
                ("canceled_at", bk.filter(status="canceled", rescheduled=True)),
                ("no_show_at", bk.exclude(no_show_uri="")),
            ):
                rows = qs.filter(**{f"{field}__gte": start, f"{field}__lt": end}).values_list(field, flat=True)
                series.fill_indexed(len(days), ((bisect.bisect_right(day_edges, t) - 1, 1) for t in rows))
            rows = dl.filter(received_at__gte=hours[0]).values_list("received_at", flat=True)
            series.fill_indexed(len(hours), ((bisect.bisect_right(hour_edges, t) - 1, 1) for t in rows))
            pairs = dl.filter(status="processed", received_at__gte=start, received_at__lt=end).values_list(
                "received_at", "processed_at"
            )
            series.percentiles_indexed(
                len(days),
                ((bisect.bisect_right(day_edges, r) - 1, (p - r).total_seconds()) for r, p in pairs),
                (0.5, 0.95),
            )

        charts = dashboard_charts(conn, now=now)
        floor_s = median_seconds(floor, args.rounds)
        charts_s = median_seconds(lambda: dashboard_charts(conn, now=now), args.rounds)
        naive_s = median_seconds(naive, args.rounds)
        render_s = median_seconds(
            lambda: render_to_string("calendly_sync/overview/_charts.html", {"charts": charts}), args.rounds
        )

        common.section(f"median of {args.rounds} rounds")
        common.line("floor (the same rows counted)", f"{floor_s * 1000:.1f} ms")
        common.line("dashboard_charts (6 queries)", f"{charts_s * 1000:.1f} ms  ({charts_s / floor_s:.2f}× floor)")
        common.line("naive (rows to Python)", f"{naive_s * 1000:.1f} ms  ({naive_s / floor_s:.2f}× floor)")
        common.line("template render (3 charts)", f"{render_s * 1000:.1f} ms")
        total = sum(sum(v or 0 for v in s.values) for s in charts[0].series)
        common.line(
            "figures drawn", f"{total:,.0f} booking events, {sum(charts[1].series[0].values):,.0f} deliveries/48 h"
        )
    finally:
        common.cleanup()


if __name__ == "__main__":
    main()
