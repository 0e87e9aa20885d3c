"""A new request starts by picking the service (issue 18): a select on the clerk's and on the
office's new-ticket form. Clerks are offered their council's live services only (plus the one
their portal linked to while it is being deployed); the office every active service. The
service fills the category (server-side when the category is left empty, so no script is
needed; a small script prefills the select) and the team (the service's default team)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from catalogue import services
from support.tickets.models import Ticket

pytestmark = [pytest.mark.usefixtures("english"), pytest.mark.frozen("2026-06-17T10:00:00+00:00")]


@pytest.fixture
def catalogue(world, make_service):
    from support.teams import services as teams

    team = teams.create_team({"name": "e-Adm", "member_ids": [world.technician.id]}, actor=world.manager)
    made = {
        "live": make_service(code="ETRAM", name="e-TRAM", ticket_category="e_administration", default_team_id=team.id),
        "other": make_service(code="SEU", name="Seu electrònica", ticket_category="transparency_portal"),
        "planned": make_service(code="NOTUM", name="e-NOTUM"),
        "deploying": make_service(code="VOBERTA", name="Via Oberta", ticket_category="e_administration"),
        "retired": make_service(code="OLD", name="Old portal", active=False),
        "unused": make_service(code="ARXIU", name="i-ARXIU"),
    }
    a, b = world.council_a, world.council_b
    services.put_subscription(a, made["live"], {"status": "live"}, actor=None)
    services.put_subscription(b, made["other"], {"status": "live"}, actor=None)
    services.put_subscription(a, made["planned"], {"status": "planned"}, actor=None)
    services.put_subscription(a, made["deploying"], {"status": "deploying"}, actor=None)
    made["team"] = team
    return made


def _options(html: str, name: str) -> dict[str, bool]:
    """The select's options: value → selected."""
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return {m.group(1): "selected" in m.group(0) for m in re.finditer(r'<option[^>]*value="([^"]*)"[^>]*>', select_html)}


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket))


def test_clerks_pick_from_their_councils_live_services(world, client_for, catalogue, db):
    clerk = client_for(world.clerk_a)
    html = clerk.get("/tickets/new").get_data(as_text=True)
    assert set(_options(html, "service_id")) == {"0", str(catalogue["live"].id)}
    # The script's data: service → its category.
    attr = re.search(r'data-categories="([^"]*)"', html).group(1).replace("&#34;", '"').replace("&quot;", '"')
    assert json.loads(attr) == {str(catalogue["live"].id): "e_administration"}
    assert "js/service-picker.js" in html
    # The portal's link for a service being deployed lands on the form with it chosen, and its category.
    html = clerk.get(f"/tickets/new?service={catalogue['deploying'].id}").get_data(as_text=True)
    assert _options(html, "service_id")[str(catalogue["deploying"].id)] is True
    assert _options(html, "category")["e_administration"] is True
    assert "request-service" in html and "Via Oberta" in html
    # Another council's service, a planned one: not offered, the link is ignored.
    for key in ("other", "planned", "unused", "retired"):
        html = clerk.get(f"/tickets/new?service={catalogue[key].id}").get_data(as_text=True)
        assert str(catalogue[key].id) not in _options(html, "service_id") and "request-service" not in html, key


def test_the_service_fills_category_and_team_without_javascript(world, client_for, catalogue, db):
    clerk = client_for(world.clerk_a)
    resp = clerk.post("/tickets/new", data={"title": "No puc registrar", "priority": "normal", "category": "",
                                            "asset_id": "0", "service_id": str(catalogue["live"].id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "No puc registrar"))
    assert (ticket.service_id, ticket.category, ticket.team_id) == (
        catalogue["live"].id, "e_administration", catalogue["team"].id)
    # Both sides see what the request is about.
    for client in (clerk, client_for(world.technician)):
        page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert "e-TRAM" in page[page.index('id="ticket-service"'):][:200]
    # A category the clerk chose wins over the service's.
    clerk.post("/tickets/new", data={"title": "La impressora", "priority": "normal", "category": "hardware",
                                     "asset_id": "0", "service_id": str(catalogue["live"].id)})
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "La impressora"))
    assert (ticket.service_id, ticket.category) == (catalogue["live"].id, "hardware")
    # No service, no category: "other", as before.
    clerk.post("/tickets/new", data={"title": "Res", "priority": "normal", "category": "", "asset_id": "0",
                                     "service_id": "0"})
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "Res"))
    assert (ticket.service_id, ticket.category) == (None, "other")


def test_a_service_the_clerk_may_not_pick_is_a_field_error(world, client_for, catalogue, db):
    clerk = client_for(world.clerk_a)
    before = _count(db)
    for key in ("other", "planned", "retired"):
        resp = clerk.post("/tickets/new", data={"title": "Text escrit", "description": "Més text", "priority": "high",
                                                "category": "", "asset_id": "0", "service_id": str(catalogue[key].id)})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "Not a valid choice" in html, key
        assert 'value="Text escrit"' in html and "Més text</textarea>" in html
    assert clerk.post("/tickets/new", data={"title": "x", "priority": "normal", "asset_id": "0",
                                            "service_id": "abc"}).status_code == 200
    assert _count(db) == before


def test_the_office_picks_from_every_active_service(world, client_for, catalogue, db):
    tech = client_for(world.technician)
    slug = world.council_a.slug
    html = tech.get(f"/tickets/new?council={slug}").get_data(as_text=True)
    offered = set(_options(html, "service_id"))
    assert offered == {"0"} | {str(catalogue[k].id) for k in ("live", "other", "planned", "deploying", "unused")}
    html = tech.get(f"/tickets/new?council={slug}&service={catalogue['other'].id}").get_data(as_text=True)
    assert _options(html, "service_id")[str(catalogue["other"].id)] is True
    assert _options(html, "category")["transparency_portal"] is True
    resp = tech.post(f"/tickets/new?council={slug}", data={
        "council": slug, "title": "Trucada: el portal no carrega", "priority": "normal", "channel": "phone",
        "category": "", "asset_id": "0", "requester_id": "0", "service_id": str(catalogue["other"].id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "Trucada: el portal no carrega"))
    assert (ticket.service_id, ticket.category, ticket.council_id) == (
        catalogue["other"].id, "transparency_portal", world.council_a.id)
    # A retired service is not offered to new requests.
    resp = tech.post(f"/tickets/new?council={slug}", data={
        "council": slug, "title": "x", "priority": "normal", "channel": "phone", "category": "", "asset_id": "0",
        "requester_id": "0", "service_id": str(catalogue["retired"].id)})
    assert resp.status_code == 200 and "Not a valid choice" in resp.get_data(as_text=True)


def test_managers_set_the_team_of_a_services_requests(world, client_for, catalogue, db):
    service = catalogue["other"]
    manager = client_for(world.manager)
    page = manager.get(f"/catalogue/{service.id}/edit").get_data(as_text=True)
    assert _options(page, "default_team_id") == {"0": True, str(catalogue["team"].id): False}
    form = {"code": service.code, "name": service.name, "provider": "comarca", "category": "e_administration",
            "ticket_category": "transparency_portal", "active": "y"}
    resp = manager.post(f"/catalogue/{service.id}/edit", data=form | {"default_team_id": str(catalogue["team"].id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.expire_all()
    assert services.get_service(service.id).default_team_id == catalogue["team"].id
    assert manager.post(f"/catalogue/{service.id}/edit", data=form | {"default_team_id": "0"}).status_code == 302
    db.session.expire_all()
    assert services.get_service(service.id).default_team_id is None
