"""The reports' charts, drawn with matplotlib's object API and cached.

**Object API only.** Each chart is a `matplotlib.figure.Figure` printed by the Agg canvas (or
the SVG one); pyplot is never imported. pyplot keeps every figure in a global registry until
it is closed, which is how 200 figures leaked 285 MB in lessons.md; a `Figure` that goes out
of scope is simply collected (300 renders grew 0.4 MB there; bench/reports.py measures ours).
matplotlib is imported on the first chart, not with the app: importing it costs 1.8 s, which
a worker that never draws should not pay.

**Cache.** A chart is described by a *spec*: a plain dict of the numbers it shows and the
words it is labelled with (already in the reader's language). The spec is the chart's data
version: its SHA-256, with the format and the resolution, is the cache key, so any change in
the figures (an entry logged, a ticket resolved, a month closed) or in the language is a new
key, and an unchanged chart costs a hash and a lookup instead of 250–370 ms of drawing.
Entries live in a small in-process LRU (bounded in bytes) in front of a directory under
DATA_DIR shared by every worker (bounded in files; the oldest are pruned). The key doubles as
the HTTP ETag.

**Text.** Labels come from users (council names): matplotlib would read `$...$` in them as
mathematics, so every text drawn goes through `_plain`. Numbers are formatted with Babel in
the reader's locale (a decimal comma in Catalan and Spanish).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from flask import current_app

log = logging.getLogger("councildesk.reports.charts")

# Bumped when the drawing code changes, so cached images of the old drawing are not served.
RENDERER_VERSION = 3
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}

ONSITE_COLOUR = "#1f3a5f"
REMOTE_COLOUR = "#5fa8d3"
ALLOWANCE_COLOUR = "#d1495b"
ONSITE_LINE_COLOUR = "#edae49"
GRID_COLOUR = "#dee2e6"
MISSING_COLOUR = "#e9ecef"
FIRST_RESPONSE_COLOUR = "#1f3a5f"
RESOLUTION_COLOUR = "#00798c"
VOLUME_COLOUR = "#ced4da"

_render_lock = threading.Lock()


def _plain(text) -> str:
    """Text as itself: a `$` would start mathtext."""
    return str(text).replace("$", r"\$")


# --- specs: what a chart shows, in the reader's words ------------------------------------------

def spec_key(spec: dict, fmt: str, dpi: int) -> str:
    payload = json.dumps({"v": RENDERER_VERSION, "spec": spec, "fmt": fmt, "dpi": dpi}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _hours(minutes: int | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 3)


def month_labels(months, locale: str) -> list[str]:
    from babel.dates import format_date

    return [format_date(m, "LLL", locale=locale).rstrip(".").capitalize() for m in months]


def usage_spec(title: str, months, series: list[tuple[int, int, int, int] | None], locale: str,
               labels: dict) -> dict:
    """Monthly stacked bars of on-site and remote use, against the allowance (a step line over
    each month: on-site plus remote, carry-over included) and the on-site allowance.

    `series` has, per month, (on-site used, remote used, on-site allowance, remote allowance)
    in minutes, or None for a month no agreement covers (a gap).
    """
    return {
        "chart": "usage", "title": title, "locale": locale, "labels": labels,
        "months": month_labels(months, locale),
        "onsite": [None if s is None else _hours(s[0]) for s in series],
        "remote": [None if s is None else _hours(s[1]) for s in series],
        "allowance": [None if s is None else _hours(s[2] + s[3]) for s in series],
        "onsite_allowance": [None if s is None else _hours(s[2]) for s in series],
    }


def series_of_rows(months, rows: dict) -> list[tuple[int, int, int, int] | None]:
    """`usage_spec`'s series from MonthUsage rows by month."""
    out = []
    for month in months:
        row = rows.get(month)
        out.append(None if row is None else (row.onsite.used_minutes, row.remote.used_minutes,
                                             row.onsite.allowance_minutes, row.remote.allowance_minutes))
    return out


def series_of_totals(months, totals: dict) -> list[tuple[int, int, int, int] | None]:
    """`usage_spec`'s series from reports.consumption.Totals by month (sums of councils)."""
    out = []
    for month in months:
        t = totals.get(month)
        out.append(None if t is None or not t.months else (t.onsite.used, t.remote.used, t.onsite.allowance,
                                                             t.remote.allowance))
    return out


def heatmap_spec(title: str, months, councils: list[tuple[str, list[float | None]]], locale: str,
                 labels: dict) -> dict:
    """Councils × months, coloured by the share of the allowance used (None: no agreement)."""
    return {"chart": "heatmap", "title": title, "locale": locale, "labels": labels,
            "months": month_labels(months, locale),
            "rows": [[name, [None if r is None else round(r, 4) for r in ratios]] for name, ratios in councils]}


