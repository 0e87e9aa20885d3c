"""A council's time zone (issue 13): a select of real zones in the form, checked on the server;
the API keeps a string but refuses what is not a real zone (422)."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from agreements import services
from agreements.models import Council


def _form(**overrides):
    data = {"name": "Rajadell", "population": "520", "population_year": "2014", "comarca": "Bages",
            "contact_email": "", "language": "ca", "timezone": "Europe/Madrid", "active": "y"}
    data.update(overrides)
    return data


def _select(page: str) -> str:
    return re.search(r'<select[^>]*id="timezone"[^>]*>(.*?)</select>', page, re.S).group(1)


def test_the_form_offers_a_select_with_the_usual_zones_first(world, client_for):
    page = client_for(world.manager).get("/councils/new").get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="([^"]+)"', _select(page))
    assert options[:5] == ["Europe/Madrid", "Atlantic/Canary", "Africa/Ceuta", "Europe/Andorra",
                           "America/Argentina/Buenos_Aires"]
    assert 'selected value="Europe/Madrid"' in _select(page) or 'value="Europe/Madrid" selected' in _select(page)
    groups = re.findall(r'<optgroup label="([^"]+)"', _select(page))
    assert len(groups) >= 8 and "UTC" in groups
    assert "localtime" not in options and "Factory" not in options and "US/Eastern" not in options
    assert "Buenos Aires" in htmllib.unescape(_select(page))  # labels without underscores


@pytest.mark.parametrize("value", ["Mars/Olympus", "localtime", "Factory", "", "europe/madrid"])
def test_the_server_refuses_anything_else(world, client_for, db, value):
    resp = client_for(world.manager).post("/councils/new", data=_form(timezone=value))
    assert resp.status_code == 200
    assert re.search(r'<select[^>]*id="timezone"[^>]*is-invalid|<select[^>]*is-invalid[^>]*id="timezone"',
                     resp.get_data(as_text=True))
    assert db.session.scalar(db.select(Council).where(Council.name == "Rajadell")) is None


def test_a_chosen_zone_is_saved(world, client_for, db):
    resp = client_for(world.manager).post("/councils/new", data=_form(timezone="America/Argentina/Cordoba"))
    assert resp.status_code == 302
    assert db.session.scalar(db.select(Council).where(Council.name == "Rajadell")).timezone == "America/Argentina/Cordoba"


def test_an_old_alias_already_stored_stays_selectable_for_that_council(world, client_for, db):
    world.council_a.timezone = "US/Eastern"  # stored before the select existed; zoneinfo loads it
    db.session.commit()
    client = client_for(world.manager)
    page = client.get(f"/councils/{world.council_a.slug}/edit").get_data(as_text=True)
    assert 'value="US/Eastern"' in _select(page)
    assert 'value="US/Eastern"' not in _select(client.get(f"/councils/{world.council_b.slug}/edit").get_data(as_text=True))
    # Saving something else does not trip over it.
    resp = client.post(f"/councils/{world.council_a.slug}/edit",
                       data=_form(name="Mura", population="212", timezone="US/Eastern"))
    assert resp.status_code == 302
    # Another council cannot be given it through the form.
    resp = client.post(f"/councils/{world.council_b.slug}/edit",
                       data=_form(name="Talamanca", population="141", timezone="US/Eastern"))
    assert resp.status_code == 200


@pytest.mark.parametrize("value", ["Mars/Olympus", "localtime", "Factory", "UTC+2", "Europe/Madrid\n"])
def test_the_api_refuses_what_is_not_a_real_zone(world, api_for, api_error, value):
    manager = api_for(world.manager)
    error = api_error(manager.post("/api/v1/councils", json={"name": "Zone", "population": 10, "timezone": value}),
                      422, "validation_error")
    assert "timezone" in error["fields"] and not error["fields"]["timezone"].startswith("Value error")
    error = api_error(manager.patch(f"/api/v1/councils/{world.council_a.id}", json={"timezone": value}),
                      422, "validation_error")
    assert "timezone" in error["fields"]


def test_the_api_takes_a_real_zone_as_a_string(world, api_for):
    manager = api_for(world.manager)
    resp = manager.post("/api/v1/councils", json={"name": "Zona", "population": 10,
                                                  "timezone": "America/Argentina/Buenos_Aires"})
    assert resp.status_code == 201 and resp.json["timezone"] == "America/Argentina/Buenos_Aires"
    resp = manager.patch(f"/api/v1/councils/{resp.json['id']}", json={"timezone": "UTC"})
    assert resp.status_code == 200 and resp.json["timezone"] == "UTC"
    assert services.get_council_by_slug("zona").timezone == "UTC"
