"""The reports on the demo office (the Bages councils, eighteen months of hours, tickets and
health checks, as `flask seed-demo` loads them): every figure equals the usage endpoint and
the raw SQL computation."""

from __future__ import annotations

import datetime as dt

import pytest

from agreements.months import add_months, month_start, months_between


@pytest.mark.slow
def test_reports_on_the_demo_office(app, db, reference, api_for, client_for):
    from sqlalchemy import select

    from accounts.models import User
    from core import demo
    from reports import dashboard

    ctx = demo.run()
    manager = db.session.scalar(select(User).where(User.role == "manager").limit(1))
    api = api_for(manager)
    this_month = month_start(ctx.today)
    months = months_between(add_months(this_month, -13), this_month)
    with db.engine.connect() as conn:
        expected = reference.usage(conn, months)
    seen = 0
    for year in sorted({m.year for m in months}):
        items = api.get(f"/api/v1/reports/usage?year={year}").get_json()["items"]
        for item in items:
            key = (item["council_id"], item["month"])
            if dt.date.fromisoformat(item["month"] + "-01") not in months:
                continue
            ref = expected[key]
            assert item == {k: ref[k] for k in item}, key
            seen += 1
    assert seen == len(expected) >= 18 * 12
    # Spot-check the endpoint itself on the busiest councils' last month.
    last = add_months(this_month, -1)
    board = dashboard.dashboard(last, ctx.today)
    for row in board.rows[:4]:
        endpoint = api.get(f"/api/v1/councils/{row.council.id}/usage?month={last:%Y-%m}").get_json()
        assert row.usage.onsite.as_dict() == endpoint["onsite"]
        assert row.usage.remote.as_dict() == endpoint["remote"]
    assert any(r.excess_month for r in board.rows)
    # The demo's own archive and transparency pages.
    client = client_for(manager)
    assert client.get("/reports/archive").status_code == 200
    assert app.test_client().get("/public/mura").status_code == 200
    assert client.get("/reports/dashboard").status_code == 200
