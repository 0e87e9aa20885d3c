"""Properties of the usage arithmetic (hypothesis): for any agreements, rollover and entries,

* used is the sum of the month's entries (corrections included);
* allowance = base + carried; remaining and excess are never both positive;
* carried is at most one month's base, never flows into an agreement's first month, never
  across agreements, and each month's unused base is carried at most once;
* the database computation (one GROUP BY, support.hours.figures) agrees with a plain recomputation
  from the entries, for one council-month and for a whole year of every council.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agreements.months import add_months, months_between
from support.hours.usage import MODES, Terms, forecast, usage_rows

START = dt.date(2024, 1, 1)
WINDOW = 30  # months


@st.composite
def agreements_strategy(draw, council_ids=(1,)):
    """Non-overlapping agreements of whole months inside the window, per council."""
    terms = []
    next_id = 1
    for council_id in council_ids:
        cursor = draw(st.integers(0, 4))
        while cursor < WINDOW:
            length = draw(st.integers(1, 14))
            last = min(WINDOW - 1, cursor + length - 1)
            terms.append(Terms(next_id, council_id, add_months(START, cursor), add_months(START, last),
                               draw(st.integers(90, 1680)), draw(st.integers(0, 300)),
                               draw(st.sampled_from(("none", "next_month")))))
            next_id += 1
            cursor = last + 1 + draw(st.sampled_from((0, 0, 0, 1, 3)))
    return terms


def entries_strategy(council_ids=(1,)):
    entry = st.tuples(st.sampled_from(council_ids), st.integers(0, WINDOW - 1), st.sampled_from(MODES),
                      # mostly entries, a few negative corrections
                      st.one_of(st.integers(1, 600), st.integers(1, 600), st.integers(-300, -1)),
                      st.integers(0, 90))
    return st.lists(entry, max_size=80)


def _sums(entries):
    used, travel = defaultdict(int), defaultdict(int)
    for council_id, offset, mode, minutes, trav in entries:
        month = add_months(START, offset)
        used[(council_id, month, mode)] += minutes
        if mode == "onsite":
            travel[(council_id, month)] += trav
    return used, travel


def _covering(terms, council_id, month):
    return next((t for t in terms if t.council_id == council_id and t.covers(month)), None)


@settings(max_examples=300, deadline=None)
@given(agreements_strategy(), entries_strategy())
def test_usage_arithmetic(terms, entries):
    used, travel = _sums(entries)
    months = months_between(START, add_months(START, WINDOW - 1))
    rows = usage_rows(terms, months, used, travel, closed=set())
    # Exactly the months some agreement covers, once each.
    assert [(r.council_id, r.month) for r in rows] == [(1, m) for m in months if _covering(terms, 1, m)]
    by_month = {r.month: r for r in rows}
    for row in rows:
        agreement = _covering(terms, row.council_id, row.month)
        assert row.agreement_id == agreement.id
        assert row.travel_minutes == travel.get((row.council_id, row.month), 0)
        for mode in MODES:
            u = row.mode(mode)
            assert u.used_minutes == sum(e[3] for e in entries if e[1] == months.index(row.month) and e[2] == mode)
            assert u.base_minutes == agreement.base(mode)
            assert u.allowance_minutes == u.base_minutes + u.carried_minutes
            assert u.remaining_minutes == max(0, u.allowance_minutes - u.used_minutes)
            assert u.excess_minutes == max(0, u.used_minutes - u.allowance_minutes)
            assert not (u.remaining_minutes > 0 and u.excess_minutes > 0)
            assert 0 <= u.carried_minutes <= u.base_minutes
            previous = add_months(row.month, -1)
            if agreement.rollover == "none" or row.month == agreement.first_month:
                assert u.carried_minutes == 0
            else:
                # The month before belongs to the same agreement: only its unused base moves on.
                before = by_month[previous]
                assert before.agreement_id == row.agreement_id
                assert u.carried_minutes == min(u.base_minutes, max(0, u.base_minutes - before.mode(mode).used_minutes))
    # Each month's unused base is carried at most once, and only forward within its agreement.
    for agreement in terms:
        covered = [by_month[m] for m in months_between(agreement.first_month, agreement.last_month)]
        for mode in MODES:
            carried = sum(r.mode(mode).carried_minutes for r in covered[1:])
            unused = sum(max(0, r.mode(mode).base_minutes - r.mode(mode).used_minutes) for r in covered[:-1])
            assert carried <= unused


@settings(max_examples=200, deadline=None)
@given(st.integers(-600, 5000), st.integers(0, 2000), st.integers(0, 23), st.integers(1, 23))
def test_forecast(used, allowance, elapsed, total):
    result = forecast(used, allowance, elapsed, total)
    if elapsed == 0:
        assert result is None
        return
    elapsed = min(elapsed, total)
    assert result.elapsed_days == elapsed and result.total_days == total
    if used > 0:
        assert result.projected_minutes >= used  # the month can only add work
        assert abs(result.projected_minutes - used * total / elapsed) <= 0.5
    else:
        assert result.projected_minutes == used
    if elapsed == total:
        assert result.projected_minutes == used
    # Before five business days of a running month it is too early to call a month over (issue 13).
    assert result.too_early == (elapsed < min(5, total))
    assert result.over == (not result.too_early and result.projected_minutes > allowance)


# --- the database agrees with a plain recomputation ----------------------------------------------

def _expected(terms, entries, council_id, month):
    """Usage recomputed straight from the entries, without support.hours.usage."""
    agreement = _covering(terms, council_id, month)
    if agreement is None:
        return None
    out = {}
    for mode in MODES:
        base = agreement.base(mode)
        spent = sum(e[3] for e in entries if e[0] == council_id and add_months(START, e[1]) == month and e[2] == mode)
        carried = 0
        previous = add_months(month, -1)
        if agreement.rollover == "next_month" and agreement.covers(previous):
            spent_before = sum(e[3] for e in entries
                               if e[0] == council_id and add_months(START, e[1]) == previous and e[2] == mode)
            carried = min(base, max(0, base - spent_before))
        allowance = base + carried
        out[mode] = {"base_minutes": base, "carried_minutes": carried, "allowance_minutes": allowance,
                     "used_minutes": spent, "remaining_minutes": max(0, allowance - spent),
                     "excess_minutes": max(0, spent - allowance)}
    out["travel_minutes"] = sum(e[4] for e in entries
                                if e[0] == council_id and add_months(START, e[1]) == month and e[2] == "onsite")
    return out


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_database_usage_matches_the_entries(world, db, data):
    from sqlalchemy import delete

    from agreements.models import Agreement
    from support.hours import figures as services
    from support.hours.models import TimeEntry

    councils = (world.council_a.id, world.council_b.id)
    terms = data.draw(agreements_strategy(councils))
    entries = data.draw(entries_strategy(councils))
    db.session.execute(delete(TimeEntry))
    db.session.execute(delete(Agreement))
    ids = {}
    for t in terms:
        row = Agreement(council_id=t.council_id, starts_on=t.first_month,
                        ends_on=add_months(t.last_month, 1) - dt.timedelta(days=1), onsite_minutes_month=t.onsite,
                        remote_minutes_month=t.remote, rollover=t.rollover, signed_on=dt.date(2023, 12, 1))
        db.session.add(row)
        db.session.flush()
        ids[t.id] = row.id
    # Rows as the services write them, in bulk: a correction's minutes may be negative.
    first_id = None
    for council_id, offset, mode, minutes, trav in entries:
        month = add_months(START, offset)
        entry = TimeEntry(council_id=council_id, technician_id=world.technician.id, date=month + dt.timedelta(days=3),
                          month=month, minutes=minutes, mode=mode, travel_minutes=trav if mode == "onsite" else 0,
                          description="", corrects_entry_id=None)
        if minutes < 0:
            if first_id is None:
                anchor = TimeEntry(council_id=council_id, technician_id=world.technician.id, date=dt.date(2023, 1, 2),
                                   month=dt.date(2023, 1, 1), minutes=1, mode=mode, description="")
                db.session.add(anchor)
                db.session.flush()
                first_id = anchor.id
            entry.corrects_entry_id = first_id
        db.session.add(entry)
    db.session.commit()

    year_rows = {(r.council_id, r.month): r for r in services.usage_between(START, add_months(START, WINDOW - 1))}
    for council_id in councils:
        for month in months_between(START, add_months(START, WINDOW - 1)):
            expected = _expected(terms, entries, council_id, month)
            row = year_rows.get((council_id, month))
            if expected is None:
                assert row is None
                continue
            got = {mode: row.mode(mode).as_dict() for mode in MODES} | {"travel_minutes": row.travel_minutes}
            assert got == expected, (council_id, month)
            assert row.agreement_id == ids[_covering(terms, council_id, month).id]
    # One council-month on its own gives the same as the range.
    probe = data.draw(st.sampled_from(months_between(START, add_months(START, WINDOW - 1))))
    single = services.council_month_usage(world.council_a.id, probe)
    assert single == year_rows.get((world.council_a.id, probe))
