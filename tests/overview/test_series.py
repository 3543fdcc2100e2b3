"""The charts' pure functions: buckets, gap filling, percentiles and the SVG layout (no database)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calendly_sync.overview import series
from calendly_sync.overview.figure import axis_divisions, axis_duration_label, build_chart, duration_label, nice_ceiling

PARIS = ZoneInfo("Europe/Paris")
KOLKATA = ZoneInfo("Asia/Kolkata")


def test_day_buckets_end_with_the_local_today() -> None:
    # 23:30 UTC on 3 December is already 4 December in Paris.
    now = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert series.day_buckets(now, 3, PARIS) == [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]
    assert series.day_buckets(now, 1, UTC) == [date(2026, 12, 3)]
    with pytest.raises(ValueError):
        series.day_buckets(now, 0, UTC)


def test_day_edges_run_from_local_midnight_to_local_midnight() -> None:
    edges = series.day_edges([date(2026, 12, 2), date(2026, 12, 3)], PARIS)
    assert edges == [
        datetime(2026, 12, 1, 23, tzinfo=UTC),
        datetime(2026, 12, 2, 23, tzinfo=UTC),
        datetime(2026, 12, 3, 23, tzinfo=UTC),
    ]


def test_a_dst_day_is_23_hours_long() -> None:
    start, end = series.day_edges([date(2026, 3, 29)], PARIS)
    assert end - start == timedelta(hours=23)
    start, end = series.day_edges([date(2026, 10, 25)], PARIS)
    assert end - start == timedelta(hours=25)


def test_hour_buckets_follow_the_local_hour() -> None:
    now = datetime(2026, 12, 3, 10, 45, tzinfo=UTC)
    hours = series.hour_buckets(now, 3, KOLKATA)  # 16:15 in Kolkata: the hour began at 10:30 UTC
    assert hours == [datetime(2026, 12, 3, h, 30, tzinfo=UTC) for h in (8, 9, 10)]
    assert series.hour_buckets(now, 2, UTC) == [
        datetime(2026, 12, 3, 9, tzinfo=UTC),
        datetime(2026, 12, 3, 10, tzinfo=UTC),
    ]
    with pytest.raises(ValueError):
        series.hour_buckets(now, 0, UTC)


def test_hour_buckets_stay_an_hour_apart_across_a_dst_change() -> None:
    now = datetime(2026, 10, 25, 3, 10, tzinfo=UTC)  # Paris went from 03:00 CEST back to 02:00 CET at 01:00 UTC
    hours = series.hour_buckets(now, 4, PARIS)
    assert [b - a for a, b in itertools.pairwise(hours)] == [timedelta(hours=1)] * 3
    assert [h.astimezone(PARIS).hour for h in hours] == [2, 2, 3, 4]


def test_hour_edges_close_the_last_hour() -> None:
    hours = [datetime(2026, 12, 3, 9, tzinfo=UTC), datetime(2026, 12, 3, 10, tzinfo=UTC)]
    assert series.hour_edges(hours) == [*hours, datetime(2026, 12, 3, 11, tzinfo=UTC)]


def test_fill_indexed_gives_zero_for_a_missing_bucket_and_drops_the_rest() -> None:
    assert series.fill_indexed(3, [(1, 5), (1, 2), (None, 9), (3, 4), (-1, 1)]) == [0, 7, 0]


def test_percentile_interpolates_like_percentile_cont() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert series.percentile(values, 0.5) == 3.0
    assert series.percentile(values, 0.95) == pytest.approx(8.8)  # 4 + (10 - 4) × 0.8
    assert series.percentile([7.0], 0.95) == 7.0
    assert series.percentile([], 0.5) is None
    assert series.percentile([3.0, 1.0], 0.5) == 2.0  # unsorted input
    with pytest.raises(ValueError):
        series.percentile(values, 1.5)


def test_percentiles_indexed_groups_values_per_bucket() -> None:
    rows = [(0, 1.0), (0, 3.0), (2, 5.0), (None, 99.0), (7, 1.0)]
    assert series.percentiles_indexed(3, rows, (0.5, 1.0)) == [(2.0, 3.0), (None, None), (5.0, 5.0)]


def test_nice_ceiling_and_divisions_give_whole_ticks() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 5, 7, 11, 23, 180)] == [1, 5, 5, 10, 20, 25, 200]
    assert axis_divisions(20) == 4
    assert axis_divisions(25) == 5
    assert axis_divisions(5) == 5


def test_duration_labels() -> None:
    assert [duration_label(s) for s in (0.4213, 12.34, 270, 7560)] == ["0.42 s", "12.3 s", "4.5 min", "2.1 h"]
    assert [axis_duration_label(s) for s in (0, 2.5, 10, 240, 9000)] == ["0 s", "2.5 s", "10 s", "4 min", "2.5 h"]


def test_build_chart_lays_out_lines_bars_and_ticks() -> None:
    chart = build_chart(
        slug="c",
        title="T",
        description="D",
        kind="line",
        labels=["a", "b", "c", "d"],
        series=[("up", [0.0, 5.0, None, 10.0]), ("flat", [1.0, 1.0, 1.0, 1.0])],
        x_ticks=[(0, "A"), (3, "D"), (9, "out of range")],
        x_label="X",
        y_label="Y",
    )
    up, flat = chart.series
    # The axis tops at 10 (nice), so 10 is at the top edge and 0 at the bottom.
    assert chart.y_ticks[0].label == "0" and chart.y_ticks[-1].label == "10"
    assert chart.y_ticks[-1].at == chart.top and chart.y_ticks[0].at == chart.bottom
    assert [t.label for t in chart.x_ticks] == ["A", "D"]
    # A missing value breaks the line; a lone point after it is drawn as its marker only.
    assert len(up.lines) == 1 and up.lines[0].count(",") == 2
    assert len(up.points) == 3
    assert up.formatted == ("0", "5", "0", "10") and up.total == "15"
    assert len(flat.lines) == 1 and flat.total == "4"
    assert chart.rows[1] == ("b", ["5", "1"])
    assert chart.summary == "T, a to d: up 15; flat 4."
    assert not chart.empty

    bars = build_chart(
        slug="b",
        title="Bars",
        description="",
        kind="bar",
        labels=["x", "y"],
        series=[("n", [0.0, 4.0])],
        x_ticks=[],
        x_label="X",
        y_label="Y",
        min_top=5,
    )
    zero, four = bars.series[0].bars
    assert zero.height == 0 and four.height == pytest.approx((bars.bottom - bars.top) * 4 / 5, abs=0.1)
    assert four.title == "y: n 4"
    assert [t.label for t in bars.y_ticks] == ["0", "1", "2", "3", "4", "5"]


def test_an_empty_chart_says_so_and_rejects_mismatched_series() -> None:
    chart = build_chart(
        slug="e",
        title="E",
        description="",
        kind="line",
        labels=["a"],
        series=[("s", [0.0])],
        x_ticks=[],
        x_label="X",
        y_label="Y",
    )
    assert chart.empty
    with pytest.raises(ValueError):
        build_chart(
            slug="e",
            title="E",
            description="",
            kind="line",
            labels=["a", "b"],
            series=[("s", [0.0])],
            x_ticks=[],
            x_label="X",
            y_label="Y",
        )
    with pytest.raises(ValueError):
        build_chart(
            slug="e",
            title="E",
            description="",
            kind="line",
            labels=[],
            series=[],
            x_ticks=[],
            x_label="X",
            y_label="Y",
        )