def sla_spec(title: str, months, first_response: list[float | None], resolution: list[float | None],
             resolved: list[int], locale: str, labels: dict) -> dict:
    """SLA compliance per month (two lines, %) over the tickets resolved (bars)."""
    return {"chart": "sla", "title": title, "locale": locale, "labels": labels,
            "months": month_labels(months, locale),
            "first_response": [None if v is None else round(v, 4) for v in first_response],
            "resolution": [None if v is None else round(v, 4) for v in resolution],
            "resolved": list(resolved)}


# --- drawing ------------------------------------------------------------------------------------

def _nan(values):
    return [float("nan") if v is None else v for v in values]


def _number_formatter(locale: str, percent: bool = False):
    from babel.numbers import format_decimal
    from matplotlib.ticker import FuncFormatter

    if percent:
        return FuncFormatter(lambda v, _pos: format_decimal(round(v), locale=locale) + " %")
    return FuncFormatter(lambda v, _pos: format_decimal(round(v, 1), format="#,##0.#", locale=locale))


def _style_axes(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color=GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _draw_usage(spec: dict):
    from babel.numbers import format_decimal

    labels, locale = spec["labels"], spec["locale"]
    n = len(spec["months"])
    x = list(range(n))
    onsite = [v or 0.0 for v in spec["onsite"]]
    remote = [v or 0.0 for v in spec["remote"]]
    fig = _new_figure(8.0, 3.8)
    ax = fig.add_subplot()
    _style_axes(ax)
    ax.bar(x, onsite, width=0.7, color=ONSITE_COLOUR, label=_plain(labels["onsite"]), zorder=2)
    ax.bar(x, remote, width=0.7, bottom=onsite, color=REMOTE_COLOUR, label=_plain(labels["remote"]), zorder=2)
    # The allowance as a step over each month's bar; a month without an agreement breaks it.
    for key, colour, style, label in (("allowance", ALLOWANCE_COLOUR, "-", labels["allowance"]),
                                      ("onsite_allowance", ONSITE_LINE_COLOUR, "--", labels["onsite_allowance"])):
        xs, ys = [], []
        for i, value in enumerate(spec[key]):
            if value is None:
                xs.append(float("nan"))
                ys.append(float("nan"))
                continue
            xs += [i - 0.5, i + 0.5]
            ys += [value, value]
        ax.plot(xs, ys, color=colour, linestyle=style, linewidth=2 if style == "-" else 1.4, label=_plain(label),
                zorder=3)
    top = 0.0
    for i in x:
        used = onsite[i] + remote[i]
        allowance = spec["allowance"][i]
        top = max(top, used, allowance or 0.0)
        if allowance is not None and used > allowance + 1e-9:
            ax.annotate("+" + format_decimal(round(used - allowance, 1), format="#,##0.#", locale=locale),
                        (i, used), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize=7, color=ALLOWANCE_COLOUR, annotation_clip=False)
    ax.set_xticks(x, labels=[_plain(m) for m in spec["months"]])
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, max(1.0, top * 1.15))
    ax.yaxis.set_major_formatter(_number_formatter(locale))
    ax.set_ylabel(_plain(labels["hours"]), fontsize=8)
    ax.set_title(_plain(spec["title"]), fontsize=11, loc="left")
    fig.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    return fig


def _draw_heatmap(spec: dict):
    import numpy as np
    from babel.numbers import format_decimal
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap

    labels, locale = spec["labels"], spec["locale"]
    rows = spec["rows"] or [["", [None] * len(spec["months"])]]
    data = np.array([[np.nan if v is None else v * 100 for v in ratios] for _name, ratios in rows], dtype=float)
    fig = _new_figure(8.0, 1.2 + 0.3 * len(rows))
    ax = fig.add_subplot()
    # Bands a manager reads at a glance: under 80 %, 80–100 %, over.
    base = colormaps["RdYlGn_r"]
    bounds = [0, 20, 40, 60, 80, 90, 100, 110, 125, 150]
    colours = [base(i / (len(bounds) - 1)) for i in range(len(bounds) - 1)]
    cmap = ListedColormap(colours).with_extremes(bad=MISSING_COLOUR, over=base(1.0))
    norm = BoundaryNorm(bounds, cmap.N)
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    for (i, j), value in np.ndenumerate(data):
        if np.isnan(value):
            continue
        ax.text(j, i, format_decimal(round(value), locale=locale), ha="center", va="center", fontsize=7,
                color="white" if value >= 125 or value < 20 else "black")
    ax.set_xticks(range(len(spec["months"])), labels=[_plain(m) for m in spec["months"]])
    ax.set_yticks(range(len(rows)), labels=[_plain(name) for name, _ in rows])
    ax.tick_params(labelsize=8, length=0)
    ax.xaxis.tick_top()
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, ticks=[0, 40, 80, 100, 125, 150],
                       spacing="proportional", extend="max")
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.set_major_formatter(_number_formatter(locale, percent=True))
    bar.set_label(_plain(labels["used"]), fontsize=8)
    ax.set_title(_plain(spec["title"]), fontsize=11, loc="left")
    return fig


