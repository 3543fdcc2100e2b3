"""The pure half of the dashboard's charts: time buckets, gap filling and percentiles.

No Django and no database here (the import-linter's pure-core contract says so): the gathering
functions in :mod:`calendly_sync.overview.charts` ask the database for counts per bucket, and these
functions turn those sparse answers into complete series, so a day or an hour with nothing in it
shows as zero instead of silently vanishing from the chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TypeVar

K = TypeVar("K", date, datetime)


def day_buckets(now: datetime, days: int, tz: tzinfo) -> list[date]:
    """The ``days`` calendar days (in ``tz``) ending with today, oldest first."""
    if days < 1:
        raise ValueError("days must be at least 1")
    today = now.astimezone(tz).date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def day_window(buckets: Sequence[date], tz: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of these consecutive days in UTC: local midnight to local midnight.

    In UTC because Python subtracts two times of one zone by their wall clocks: a DST day would
    look 24 hours long.
    """
    start = datetime.combine(buckets[0], time.min, tzinfo=tz)
    end = datetime.combine(buckets[-1] + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def hour_buckets(now: datetime, hours: int, tz: tzinfo) -> list[datetime]:
    """The starts (in UTC) of the ``hours`` hours of ``tz``'s clock ending with the current one, oldest first.

    Stepping in UTC keeps every bucket an hour long across a DST change, and a zone whose offset is
    not whole hours (India, +05:30) gets buckets that start on its own hour, not UTC's.
    """
    if hours < 1:
        raise ValueError("hours must be at least 1")
    current = now.astimezone(tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [current - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]


def fill(buckets: Sequence[K], counts: Mapping[K, int]) -> list[int]:
    """One count per bucket, zero where the database had no row; counts outside the buckets are dropped."""
    return [int(counts.get(bucket, 0)) for bucket in buckets]


def day_counts(rows: Iterable[tuple[datetime | date | None, int]]) -> dict[date, int]:
    """Sum ``(TruncDay value, count)`` rows per date (several rows may name the same day)."""
    out: dict[date, int] = {}
    for day, count in rows:
        if day is None:
            continue
        key = day.date() if isinstance(day, datetime) else day
        out[key] = out.get(key, 0) + int(count)
    return out


def hour_counts(rows: Iterable[tuple[datetime | None, int]]) -> dict[datetime, int]:
    """Sum ``(TruncHour value, count)`` rows per UTC hour start."""
    out: dict[datetime, int] = {}
    for hour, count in rows:
        if hour is None:
            continue
        key = hour.astimezone(UTC)
        out[key] = out.get(key, 0) + int(count)
    return out


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


def percentiles_by_day(
    rows: Iterable[tuple[datetime | date | None, float]], quantiles: Sequence[float]
) -> dict[date, tuple[float | None, ...]]:
    """``(day, value)`` rows → each day's quantiles of its values."""
    grouped: dict[date, list[float]] = {}
    for day, value in rows:
        if day is None:
            continue
        key = day.date() if isinstance(day, datetime) else day
        grouped.setdefault(key, []).append(float(value))
    return {day: tuple(percentile(values, q) for q in quantiles) for day, values in grouped.items()}
