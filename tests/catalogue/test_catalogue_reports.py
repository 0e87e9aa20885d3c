"""Hours per service on the report pages (usage for the office, a council's report), with
clerk isolation, and the live services on the council's public transparency page."""

from __future__ import annotations

import datetime as dt

import pytest

from catalogue import services
from support.hours import services as hours

pytestmark = pytest.mark.frozen("2026-06-17T10:00:00+00:00")


@pytest.fixture
def logged(world, make_service, covered):
    etram = make_service()
    seu = make_service(code="SEU", name="Seu electrònica")
    for council, service, minutes in ((world.council_a, etram, 95), (world.council_b, seu, 150)):
        hours.create_entry(council, {"date": dt.date(2026, 3, 2), "minutes": minutes, "mode": "onsite",
                                     "service_id": service.id}, actor=world.technician)
    return etram, seu


def test_usage_report_has_hours_per_service_and_council(world, client_for, logged):
    page = client_for(world.manager).get("/reports/usage?year=2026").get_data(as_text=True)
    section = page[page.index('id="service-hours"'):]
    assert "e-TRAM" in section and "Seu electrònica" in section
    assert world.council_a.name in section and world.council_b.name in section


def test_council_report_shows_its_own_services_only(world, client_for, logged):
    clerk = client_for(world.clerk_a)
    page = clerk.get(f"/reports/councils/{world.council_a.slug}?year=2026").get_data(as_text=True)
    section = page[page.index('id="service-hours"'):]
    assert "e-TRAM" in section and "Seu electrònica" not in section
    assert clerk.get(f"/reports/councils/{world.council_b.slug}?year=2026").status_code == 404


def test_public_page_lists_live_services(world, client_for, app, make_service, db):
    live, planned = make_service(code="ERES", name="ERES"), make_service(code="NOTUM", name="e-NOTUM")
    services.put_subscription(world.council_a, live, {"status": "live"}, actor=None)
    services.put_subscription(world.council_a, planned, {"status": "planned"}, actor=None)
    services.put_subscription(world.council_b, planned, {"status": "live"}, actor=None)
    client_for(world.manager).post(f"/reports/councils/{world.council_a.slug}/publication", data={"enabled": "1"})
    page = app.test_client().get(f"/public/{world.council_a.slug}").get_data(as_text=True)
    section = page[page.index('id="live-services"'):]
    assert "ERES" in section and "e-NOTUM" not in section