def _draw_sla(spec: dict):
    labels, locale = spec["labels"], spec["locale"]
    n = len(spec["months"])
    x = list(range(n))
    fig = _new_figure(8.0, 3.4)
    ax = fig.add_subplot()
    volume = ax.twinx()
    volume.bar(x, spec["resolved"], width=0.6, color=VOLUME_COLOUR, label=_plain(labels["resolved"]), zorder=1)
    volume.set_ylim(0, max(4, max(spec["resolved"] or [0]) * 1.3))
    volume.tick_params(labelsize=8)
    volume.spines[["top"]].set_visible(False)
    volume.set_ylabel(_plain(labels["tickets"]), fontsize=8)
    # The lines in front of the bars.
    ax.set_zorder(volume.get_zorder() + 1)
    ax.patch.set_visible(False)
    _style_axes(ax)
    ax.plot(x, [v * 100 for v in _nan(spec["first_response"])], marker="o",
            color=FIRST_RESPONSE_COLOUR, linewidth=1.8, markersize=4, label=_plain(labels["first_response"]))
    ax.plot(x, [v * 100 for v in _nan(spec["resolution"])], marker="s",
            color=RESOLUTION_COLOUR, linewidth=1.8, markersize=4, label=_plain(labels["resolution"]))
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(_number_formatter(locale, percent=True))
    ax.set_xticks(x, labels=[_plain(m) for m in spec["months"]])
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_title(_plain(spec["title"]), fontsize=11, loc="left")
    fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


_DRAW = {"usage": _draw_usage, "heatmap": _draw_heatmap, "sla": _draw_sla}


def draw(spec: dict, fmt: str = "png", dpi: int = 100) -> bytes:
    """The chart as PNG or SVG bytes, drawn now (no cache)."""
    import io

    if fmt not in FORMATS:
        raise ValueError(f"unknown chart format {fmt!r}")
    with _render_lock:  # matplotlib's text and font caches are shared by every figure
        fig = _DRAW[spec["chart"]](spec)
        buffer = io.BytesIO()
        # No timestamps or tool versions in the file: the same spec gives the same bytes.
        metadata = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
        fig.clear()
    return buffer.getvalue()


# --- the cache ------------------------------------------------------------------------------------

class ChartCache:
    """A bounded in-process LRU in front of a shared directory."""

    def __init__(self, directory: str | None, memory_bytes: int, max_files: int):
        self.directory = Path(directory) if directory else None
        self.memory_bytes = memory_bytes
        self.max_files = max_files
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._writes = 0
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path | None:
        return self.directory / key[:2] / key if self.directory is not None else None

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._memory.get(key)
            if data is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return data
        path = self._path(key)
        if path is not None:
            try:
                data = path.read_bytes()
            except OSError:
                data = None
            if data is not None:
                self._remember(key, data)
                self.hits += 1
                return data
        self.misses += 1
        return None

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > self.memory_bytes // 4:
            return
        with self._lock:
            if key in self._memory:
                return
            self._memory[key] = data
            self._size += len(data)
            while self._size > self.memory_bytes and self._memory:
                _old, dropped = self._memory.popitem(last=False)
                self._size -= len(dropped)

    def put(self, key: str, data: bytes) -> None:
        self._remember(key, data)
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader in another worker sees the whole file or none.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            log.warning("cannot write chart cache file %s", path, exc_info=True)
            return
        with self._lock:
            self._writes += 1
            prune = self._writes % 64 == 0
        if prune:
            self.prune()

    def prune(self) -> int:
        """Keep the newest `max_files` files on disk (a fifth fewer, so pruning is rare)."""
        if self.directory is None or not self.directory.exists():
            return 0
        files = [p for p in self.directory.glob("*/*") if p.is_file()]
        if len(files) <= self.max_files:
            return 0
        files.sort(key=lambda p: p.stat().st_mtime)
        removed = 0
        for path in files[: len(files) - int(self.max_files * 0.8)]:
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
        return removed

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._size = 0


def cache() -> ChartCache:
    app = current_app._get_current_object()
    existing = app.extensions.get("councildesk_chart_cache")
    if existing is None:
        directory = app.config.get("REPORTS_CHART_CACHE_DIR")
        if directory is None:
            directory = os.path.join(app.config["DATA_DIR"], "cache", "charts")
        existing = ChartCache(directory or None, int(app.config.get("REPORTS_CHART_CACHE_MEMORY_BYTES", 16 << 20)),
                              int(app.config.get("REPORTS_CHART_CACHE_FILES", 2000)))
        app.extensions["councildesk_chart_cache"] = existing
    return existing


def render(spec: dict, fmt: str = "png", dpi: int = 100) -> tuple[bytes, str]:
    """The chart's bytes and its key (the ETag), from the cache when it was drawn before."""
    key = spec_key(spec, fmt, dpi)
    store = cache()
    data = store.get(key)
    if data is None:
        data = draw(spec, fmt, dpi)
        store.put(key, data)
    return data, key
