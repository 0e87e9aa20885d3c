"""No forecast before five working days of the month (office calendar): "too early" instead of a
red percentage from one long visit."""

from __future__ import annotations

import datetime as dt

import pytest

from support.hours.usage import MIN_FORECAST_DAYS, forecast

pytestmark = pytest.mark.usefixtures("english")

TOO_EARLY = "Too early to forecast: wait for 5 working days of the month."


def test_too_early_below_five_business_days():
    assert MIN_FORECAST_DAYS == 5
    early = forecast(240, 90, 4, 21)
    assert early.too_early and not early.over  # 240 min in 4 days would "project" 1,260 min
    assert not forecast(240, 90, 5, 21).too_early and forecast(240, 90, 5, 21).over
    # A month with fewer business days than that still gets its figure once it is over.
    assert not forecast(30, 90, 3, 3).too_early


@pytest.mark.frozen("2026-06-04T10:00:00+00:00")  # Thursday: June 1-4 are 4 working days
def test_the_clerk_sees_too_early_after_four_working_days(make_agreement, world, client_for, log_time):
    make_agreement(onsite=240, remote=90)
    log_time(dt.date(2026, 6, 2), 240, mode="remote")
    page = client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}").get_data(as_text=True)
    assert TOO_EARLY in page and "Forecast: " not in page
    staff = client_for(world.manager).get("/hours").get_data(as_text=True)
    assert TOO_EARLY in staff


@pytest.mark.frozen("2026-06-17T10:00:00+00:00")
def test_the_forecast_shows_from_the_fifth_working_day(make_agreement, world, client_for, log_time):
    make_agreement(onsite=240, remote=90)
    log_time(dt.date(2026, 6, 2), 240, mode="remote")
    page = client_for(world.clerk_a).get(f"/councils/{world.council_a.slug}").get_data(as_text=True)
    assert TOO_EARLY not in page and "Forecast: " in page
