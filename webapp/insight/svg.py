"""Chart geometry for server-rendered SVG: no script, no inline style, so any CSP allows it."""

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24
SERIES_COLOURS = ("#4f46e5", "#f59e0b")  # indigo, amber


def nice_ceiling(value: int) -> int:
    """The smallest 2, 4, 6, 8 or 10 × 10ⁿ at or above ``value`` (at least 2): an even top, so
    the middle line of the axis is a whole number too."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if value <= step * power and (step * power) % 2 == 0:
            return step * power
    return 10 * power


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # what a tooltip and a screen reader say: "3 Dec: 12 activations"
    series: int = 0


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    line: str  # polyline points, for a line chart
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def bar_marks(self) -> Markup:
        """The bars as SVG, each with its tooltip. Written here in one pass: a year is 365 bars
        and 106 more per week, which took a template loop most of the page's time."""
        return Markup(
            "".join(
                f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.width:.2f}" height="{b.height:.1f}"'
                f' fill="{SERIES_COLOURS[b.series]}"><title>{escape(b.label)}</title></rect>'
                for b in self.bars
            )
        )


def _y_ticks(top: int) -> list[Tick]:
    plot = HEIGHT - BOTTOM - TOP
    return [Tick(HEIGHT - BOTTOM - plot * f, f"{top * f:,.0f}") for f in (0, 0.5, 1)]


def _x_ticks(labels: list[str], slot: float, count: int = 6) -> list[Tick]:
    every = max(1, math.ceil(len(labels) / count))
    return [Tick(LEFT + slot * (i + 0.5), text) for i, text in enumerate(labels) if i % every == 0]


def bar_chart(title: str, labels: list[str], series: list[list[int]], names: list[str]) -> Chart:
    """Bars per label, one per series side by side (e.g. renewals and ends of each week)."""
    top = nice_ceiling(max((v for s in series for v in s), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.8 / len(series), 0.5)
    bars = []
    for i, label in enumerate(labels):
        for s, values in enumerate(series):
            h = plot_h * values[i] / top
            x = LEFT + slot * i + slot * 0.1 + bar_w * s
            bars.append(
                Bar(x, HEIGHT - BOTTOM - h, bar_w, h, f"{label}: {values[i]:,} {names[s]}", s)
            )
    return Chart(title, bars, "", _y_ticks(top), _x_ticks(labels, slot))


def line_chart(title: str, labels: list[str], values: list[int]) -> Chart:
    top = nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(labels), 1)
    points = " ".join(
        f"{LEFT + slot * (i + 0.5):.1f},{HEIGHT - BOTTOM - plot_h * v / top:.1f}"
        for i, v in enumerate(values)
    )
    return Chart(title, [], points, _y_ticks(top), _x_ticks(labels, slot))
