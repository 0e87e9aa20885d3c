"""Server-rendered SVG sparklines and state strips for the health pages.

Why not matplotlib here (it stays the tool for the reports' charts, PNGs in PDFs): an asset's
panel shows one small chart per check, and lessons.md measured 250–370 ms per matplotlib chart
plus 1.8 s to import it in each gunicorn worker, i.e. one to two seconds for a server's panel,
for a line 300 pixels wide. Built here the same line costs well under a millisecond, is part
of the page itself (so the council scope that loaded the page is the scope of the chart, with
no image route to protect separately), scales to a phone's width as vector graphics, and
takes its labels from the page's own language. No `style` attributes and no script: colours
come from classes in app.css, so the page's CSP holds.

Everything here is numbers in, numbers out: the template writes them into the SVG, and the
only text (labels, dates) goes through Jinja's escaping like the rest of the page.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

WIDTH = 300
HEIGHT = 60
STRIP = 6  # the state strip under the line
PLOT = HEIGHT - STRIP - 4
MAX_POINTS = WIDTH


@dataclass
class Sparkline:
    lines: list[str] = field(default_factory=list)  # SVG polyline "points" attributes
    warning_y: float | None = None
    critical_y: float | None = None
    segments: list[tuple[float, float, str]] = field(default_factory=list)  # (x, width, state)
    last: tuple[float, float, str] | None = None  # (x, y, state) of the newest point
    low: float | None = None
    high: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    points: int = 0
    width: int = WIDTH
    height: int = HEIGHT
    strip_y: int = HEIGHT - STRIP

    @property
    def empty(self) -> bool:
        return not self.lines and not self.segments


def _x(t: dt.datetime, start: dt.datetime, span: float) -> float:
    return round(max(0.0, min(1.0, (t - start).total_seconds() / span)) * WIDTH, 1)


def sparkline(series: list[tuple[dt.datetime, float | None, str]], start: dt.datetime, end: dt.datetime, *,
              unit: str = "", warning: float | None = None, critical: float | None = None,
              states: list[tuple[dt.datetime, dt.datetime, str]] | None = None,
              expected_gap: float | None = None) -> Sparkline:
    """A line of `series` (time, value, state) between `start` and `end`.

    Points further apart than three expected intervals are not joined: a gap in the data (an
    agent switched off) must look like a gap, not like a straight line across the night.
    """
    span = max(1.0, (end - start).total_seconds())
    chart = Sparkline(start=start, end=end)
    values = [(t, v, s) for t, v, s in series if v is not None and math.isfinite(v) and start <= t <= end]
    if values:
        # At most one point per horizontal pixel: the mean of the values that fall in it.
        buckets: dict[int, list] = {}
        for t, v, s in values:
            buckets.setdefault(min(WIDTH - 1, int(_x(t, start, span))), []).append((t, v, s))
        points = []
        for _px, items in sorted(buckets.items()):
            t = items[len(items) // 2][0]
            points.append((t, sum(v for _t, v, _s in items) / len(items), items[-1][2]))
        chart.points = len(points)
        chart.minimum = min(v for _t, v, _s in values)
        chart.maximum = max(v for _t, v, _s in values)
        if unit == "%":
            low, high = 0.0, 100.0
        else:
            low = 0.0 if chart.minimum >= 0 else chart.minimum
            high = max(chart.maximum, *(x for x in (warning, critical) if x is not None), 1e-9) * 1.1
        chart.low, chart.high = low, high
        scale = (high - low) or 1.0

        def y(v: float) -> float:
            return round(2 + (1 - (min(max(v, low), high) - low) / scale) * PLOT, 1)

        gap = (expected_gap or _median_gap(points)) * 3
        current: list[str] = []
        previous = None
        for t, v, _s in points:
            if previous is not None and gap and (t - previous).total_seconds() > gap:
                if current:
                    chart.lines.append(" ".join(current))
                current = []
            current.append(f"{_x(t, start, span)},{y(v)}")
            previous = t
        if current:
            chart.lines.append(" ".join(current))
        if warning is not None and low <= warning <= high:
            chart.warning_y = y(warning)
        if critical is not None and low <= critical <= high:
            chart.critical_y = y(critical)
        t, v, s = points[-1]
        chart.last = (_x(t, start, span), y(v), s)
    for seg_start, seg_end, state in states or []:
        x0, x1 = _x(max(seg_start, start), start, span), _x(min(seg_end, end), start, span)
        if x1 > x0:
            chart.segments.append((x0, round(x1 - x0, 1), state))
    return chart


def _median_gap(points: list) -> float:
    if len(points) < 3:
        return 0.0
    gaps = sorted((b[0] - a[0]).total_seconds() for a, b in zip(points, points[1:], strict=False))
    return gaps[len(gaps) // 2]


def state_segments(initial: str | None, changes: list[tuple[dt.datetime, str]], start: dt.datetime,
                   end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime, str]]:
    """The states a check went through between `start` and `end`, from its state changes."""
    out = []
    state, since = initial, start
    for at, to_state in changes:
        if at <= start:
            state = to_state
            continue
        if at >= end:
            break
        if state is not None:
            out.append((since, at, state))
        state, since = to_state, at
    if state is not None:
        out.append((since, end, state))
    return out


def availability(segments: list[tuple[dt.datetime, dt.datetime, str]]) -> float | None:
    """Share of the watched time spent not critical (unknown time does not count either way)."""
    watched = sum((b - a).total_seconds() for a, b, s in segments if s != "unknown")
    if watched <= 0:
        return None
    bad = sum((b - a).total_seconds() for a, b, s in segments if s == "critical")
    return 1 - bad / watched
