"""The councils × services matrix as a chart: one coloured cell per council and service.

matplotlib through its object API (Figure + Agg canvas), never pyplot in the server; the module
is imported only when a chart is drawn, since importing matplotlib costs seconds."""

from __future__ import annotations

import io

from catalogue.models import STATUSES

# Colour per status, told apart also in grey print and by most colour-blind readers.
COLOURS = {None: "#f8f9fa", "planned": "#9ec5fe", "deploying": "#ffc107", "live": "#198754", "retired": "#6c757d"}
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


def matrix_chart(councils: list[str], services: list[str], cells: dict[tuple[int, int], str], legend: dict,
                 title: str, fmt: str = "png") -> bytes:
    """`cells[(row, column)]` is the status of council `row` for service `column`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows, cols = max(len(councils), 1), max(len(services), 1)
    fig = Figure(figsize=(min(2.5 + 0.9 * cols, 16), min(1.8 + 0.32 * rows, 30)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = [[to_rgb(COLOURS[cells.get((r, c))]) for c in range(cols)] for r in range(rows)]
    ax.imshow(image, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(services)), labels=services, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(councils)), labels=councils, fontsize=8)
    ax.set_xticks([x - 0.5 for x in range(1, cols)], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(title, fontsize=10)
    handles = [Patch(facecolor=COLOURS[s], edgecolor="#adb5bd", label=str(legend[s])) for s in (None, *STATUSES)]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out = io.BytesIO()
    fig.savefig(out, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return out.getvalue()
