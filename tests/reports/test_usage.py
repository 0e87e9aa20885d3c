"""The usage report (API JSON and CSV, pages, dashboard, yearly totals) against the usage
endpoint and against raw SQL."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from agreements.months import add_months, month_start, months_between

CONTRACT_FIELDS = [
    "council_id", "council", "month",
    "onsite_base_minutes", "onsite_carried_minutes", "onsite_allowance_minutes", "onsite_used_minutes",
    "onsite_remaining_minutes", "onsite_excess_minutes",
    "remote_base_minutes", "remote_carried_minutes", "remote_allowance_minutes", "remote_used_minutes",
    "remote_remaining_minutes", "remote_excess_minutes",
    "travel_minutes",
]


def _flat(endpoint_body: dict) -> dict:
    out = {"council_id": endpoint_body["council_id"], "month": endpoint_body["month"],
           "travel_minutes": endpoint_body["travel_minutes"]}
    for mode in ("onsite", "remote"):
        for key, value in endpoint_body[mode].items():
            out[f"{mode}_{key}"] = value
    return out


def _year_months(year: int) -> list[dt.date]:
    return months_between(dt.date(year, 1, 1), dt.date(year, 12, 1))


def test_usage_report_equals_the_usage_endpoint_and_raw_sql(dataset, db, world, api_for, reference):
    api = api_for(world.manager)
    for year in (dataset.year, dataset.today.year):
        body = api.get(f"/api/v1/reports/usage?year={year}").get_json()
        items = body["items"]
        assert set(body) == {"items"}
        assert all(list(item) == CONTRACT_FIELDS for item in items)
        # One row per council-month an agreement covers, ordered by council and month.
        assert [(i["council_id"], i["month"]) for i in items] == sorted((i["council_id"], i["month"]) for i in items)
        with db.engine.connect() as conn:
            expected = reference.usage(conn, _year_months(year))
        assert {(i["council_id"], i["month"]) for i in items} == set(expected)
        for item in items:
            ref = expected[(item["council_id"], item["month"])]
            assert item == {k: ref[k] for k in CONTRACT_FIELDS}, item
            endpoint = api.get(f"/api/v1/councils/{item['council_id']}/usage?month={item['month']}")
            assert endpoint.status_code == 200
            flat = _flat(endpoint.get_json())
            assert {k: v for k, v in item.items() if k != "council"} == flat
    # The data exercises what the arithmetic is about.
    items = api.get(f"/api/v1/reports/usage?year={dataset.year}").get_json()["items"]
    assert any(i["onsite_carried_minutes"] for i in items)
    assert any(i["onsite_excess_minutes"] or i["remote_excess_minutes"] for i in items)
    assert any(i["travel_minutes"] for i in items)


def test_the_closed_month_and_its_correction(dataset, world, api_for):
    api = api_for(world.manager)
    items = {(i["council_id"], i["month"]): i for i in
             api.get(f"/api/v1/reports/usage?year={dataset.year}&council_id={world.council_a.id}").get_json()["items"]}
    march, may = items[(world.council_a.id, f"{dataset.year}-03")], items[(world.council_a.id, f"{dataset.year}-05")]
    endpoint_may = api.get(f"/api/v1/councils/{world.council_a.id}/usage?month={dataset.year}-05").get_json()
    # The correction counts in May (its own month), not in the closed March.
    assert endpoint_may["onsite"]["used_minutes"] == may["onsite_used_minutes"]
    assert march["onsite_used_minutes"] >= 120
    assert {i[0] for i in items} == {world.council_a.id}


def test_csv_is_the_same_report(dataset, world, api_for):
    api = api_for(world.manager)
    json_items = api.get(f"/api/v1/reports/usage?year={dataset.year}").get_json()["items"]
    resp = api.get(f"/api/v1/reports/usage?year={dataset.year}&format=csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert list(rows[0]) == CONTRACT_FIELDS
    assert [{k: (v if k in ("council", "month") else int(v)) for k, v in r.items()} for r in rows] == json_items
    assert "Castellgalí" in {r["council"] for r in rows}


def test_csv_cells_are_formula_safe(dataset, db, world, api_for):
    world.council_b.name = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    body = api_for(world.manager).get(f"/api/v1/reports/usage?year={dataset.year}&format=csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in body
    assert "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body


def _usage_header(lang: str) -> list[str]:
    from flask_babel import force_locale

    from reports.exports import usage_header

    with force_locale(lang):
        return usage_header()


def test_page_exports_use_the_same_figures(dataset, world, client_for, api_for, app):
    """The CSV people download speaks their language: translated headers, h:mm beside exact
    decimal hours (with their decimal mark), the same figures as the API."""
    from decimal import Decimal

    from core.spreadsheet import hm
    from extensions import db

    api_items = api_for(world.manager).get(f"/api/v1/reports/usage?year={dataset.year}").get_json()["items"]
    for lang, delimiter, mark in (("en", ",", "."), ("ca", ";", ",")):
        world.manager.preferred_language = lang
        db.session.commit()
        body = client_for(world.manager).get(f"/reports/usage.csv?year={dataset.year}").data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
        with app.test_request_context():
            header = _usage_header(lang)
        assert rows[0] == header and not set(header) & set(CONTRACT_FIELDS)
        assert len(rows) - 1 == len(api_items)
        # Columns 2, 3...: each figure as h:mm, then as decimal hours, in the contract's order.
        for row, item in zip(rows[1:], api_items, strict=True):
            assert (row[0], row[1]) == (item["council"], item["month"])
            for index, name in enumerate(CONTRACT_FIELDS[3:]):
                text, hours = row[2 + 2 * index], row[3 + 2 * index]
                assert text == hm(item[name])
                assert "." not in hours if mark == "," else "," not in hours
                assert Decimal(hours.replace(",", ".")) * 60 == pytest.approx(item[name], abs=0.01)


def test_dashboard_equals_usage_and_raw_sql(dataset, db, world, api_for, reference):
    from reports import dashboard

    month = add_months(month_start(dataset.today), -1)
    board = dashboard.dashboard(month, dataset.today)
    api = api_for(world.manager)
    with db.engine.connect() as conn:
        year_ref = reference.usage(conn, months_between(dt.date(month.year, 1, 1), month))
    key = f"{month.year:04d}-{month.month:02d}"
    rows = {r.council.id: r for r in board.rows}
    assert set(rows) == {c.id for c in dataset.councils.values()}
    for council in dataset.councils.values():
        row = rows[council.id]
        ref = year_ref.get((council.id, key))
        if ref is None:
            assert row.usage is None and row.lights == {"onsite": "none", "remote": "none"}
            continue
        endpoint = api.get(f"/api/v1/councils/{council.id}/usage?month={key}").get_json()
        for mode in ("onsite", "remote"):
            assert row.usage.mode(mode).as_dict() == endpoint[mode]
            used, allowance = ref[f"{mode}_used_minutes"], ref[f"{mode}_allowance_minutes"]
            expected = "over" if used > allowance else "warning" if used * 100 >= allowance * 80 else "ok"
            assert row.lights[mode] == expected
        assert row.excess_month == ref["onsite_excess_minutes"] + ref["remote_excess_minutes"]
        assert row.excess_year == sum(r["onsite_excess_minutes"] + r["remote_excess_minutes"]
                                      for (c, _m), r in year_ref.items() if c == council.id)
    assert board.month_totals.excess == sum(r.excess_month for r in board.rows)
    # Open tickets as they stand.
    with db.engine.connect() as conn:
        import sqlalchemy as sa

        open_counts = {c: (int(n), int(late)) for c, n, late in conn.execute(sa.text(
            "SELECT council_id, COUNT(*), SUM(CASE WHEN sla_state = 'breached' OR first_response_breached "
            "OR resolution_breached THEN 1 ELSE 0 END) FROM tickets WHERE status IN ('new', 'assigned', "
            "'in_progress', 'waiting_council') GROUP BY council_id"))}
    assert {c: (r.open_tickets, r.overdue_tickets) for c, r in rows.items() if r.open_tickets} == open_counts
    assert any(late for _n, late in open_counts.values())


def test_current_month_light_follows_the_forecast(app):
    from reports.dashboard import traffic_light

    assert traffic_light(0, 0, None) == "none"
    assert traffic_light(10, 0, None) == "over"
    assert traffic_light(50, 100, None) == "ok"
    assert traffic_light(50, 100, 120) == "warning"  # heading beyond it
    assert traffic_light(80, 100, None) == "warning"
    assert traffic_light(101, 100, None) == "over"


def test_office_year_and_comarca_totals_equal_raw_sql(dataset, db, reference):
    from reports import consumption

    office = consumption.office_year(dataset.year)
    with db.engine.connect() as conn:
        ref = reference.usage(conn, _year_months(dataset.year))
    for council in dataset.councils.values():
        t = office.by_council[council.id]
        mine = [r for (c, _m), r in ref.items() if c == council.id]
        assert t.onsite.used == sum(r["onsite_used_minutes"] for r in mine)
        assert t.remote.allowance == sum(r["remote_allowance_minutes"] for r in mine)
        assert t.excess == sum(r["onsite_excess_minutes"] + r["remote_excess_minutes"] for r in mine)
        assert t.travel == sum(r["travel_minutes"] for r in mine)
        assert t.months == len(mine)
    comarca_of = {c.id: c.comarca for c in dataset.councils.values()}
    assert set(office.by_comarca) == {"Bages", "Moianès"}
    for name, t in office.by_comarca.items():
        mine = [r for (c, _m), r in ref.items() if comarca_of[c] == name]
        assert t.onsite.used == sum(r["onsite_used_minutes"] for r in mine)
        assert t.onsite.allowance == sum(r["onsite_allowance_minutes"] for r in mine)
        assert len(t.councils) == len({r["council_id"] for r in mine})
    assert office.totals.used == sum(r["onsite_used_minutes"] + r["remote_used_minutes"] for r in ref.values())


def test_agreement_years_sum_their_months(dataset, db, world, reference):
    from agreements import services as agreements
    from reports import consumption

    years = consumption.agreement_years(agreements.council_agreements(world.council_a.id), dataset.today)
    with db.engine.connect() as conn:
        ref = reference.usage(conn, months_between(dt.date(dataset.year - 1, 1, 1), month_start(dataset.today)))
    first_current = next(y for y in years if y.agreement.id == dataset.agreements["a"].id and y.index == 1)
    assert (first_current.first, first_current.last) == (dt.date(dataset.year, 1, 1), dt.date(dataset.year, 12, 1))
    assert first_current.complete
    mine = [r for (c, m), r in ref.items() if c == world.council_a.id and m.startswith(str(dataset.year))]
    assert first_current.totals.onsite.used == sum(r["onsite_used_minutes"] for r in mine)
    assert first_current.totals.onsite.carried == sum(r["onsite_carried_minutes"] for r in mine)
    previous = [y for y in years if y.agreement.id == dataset.agreements["a_prev"].id]
    assert len(previous) == 1 and previous[0].totals.months == 12
    second = next(y for y in years if y.agreement.id == dataset.agreements["a"].id and y.index == 2)
    assert not second.complete


def test_api_errors_follow_the_contract(dataset, world, api_for, api_error):
    api = api_for(world.manager)
    # The year defaults to the current one.
    current = api.get("/api/v1/reports/usage").get_json()["items"]
    assert current == api.get(f"/api/v1/reports/usage?year={dataset.today.year}").get_json()["items"]
    api_error(api.get("/api/v1/reports/usage?year=abc"), 422, "validation_error")
    api_error(api.get(f"/api/v1/reports/usage?year={dataset.year}&format=xml"), 422, "validation_error")
    api_error(api.get(f"/api/v1/reports/usage?year={dataset.year}&council_id=999999"), 404, "not_found")
    api_error(api.get("/api/v1/reports/usage.png?year=20266"), 422, "validation_error")
    assert api.get("/api/v1/reports/usage?year=1995").get_json() == {"items": []}


def test_current_month_dashboard_uses_the_hours_forecast(dataset):
    from reports import dashboard
    from support.hours import figures as hours

    board = dashboard.dashboard(month_start(dataset.today), dataset.today)
    with_usage = [r for r in board.rows if r.usage is not None]
    assert with_usage
    for row in with_usage:
        assert row.forecast == hours.month_forecast(row.usage, dataset.today)
        for mode in ("onsite", "remote"):
            m, fc = row.usage.mode(mode), row.forecast.mode(mode)
            assert row.lights[mode] == dashboard.traffic_light(m.used_minutes, m.allowance_minutes,
                                                               fc.projected_minutes if fc else None)
