"""The charts against a real database: known timestamps in, known series out (SQLite and PostgreSQL).

Run under ``DATABASE_URL=postgres://…`` these exercise PostgreSQL's ``AT TIME ZONE`` truncation and
its ``percentile_cont``; under SQLite, Django's own functions and the Python percentile.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django import db
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from calendly_sync.models import Booking, Connection, WebhookDelivery
from calendly_sync.overview.charts import DELIVERY_HOURS, dashboard_charts

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 20, tzinfo=UTC)
_keys = itertools.count()


def at(day: int, hour: int, minute: int = 0, second: float = 0, month: int = 12) -> datetime:
    whole = int(second)
    return datetime(2026, month, day, hour, minute, whole, round((second - whole) * 1_000_000), tzinfo=UTC)


def booking(connection: Connection, **fields: Any) -> Booking:
    n = next(_keys)
    return Booking.objects.create(
        connection=connection, invitee_uri=f"https://api.calendly.com/invitees/{n}", email=f"p{n}@example.com", **fields
    )


def delivery(connection: Connection | None, received: datetime, **fields: Any) -> WebhookDelivery:
    fields.setdefault("email", "someone@example.com")
    return WebhookDelivery.objects.create(
        connection=connection,
        event="invitee.created",
        idempotency_key=f"key-{next(_keys)}",
        received_at=received,
        **fields,
    )


def nonzero(chart: Any, name: str) -> dict[str, float]:
    series = next(s for s in chart.series if s.name == name)
    return {label: v for label, v in zip(chart.labels, series.values, strict=True) if v}


@pytest.fixture
def connection() -> Connection:
    return Connection.objects.create(name="main")


@pytest.fixture
def other() -> Connection:
    return Connection.objects.create(name="other")


@pytest.fixture
def paris(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"


def test_bookings_cancellations_reschedules_and_no_shows_per_local_day(
    connection: Connection, other: Connection, paris: None
) -> None:
    booking(connection, invitee_created_at=at(1, 10))
    booking(connection, invitee_created_at=at(1, 23, 30))  # 00:30 on 2 December in Paris
    booking(connection, invitee_created_at=at(2, 9), old_invitee_uri="https://api.calendly.com/invitees/old")
    booking(connection, invitee_created_at=at(20, 10, month=11), status="canceled", canceled_at=at(3, 8))
    booking(
        connection, invitee_created_at=at(25, 10, month=11), status="canceled", rescheduled=True, canceled_at=at(2, 9)
    )
    booking(connection, invitee_created_at=at(30, 12, month=11), no_show_uri="https://x/ns/1", no_show_at=at(2, 22, 59))
    booking(connection, invitee_created_at=at(3, 22, 59, month=11))  # 23:59 on 3 November in Paris: outside
    booking(connection, invitee_created_at=at(3, 23, 0, month=11))  # midnight on 4 November in Paris: first day
    # Canceled, Calendly's cancellation time unknown: filed by the newest Calendly time instead.
    booking(connection, invitee_created_at=at(10, 10, month=11), status="canceled", calendly_updated_at=at(1, 7))
    booking(other, invitee_created_at=at(1, 10))

    chart = dashboard_charts(connection, now=NOW)[0]

    assert len(chart.labels) == 30
    assert chart.labels[0] == "2026-11-04" and chart.labels[-1] == "2026-12-03"
    assert nonzero(chart, "Bookings") == {
        "2026-11-04": 1,
        "2026-11-10": 1,
        "2026-11-20": 1,
        "2026-11-25": 1,
        "2026-11-30": 1,
        "2026-12-01": 1,
        "2026-12-02": 1,
    }
    assert nonzero(chart, "Cancellations") == {"2026-12-01": 1, "2026-12-03": 1}
    assert nonzero(chart, "Reschedules") == {"2026-12-02": 1}
    assert nonzero(chart, "No-shows") == {"2026-12-02": 1}  # 23:59 in Paris
    # Every other day is a zero, not a gap.
    for s in chart.series:
        assert len(s.values) == 30 and None not in s.values
        assert s.formatted.count("0") == 30 - len(nonzero(chart, s.name))

    everyone = dashboard_charts(now=NOW)[0]
    assert nonzero(everyone, "Bookings")["2026-12-01"] == 2


def test_the_day_boundary_is_the_configured_zone(connection: Connection, settings: Any) -> None:
    booking(connection, invitee_created_at=at(1, 23, 30))
    settings.TIME_ZONE = "UTC"
    assert nonzero(dashboard_charts(connection, now=NOW)[0], "Bookings") == {"2026-12-01": 1}
    settings.TIME_ZONE = "Europe/Paris"
    assert nonzero(dashboard_charts(connection, now=NOW)[0], "Bookings") == {"2026-12-02": 1}
    settings.TIME_ZONE = "America/Los_Angeles"
    assert nonzero(dashboard_charts(connection, now=NOW)[0], "Bookings") == {"2026-12-01": 1}


def test_deliveries_per_hour_over_the_last_48_hours(connection: Connection, other: Connection, paris: None) -> None:
    delivery(connection, at(3, 12, 10))  # the current hour (13:00 in Paris)
    delivery(connection, at(3, 11, 59))
    delivery(connection, at(3, 11, 0), status="failed")
    delivery(connection, at(1, 12, 59))  # before the first hour: outside
    delivery(connection, at(1, 13, 0))  # the first hour (14:00 on 1 December in Paris)
    delivery(other, at(3, 12, 0))

    chart = dashboard_charts(connection, now=NOW)[1]

    assert len(chart.labels) == DELIVERY_HOURS == 48
    assert chart.labels[0] == "2026-12-01 14:00" and chart.labels[-1] == "2026-12-03 13:00"
    assert nonzero(chart, "Deliveries") == {"2026-12-01 14:00": 1, "2026-12-03 12:00": 2, "2026-12-03 13:00": 1}
    assert chart.series[0].values.count(0) == 45
    assert [t.label for t in chart.x_ticks] == ["18:00", "Dec 2", "06:00", "12:00", "18:00", "Dec 3", "06:00", "12:00"]
    assert nonzero(dashboard_charts(now=NOW)[1], "Deliveries")["2026-12-03 13:00"] == 2


def test_hours_of_a_half_hour_zone(connection: Connection, settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+05:30: its hours begin at half past, UTC
    delivery(connection, at(3, 11, 29))  # 16:59 in Kolkata
    delivery(connection, at(3, 11, 30))  # 17:00
    chart = dashboard_charts(connection, now=NOW)[1]
    assert chart.labels[-1] == "2026-12-03 17:00"
    assert nonzero(chart, "Deliveries") == {"2026-12-03 16:00": 1, "2026-12-03 17:00": 1}


def test_latency_p50_and_p95_per_day_of_receipt(connection: Connection, other: Connection) -> None:
    for seconds in (1, 2, 3, 4, 10):
        received = at(2, 9, seconds)
        delivery(connection, received, status="processed", processed_at=received + timedelta(seconds=seconds))
    received = at(3, 10)
    delivery(connection, received, status="processed", processed_at=received + timedelta(milliseconds=500))
    # Not measured: a failed delivery, one that touched no contact, one whose connection pushes nothing.
    delivery(connection, at(3, 9), status="failed", processed_at=at(3, 10))
    delivery(connection, at(3, 9), status="processed", processed_at=at(3, 10), email="")
    other.sync_contacts = other.sync_events = False
    other.save()
    delivery(other, at(3, 9), status="processed", processed_at=at(3, 10))

    chart = dashboard_charts(connection, now=NOW)[2]

    p50, p95 = chart.series
    assert (p50.name, p95.name) == ("p50", "p95")
    assert nonzero(chart, "p50") == {"2026-12-02": pytest.approx(3.0), "2026-12-03": pytest.approx(0.5)}
    assert nonzero(chart, "p95") == {"2026-12-02": pytest.approx(8.8), "2026-12-03": pytest.approx(0.5)}
    # A day without deliveries has no latency: no point, not a zero.
    assert p50.values.count(None) == 28
    assert p50.formatted[0] == "no deliveries"
    assert p95.formatted[-2:] == ("8.80 s", "0.50 s")
    assert p95.total == "worst day 8.80 s"
    assert len(p50.lines) == 1 and len(p50.points) == 2
    # All connections: the one that pushes nothing is still left out.
    assert nonzero(dashboard_charts(now=NOW)[2], "p95")["2026-12-03"] == pytest.approx(0.5)


def test_an_empty_database_gives_complete_zero_series(connection: Connection) -> None:
    charts = dashboard_charts(connection, days=7, now=NOW)
    assert [c.slug for c in charts] == [f"cs-chart-{connection.pk}-{s}" for s in ("bookings", "deliveries", "latency")]
    bookings, deliveries, latency = charts
    assert all(s.values == (0.0,) * 7 for s in bookings.series)
    assert deliveries.series[0].values == (0.0,) * 48
    assert all(s.values == (None,) * 7 for s in latency.series)
    assert all(c.empty for c in charts)


def test_six_queries_whatever_the_rows(connection: Connection, django_assert_num_queries: Any) -> None:
    for hour in range(24):
        delivery(connection, at(2, hour), status="processed", processed_at=at(2, hour, 1))
        booking(connection, invitee_created_at=at(2, hour), no_show_uri="https://x/ns", no_show_at=at(2, hour))
    with django_assert_num_queries(6) as queries:
        dashboard_charts(now=NOW)
    if db.connection.vendor == "postgresql":  # the quantiles are computed by the database there
        assert any("percentile_cont(0.95) WITHIN GROUP" in q["sql"] for q in queries.captured_queries)


def _row(html: str, slug: str, label: str) -> list[str]:
    figure = html[html.index(f'id="{slug}"') :]
    figure = figure[: figure.index("</figure>")]
    match = re.search(rf'<tr><th scope="row">{re.escape(label)}</th>(.*?)</tr>', figure)
    assert match, f"no row {label} in {slug}"
    return re.findall(r"<td>(.*?)</td>", match.group(1))


def test_the_template_draws_each_chart_with_its_figures_in_an_accessible_table(connection: Connection) -> None:
    booking(connection, invitee_created_at=at(2, 10))
    booking(connection, invitee_created_at=at(2, 11), status="canceled", canceled_at=at(3, 9))
    delivery(connection, at(3, 11, 5), status="processed", processed_at=at(3, 11, 5, 1.25))
    charts = dashboard_charts(connection, now=NOW)

    html = render_to_string("calendly_sync/overview/_charts.html", {"charts": charts})

    assert "<script" not in html and "http" not in html.replace("http://www.w3.org", "")  # no CDN
    assert 'href="/static/calendly_sync/charts.css"' in html
    assert finders.find("calendly_sync/charts.css")
    assert html.count("<svg") == 3 and html.count('role="img"') == 3
    for chart in charts:
        assert f'aria-labelledby="{chart.slug}-title {chart.slug}-desc"' in html
        assert f'<title id="{chart.slug}-title">{chart.title}</title>' in html
        assert f">{chart.x_label}</text>" in html and f">{chart.y_label}</text>" in html
    bookings, deliveries, latency = (c.slug for c in charts)
    assert _row(html, bookings, "2026-12-02") == ["2", "0", "0", "0"]
    assert _row(html, bookings, "2026-12-03") == ["0", "1", "0", "0"]
    assert _row(html, bookings, "2026-11-20") == ["0", "0", "0", "0"]
    assert _row(html, deliveries, "2026-12-03 11:00") == ["1"]
    assert _row(html, latency, "2026-12-03") == ["1.25 s", "1.25 s"]
    assert _row(html, latency, "2026-12-01") == ["no deliveries", "no deliveries"]
    assert "Bookings 2; Cancellations 1; Reschedules 0; No-shows 0." in html  # the SVG's description
    assert html.count('<div class="visually-hidden cs-visually-hidden">') == html.count("<table") == 3


def test_no_charts_renders_a_sentence() -> None:
    assert "No charts to show." in render_to_string("calendly_sync/overview/_charts.html", {"charts": []})


def test_a_25_hour_day_keeps_all_its_hours(connection: Connection, paris: None) -> None:
    # Paris leaves summer time on 25 October 2026: that day runs 22:00 UTC on the 24th to 23:00 UTC on the 25th.
    booking(connection, invitee_created_at=datetime(2026, 10, 24, 21, 59, tzinfo=UTC))  # 23:59 on the 24th
    booking(connection, invitee_created_at=datetime(2026, 10, 24, 22, 30, tzinfo=UTC))  # 00:30 on the 25th
    booking(connection, invitee_created_at=datetime(2026, 10, 25, 22, 30, tzinfo=UTC))  # 23:30 on the 25th
    booking(connection, invitee_created_at=datetime(2026, 10, 25, 23, 0, tzinfo=UTC))  # midnight on the 26th
    chart = dashboard_charts(connection, days=7, now=datetime(2026, 10, 27, 12, tzinfo=UTC))[0]
    assert nonzero(chart, "Bookings") == {"2026-10-24": 1, "2026-10-25": 2, "2026-10-26": 1}
