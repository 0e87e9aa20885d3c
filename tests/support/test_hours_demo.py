"""`flask seed-demo`'s agreements and hours: what the brief promises, and the same every time."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from agreements.models import Agreement, Council, MonthClose
from agreements.months import add_months
from support.hours.models import TimeEntry, UsageAlert

TODAY = dt.date(2026, 3, 18)


def _root_conftest():
    """tests/conftest.py, by path: several conftest modules share that name."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("councildesk_root_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _digest(db):
    """The history by council name (ids depend on what the database handed out before)."""
    return (db.session.execute(select(Council.slug, TimeEntry.date, TimeEntry.minutes, TimeEntry.mode,
                                      TimeEntry.travel_minutes).join(Council, Council.id == TimeEntry.council_id)
                               .order_by(TimeEntry.id)).all(),
            db.session.execute(select(Council.slug, Agreement.onsite_minutes_month, Agreement.rollover)
                               .join(Council, Council.id == Agreement.council_id).order_by(Agreement.id)).all())


@pytest.mark.slow
def test_demo_agreements_and_hours(app, db):
    from agreements import services
    from core import demo
    from support.hours import figures as hours

    demo.run(today=TODAY)
    councils = db.session.scalars(select(Council).order_by(Council.name)).all()
    assert len(councils) == 18
    for council in councils:
        first, renewal = services.council_agreements(council.id)[::-1]
        assert (first.starts_on, first.ends_on) == (dt.date(2022, 1, 1), dt.date(2025, 12, 31))
        assert (renewal.starts_on, renewal.ends_on) == (dt.date(2026, 1, 1), dt.date(2029, 12, 31))
        assert renewal.previous_agreement_id == first.id and renewal.signed_on is not None
        band = services.band_for(council.population)
        assert first.remote_minutes_month == renewal.remote_minutes_month == band.remote_minutes_month
        assert 90 <= first.onsite_minutes_month <= 1680 and 90 <= renewal.onsite_minutes_month <= 1680
        change = services.change_ratio(renewal.onsite_minutes_month, first.onsite_minutes_month)
        assert 0.1 <= change <= 0.35 or renewal.onsite_minutes_month == 1680
    requested = [a.onsite_minutes_month for a in db.session.scalars(select(Agreement))]
    assert min(requested) == 90 and max(requested) >= 1200  # 1.5 h for the smallest, over 20 h for the largest

    months = [add_months(dt.date(2026, 3, 1), -i) for i in range(18)]
    per_month = Counter(db.session.scalars(select(TimeEntry.month).where(TimeEntry.corrects_entry_id.is_(None))))
    assert set(per_month) == set(months)
    full = [per_month[m] for m in months[1:]]
    assert 90 <= sum(full) / len(full) <= 140, full  # about 110 requests a month
    assert db.session.scalar(select(func.max(TimeEntry.date))) <= TODAY
    modes = Counter(db.session.scalars(select(TimeEntry.mode).where(TimeEntry.corrects_entry_id.is_(None))))
    assert modes["onsite"] > 300 and modes["remote"] > 300
    assert db.session.scalar(select(func.count()).select_from(TimeEntry).where(  # every visit has its travel
        TimeEntry.mode == "onsite", TimeEntry.travel_minutes > 0)) == modes["onsite"]
    # Months older than last month are closed, for every council; last month and this one are open.
    closes = Counter(db.session.scalars(select(MonthClose.month)))
    assert set(closes) >= set(months[2:]) and set(closes.values()) == {18}
    assert min(closes) == dt.date(2022, 1, 1) and max(closes) == months[2]
    # A few councils over their allowance, most within it.
    rows = hours.usage_for_year(2025)
    over = {r.council_id for r in rows if r.onsite.excess_minutes}
    assert 2 <= len({c for c in over if sum(1 for r in rows if r.council_id == c and r.onsite.excess_minutes) >= 6}) <= 5
    assert db.session.scalar(select(func.count()).select_from(UsageAlert)) > 0
    assert db.session.scalar(select(func.count()).select_from(TimeEntry).where(
        TimeEntry.corrects_entry_id.is_not(None))) == 1

    # Deterministic: the same seed and day give the same history.
    first_run = _digest(db)
    db.session.remove()
    _root_conftest().clean_database(app)
    demo.run(today=TODAY)
    assert _digest(db) == first_run
