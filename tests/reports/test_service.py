"""The service report against raw SQL: tickets opened and resolved, SLA compliance, resolution
times, satisfaction and availability; and the same figures through the API."""

from __future__ import annotations

import datetime as dt
import statistics
from zoneinfo import ZoneInfo

import pytest

MADRID = ZoneInfo("Europe/Madrid")


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=MADRID).astimezone(dt.UTC)


def _periods(dataset):
    year = dataset.year
    return [
        (dt.date(year, 1, 1), dt.date(year, 12, 1), _utc(dt.date(year, 1, 1)), _utc(dt.date(year + 1, 1, 1)),
         dt.date(year, 12, 31)),
        (dt.date(year, 11, 1), dt.date(year, 11, 1), _utc(dt.date(year, 11, 1)), _utc(dt.date(year, 12, 1)),
         dt.date(year, 11, 30)),
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["year", "month"])
def test_service_figures_equal_raw_sql(dataset, db, reference, which):
    from reports import quality

    first, last, start, end, last_day = _periods(dataset)[which]
    per_council = quality.by_council(quality.service_by_council_month(first, last))
    with db.engine.connect() as conn:
        opened = reference.tickets_opened(conn, start, end)
        resolved = reference.tickets_resolved(conn, start, end)
        durations = reference.resolution_minutes(conn, start, end)
        ratings = reference.ratings(conn, start, end)
        categories = reference.tickets_by(conn, "category", start, end)
        channels = reference.tickets_by(conn, "channel", start, end)
        resolved_categories = reference.resolved_by(conn, "category", start, end)
        resolved_channels = reference.resolved_by(conn, "channel", start, end)
        availability = reference.availability(conn, first, last_day)
    assert opened and resolved and ratings and availability
    for council in dataset.councils.values():
        s = per_council.get(council.id, quality.ServiceStats())
        o = opened.get(council.id, {"opened": 0, "fr_measured": 0, "fr_met": 0})
        r = resolved.get(council.id, {"resolved": 0, "in_time": 0})
        assert (s.opened, s.first_response_measured, s.first_response_met) == (o["opened"], o["fr_measured"],
                                                                               o["fr_met"])
        assert (s.resolved, s.resolution_met) == (r["resolved"], r["in_time"])
        assert s.by_category == {k: n for (c, k), n in categories.items() if c == council.id}
        assert s.by_channel == {k: n for (c, k), n in channels.items() if c == council.id}
        assert s.resolved_by_category == {k: n for (c, k), n in resolved_categories.items() if c == council.id}
        assert s.resolved_by_channel == {k: n for (c, k), n in resolved_channels.items() if c == council.id}
        mine = durations.get(council.id, [])
        assert sorted(s.resolution_calendar) == sorted(mine)
        assert s.median_calendar_minutes == (statistics.median(mine) if mine else None)
        assert s.ratings == ratings.get(council.id, {})
        if s.ratings_count:
            scores = ratings[council.id]
            assert s.satisfaction == pytest.approx(sum(k * n for k, n in scores.items()) / sum(scores.values()))
        watched, critical = availability.get(council.id, (0, 0))
        assert (s.watched_minutes, s.critical_minutes) == (watched, critical)
        if watched:
            assert s.availability == pytest.approx(1 - critical / watched)


def test_business_time_medians_count_office_hours(dataset, db):
    from core.calendar import office_calendar
    from reports import quality

    data = quality.by_council(quality.service_by_council_month(dt.date(dataset.year, 1, 1),
                                                               dt.date(dataset.year, 12, 1)))
    s = data[dataset.councils["a"].id]
    assert s.resolution_business and len(s.resolution_business) == len(s.resolution_calendar)
    # Office hours are 7 a day on weekdays: business time never exceeds calendar time.
    assert all(b <= c for b, c in zip(sorted(s.resolution_business), sorted(s.resolution_calendar), strict=True))
    calendar = office_calendar()
    # One ticket by hand: opened on a Friday at 14:00, solved on Monday at 09:00 (Madrid): 2 business hours.
    friday = dt.datetime(2025, 3, 7, 14, tzinfo=MADRID)
    monday = dt.datetime(2025, 3, 10, 9, tzinfo=MADRID)
    assert calendar.business_minutes_between(friday, monday) == 120


def test_service_api_gives_the_same_figures(dataset, world, api_for):
    from reports import quality

    api = api_for(world.manager)
    body = api.get(f"/api/v1/reports/service?year={dataset.year}&month={dataset.year}-11").get_json()
    assert (body["first_month"], body["last_month"]) == (f"{dataset.year}-11", f"{dataset.year}-11")
    per_council = quality.by_council(quality.service_by_council_month(dt.date(dataset.year, 11, 1),
                                                                      dt.date(dataset.year, 11, 1)))
    by_id = {i["council_id"]: i for i in body["items"]}
    for council_id, s in per_council.items():
        assert by_id[council_id]["tickets_opened"] == s.opened
        assert by_id[council_id]["resolution_met"] == s.resolution_met
        assert by_id[council_id]["ratings"] == {str(k): s.ratings.get(k, 0) for k in range(1, 6)}
    assert body["total"]["tickets_opened"] == sum(s.opened for s in per_council.values())
    bad = api.get(f"/api/v1/reports/service?year={dataset.year}&month={dataset.year + 1}-01")
    assert bad.status_code == 422 and "month" in bad.get_json()["error"]["fields"]


def test_service_pages_render(dataset, world, client_for):
    staff = client_for(world.manager)
    page = staff.get(f"/reports/service?year={dataset.year}")
    assert page.status_code == 200
    assert "Castellgalí" in page.get_data(as_text=True)
    month = staff.get(f"/reports/service?year={dataset.year}&month={dataset.year}-11")
    assert month.status_code == 200
    council = client_for(world.clerk_a).get(f"/reports/councils/{world.council_a.slug}/service?year={dataset.year}")
    assert council.status_code == 200
    text = council.get_data(as_text=True)
    assert world.council_a.name in text and "Castellgalí" not in text
