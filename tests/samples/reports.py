"""Path arguments of the reports' routes: an archived report of the council (a small CSV, so
the matrix stays fast), and the formats in the chart and document addresses."""

from __future__ import annotations


def provide(world, side):
    from agreements.months import add_months, month_start, office_today
    from reports import archive

    council = world.council_a if side == "a" else world.council_b
    month = add_months(month_start(office_today()), -1)
    report = archive.store("council_month", council, month, "ca", "csv", f"council;{side}\r\n".encode(), actor=None)
    return {"archive_id": report.id, "ext": "png", "doc": "pdf"}
