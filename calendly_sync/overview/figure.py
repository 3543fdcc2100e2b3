"""A chart as the template draws it: series plus precomputed SVG geometry (pure, no Django).

The template does no arithmetic: every coordinate, tick and label is computed here, once, and tested
without a database or a browser. The drawing is a plain inline SVG in a fixed ``viewBox`` that
scales with the page; colours come from the stylesheet (Django admin's CSS variables), so the same
geometry serves the light and the dark theme.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

WIDTH = 720
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40  # room for the y labels, the x labels and the x axis title

Kind = Literal["line", "bar"]
Value = float | None  # None: nothing to measure in that bucket (a latency with no delivery)


@dataclass(frozen=True)
class Tick:
    """One axis tick: where it sits (x or y in the viewBox) and what it says."""

    at: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the tooltip and the accessible name of this bar


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Series:
    """One named row of values, and where the template draws it.

    ``css`` picks the colour (``cs-series-1`` … in charts.css); ``lines`` are SVG ``points``
    strings, one per unbroken run (a bucket with no value breaks the line instead of plotting zero).
    """

    name: str
    css: str
    values: tuple[Value, ...]
    formatted: tuple[str, ...]
    total: str
    lines: tuple[str, ...] = ()
    points: tuple[Point, ...] = ()
    bars: tuple[Bar, ...] = ()


@dataclass(frozen=True)
class Chart:
    """Everything the ``_charts.html`` template needs for one chart."""

    slug: str  # unique on the page: the prefix of the SVG's title and description ids
    title: str
    description: str  # one sentence: what is counted, and from which timestamp
    kind: Kind
    x_label: str
    y_label: str
    labels: tuple[str, ...]  # one per bucket, as the data table shows it
    series: tuple[Series, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    summary: str  # the figures in one sentence (the SVG's accessible description)
    empty: bool  # nothing at all in the period
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def rows(self) -> list[tuple[str, list[str]]]:
        """The data table: one row per bucket, one cell per series."""
        return [(label, [s.formatted[i] for s in self.series]) for i, label in enumerate(self.labels)]

    @property
    def x_label_y(self) -> int:
        return self.height - 4

    @property
    def x_middle(self) -> float:
        return (self.left + self.right) / 2

    @property
    def y_middle(self) -> float:
        return (self.top + self.bottom) / 2


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (an axis top a reader can take in)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))  # pragma: no cover - the loop ends at 10


def axis_divisions(top: float) -> int:
    """How many steps the y axis has: 2 × 10ⁿ in 4 (0, 5, 10, 15, 20), the others in 5 (0, 2, … 10)."""
    leading = top / 10 ** math.floor(math.log10(top))
    return 4 if math.isclose(leading, 2) else 5


def count_label(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def duration_label(seconds: float) -> str:
    """A latency as a person reads it: 0.42 s, 12.3 s, 4.5 min, 2.1 h."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def axis_duration_label(seconds: float) -> str:
    """A latency tick: as short as it can be (0 s, 2.5 s, 10 s, 4 min, 2.5 h); ticks are round numbers."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _r(value: float) -> float:
    return round(value, 1)


def build_chart(
    *,
    slug: str,
    title: str,
    description: str,
    kind: Kind,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Value]]],
    x_ticks: Sequence[tuple[int, str]],
    x_label: str,
    y_label: str,
    fmt: Callable[[float], str] = count_label,
    axis_fmt: Callable[[float], str] | None = None,
    missing: str = "0",
    total: Callable[[Sequence[Value]], str] | None = None,
    min_top: float = 0,
) -> Chart:
    """Lay out a chart: scale the values to the plot area and compute every shape and tick.

    ``x_ticks`` are (bucket index, label). Bars of several series are drawn side by side within
    their bucket; lines pass through the middle of each bucket. ``missing`` is how the table shows
    a bucket with no value (``None``), which only a measurement can have: a count is zero there.
    ``axis_fmt`` labels the y ticks when they need another format than the values (default ``fmt``).
    ``min_top`` keeps a nearly empty count chart from labelling its axis in fractions.
    """
    n = len(labels)
    if n == 0:
        raise ValueError("a chart needs at least one bucket")
    for name, values in series:
        if len(values) != n:
            raise ValueError(f"series {name!r} has {len(values)} values for {n} buckets")
    present = [v for _, values in series for v in values if v is not None]
    top_value = nice_ceiling(max([*present, min_top]))
    plot_w = (WIDTH - RIGHT) - LEFT
    plot_h = (HEIGHT - BOTTOM) - TOP
    slot = plot_w / n

    def y_of(value: float) -> float:
        return _r(TOP + plot_h * (1 - value / top_value))

    built: list[Series] = []
    for index, (name, values) in enumerate(series):
        formatted = tuple(missing if v is None else fmt(v) for v in values)
        bars: list[Bar] = []
        points: list[Point] = []
        lines: list[str] = []
        run: list[str] = []
        for i, value in enumerate(values):
            tip = f"{labels[i]}: {name} {formatted[i]}"
            if kind == "bar":
                width = slot * 0.8 / len(series)
                x = LEFT + i * slot + slot * 0.1 + index * width
                v = value or 0
                y = y_of(v)
                bars.append(Bar(_r(x), y, _r(max(width, 0.5)), _r(HEIGHT - BOTTOM - y), tip))
                continue
            if value is None:
                if run:
                    lines.append(" ".join(run))
                run = []
                continue
            x = _r(LEFT + (i + 0.5) * slot)
            y = y_of(value)
            run.append(f"{x},{y}")
            points.append(Point(x, y, tip))
        if run:
            lines.append(" ".join(run))
        summed = total(values) if total else count_label(sum(v for v in values if v is not None))
        built.append(
            Series(
                name=name,
                css=f"cs-series-{index + 1}",
                values=tuple(values),
                formatted=formatted,
                total=summed,
                lines=tuple(line for line in lines if " " in line),  # a lone point is drawn as its marker
                points=tuple(points),
                bars=tuple(bars),
            )
        )

    divisions = axis_divisions(top_value)
    y_ticks = tuple(
        Tick(y_of(top_value * k / divisions), (axis_fmt or fmt)(top_value * k / divisions))
        for k in range(divisions + 1)
    )
    ticks = tuple(Tick(_r(LEFT + (i + 0.5) * slot), label) for i, label in x_ticks if 0 <= i < n)
    period = f"{labels[0]} to {labels[-1]}"
    summary = f"{title}, {period}: " + "; ".join(f"{s.name} {s.total}" for s in built) + "."
    return Chart(
        slug=slug,
        title=title,
        description=description,
        kind=kind,
        x_label=x_label,
        y_label=y_label,
        labels=tuple(labels),
        series=tuple(built),
        x_ticks=ticks,
        y_ticks=y_ticks,
        summary=summary,
        empty=not any(present),
    )
