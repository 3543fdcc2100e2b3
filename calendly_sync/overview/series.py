"""The pure half of the dashboard's charts: time buckets, gap filling and percentiles.

No Django and no database here (the import-linter's pure-core contract says so): the gathering
functions in :mod:`calendly_sync.overview.charts` ask the database for counts per bucket, and these
functions turn those sparse answers into complete series, so a day or an hour with nothing in it
shows as zero instead of silently vanishing from the chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo


def day_buckets(now: datetime, days: int, tz: tzinfo) -> list[date]:
    """The ``days`` calendar days (in ``tz``) ending with today, oldest first."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = now.astimezone(tz).date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def hour_buckets(now: datetime, hours: int, tz: tzinfo) -> list[datetime]:
    """The starts (in UTC) of the ``hours`` hours of ``tz``'s clock ending with the current one, oldest first.

    Stepping in UTC keeps every bucket an hour long across a DST change, and a zone whose offset is
    not whole hours (India, +05:30) gets buckets that start on its own hour, not UTC's.
    """
    if hours < 1:
        raise ValueError("hours must be at least 1")
    current = now.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [current - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]


def day_edges(buckets: Sequence[date], tz: tzinfo) -> list[datetime]:
    """The UTC instants where these days begin, and where the last one ends (len(buckets) + 1 edges).

    Computed here with the zone's own rules, so a DST day is 23 or 25 hours long, and the database
    only compares instants: no time-zone conversion per row.
    """
    edges = [datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC) for day in buckets]
    return [*edges, datetime.combine(buckets[-1] + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)]


def hour_edges(buckets: Sequence[datetime]) -> list[datetime]:
    """The starts of these hours and the end of the last one."""
    return [*buckets, buckets[-1] + timedelta(hours=1)]


def fill_indexed(size: int, rows: Iterable[tuple[int | None, int]]) -> list[int]:
    """``(bucket index, count)`` rows → one count per bucket, zero for a bucket no row named."""
    counts = [0] * size
    for index, count in rows:
        if index is not None and 0 <= index < size:
            counts[index] += int(count)
    return counts


def percentiles_indexed(
    size: int, rows: Iterable[tuple[int | None, float]], quantiles: Sequence[float]
) -> list[tuple[float | None, ...]]:
    """``(bucket index, value)`` rows → each bucket's quantiles (None for a bucket without values)."""
    grouped: list[list[float]] = [[] for _ in range(size)]
    for index, value in rows:
        if index is not None and 0 <= index < size:
            grouped[index].append(float(value))
    return [tuple(percentile(values, q) for q in quantiles) for values in grouped]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; None for no values.

    The same definition as PostgreSQL's ``percentile_cont`` (and numpy's default), so the two ways
    the dashboard computes it agree to the microsecond.
    """
    if not 0 <= q <= 1:
        raise ValueError("q must be between 0 and 1")
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
