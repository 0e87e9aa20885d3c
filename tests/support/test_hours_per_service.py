"""Time entries and the catalogue's services (issue 18): the hours form offers the active
services; time logged on a ticket (its page or the API) counts for the ticket's service unless
another (or none) is named; and the reports' hours per service count all of it, equal to a raw
SQL sum over the time entries."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from catalogue import hours as service_hours
from catalogue import services as catalogue
from support.hours.models import TimeEntry
from support.tickets import services as tickets

pytestmark = [pytest.mark.usefixtures("english"), pytest.mark.frozen("2026-06-17T10:00:00+00:00")]

DAY = dt.date(2026, 6, 16)
RAW_SUM = text("""
    SELECT service_id, council_id,
           SUM(CASE WHEN mode = 'onsite' THEN minutes ELSE 0 END),
           SUM(CASE WHEN mode = 'remote' THEN minutes ELSE 0 END)
    FROM time_entries
    WHERE service_id IS NOT NULL AND date >= :start AND date <= :end
    GROUP BY service_id, council_id ORDER BY service_id, council_id""")


@pytest.fixture
def setup(world):
    from agreements import services as agreements

    for council in (world.council_a, world.council_b):
        agreements.create_agreement(council, {"starts_on": dt.date(2026, 1, 1), "ends_on": dt.date(2026, 12, 31),
                                              "onsite_minutes_month": 600, "remote_minutes_month": 600,
                                              "rollover": "none", "signed_on": dt.date(2025, 12, 1)}, actor=None)
    etram = catalogue.create_service({"code": "ETRAM", "name": "e-TRAM", "category": "e_administration"}, actor=None)
    seu = catalogue.create_service({"code": "SEU", "name": "Seu electrònica", "category": "transparency"}, actor=None)
    old = catalogue.create_service({"code": "OLD", "name": "Old portal", "active": False}, actor=None)
    ticket = tickets.create_ticket(world.council_a, {"title": "No puc signar", "service_id": etram.id},
                                   actor=world.clerk_a)
    return etram, seu, old, ticket


def _form(council, service=None, **extra):
    data = {"council_id": str(council.id), "date": DAY.isoformat(), "duration": "1:30", "mode": "onsite",
            "travel": "", "description": "Formació", "service_id": str(service.id) if service else "0"}
    return data | extra


def _entry(db, description) -> TimeEntry:
    return db.session.scalar(select(TimeEntry).where(TimeEntry.description == description))


def test_the_hours_form_takes_a_service(world, client_for, setup, db):
    etram, seu, old, _ticket = setup
    tech = client_for(world.technician)
    page = tech.get("/log-hours").get_data(as_text=True)
    assert 'name="service_id"' in page and "e-TRAM" in page and "Seu electrònica" in page
    assert f'value="{old.id}"' not in page  # a retired service takes no new hours
    assert tech.post("/log-hours", data=_form(world.council_a, etram, description="Amb servei")).status_code == 302
    assert _entry(db, "Amb servei").service_id == etram.id
    assert tech.post("/log-hours", data=_form(world.council_a, description="Sense servei")).status_code == 302
    assert _entry(db, "Sense servei").service_id is None
    # A service that is not offered: a field error, with what was typed kept.
    resp = tech.post("/log-hours", data=_form(world.council_a, old, description="Text que queda"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Not a valid choice" in html and "Text que queda</textarea>" in html
    # Editing: the entry's service is chosen, and it can change or go.
    entry = _entry(db, "Amb servei")
    page = tech.get(f"/hours/entries/{entry.id}/edit").get_data(as_text=True)
    assert f'<option selected value="{etram.id}">' in page or f'value="{etram.id}" selected' in page
    assert tech.post(f"/hours/entries/{entry.id}/edit",
                     data=_form(world.council_a, seu, description="Amb servei")).status_code == 302
    db.session.expire_all()
    assert db.session.get(TimeEntry, entry.id).service_id == seu.id
    assert tech.post(f"/hours/entries/{entry.id}/edit",
                     data=_form(world.council_a, description="Amb servei")).status_code == 302
    db.session.expire_all()
    assert db.session.get(TimeEntry, entry.id).service_id is None


def test_time_on_a_ticket_counts_for_its_service(world, client_for, api_for, setup, db):
    etram, seu, _old, ticket = setup
    tech = client_for(world.technician)
    resp = tech.post(f"/tickets/{ticket.id}/time", data={"duration": "45 min", "mode": "remote", "travel": "",
                                                          "date": DAY.isoformat(), "description": "Des del tiquet"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert _entry(db, "Des del tiquet").service_id == etram.id
    api = api_for(world.technician)
    body = {"council_id": world.council_a.id, "date": DAY.isoformat(), "minutes": 20, "mode": "remote",
            "ticket_id": ticket.id}
    assert api.post("/api/v1/time-entries", json=body | {"description": "API hereta"}).get_json()["service_id"] == etram.id
    # Naming another service, or none (null), says otherwise.
    named = api.post("/api/v1/time-entries", json=body | {"description": "API altre", "service_id": seu.id})
    assert named.get_json()["service_id"] == seu.id
    none = api.post("/api/v1/time-entries", json=body | {"description": "API cap", "service_id": None})
    assert none.status_code == 201 and none.get_json()["service_id"] is None
    # A ticket without a service gives none.
    plain = tickets.create_ticket(world.council_a, {"title": "Sense servei"}, actor=world.clerk_a)
    assert api.post("/api/v1/time-entries", json=body | {"ticket_id": plain.id, "description": "x"}
                    ).get_json()["service_id"] is None


def test_hours_per_service_count_every_way_of_logging_and_equal_a_raw_sum(world, client_for, api_for, setup, db):
    etram, seu, _old, ticket = setup
    tech = client_for(world.technician)
    tech.post("/log-hours", data=_form(world.council_a, etram, description="a1"))                    # 90 onsite
    tech.post("/log-hours", data=_form(world.council_b, seu, duration="2 h", mode="remote", description="b1"))
    tech.post("/log-hours", data=_form(world.council_b, description="b2", duration="5 h"))          # no service
    tech.post(f"/tickets/{ticket.id}/time", data={"duration": "45 min", "mode": "remote", "travel": "",
                                                   "date": DAY.isoformat(), "description": "t1"})
    api_for(world.technician).post("/api/v1/time-entries", json={
        "council_id": world.council_a.id, "date": "2026-02-03", "minutes": 30, "mode": "onsite", "ticket_id": ticket.id})
    assert db.session.scalar(select(TimeEntry.id).where(TimeEntry.description == "t1")) is not None
    raw = [{"service_id": s, "council_id": c, "onsite_minutes": int(o), "remote_minutes": int(r)}
           for s, c, o, r in db.session.execute(RAW_SUM, {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 12, 31)})]
    assert service_hours.service_hours(2026) == raw
    assert {(i["service_id"], i["council_id"]): (i["onsite_minutes"], i["remote_minutes"]) for i in raw} == {
        (etram.id, world.council_a.id): (120, 45), (seu.id, world.council_b.id): (0, 120)}
    assert api_for(world.manager).get("/api/v1/reports/service-hours?year=2026").get_json()["items"] == raw
    # The usage report's section shows them (2 h 45 min for e-TRAM in council A).
    page = client_for(world.manager).get("/reports/usage?year=2026").get_data(as_text=True)
    section = page[page.index('id="service-hours"'):]
    assert "e-TRAM" in section and "Seu electrònica" in section
