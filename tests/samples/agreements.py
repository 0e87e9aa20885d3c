"""Path arguments of the agreements' routes: agreements and months (councils are in core.py)."""

from __future__ import annotations

import datetime as dt


def provide(world, side):
    from agreements import services
    from agreements.months import add_months, format_month, month_end, month_start, office_today

    council = world.council_a if side == "a" else world.council_b
    this_month = month_start(office_today())
    # From January of last year to December of next year: the current and the previous month
    # are always covered, whatever day the suite runs.
    agreement = services.create_agreement(council, {
        "starts_on": dt.date(this_month.year - 1, 1, 1), "ends_on": month_end(dt.date(this_month.year + 1, 12, 1)),
        "onsite_minutes_month": 240, "rollover": "next_month", "signed_on": dt.date(this_month.year - 2, 12, 15),
    }, actor=None)
    # The previous month: ended, so the close routes can close it.
    return {"agreement_id": agreement.id, "month": format_month(add_months(this_month, -1))}
