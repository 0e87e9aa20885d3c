"""Inventory and tickets point at each other: an asset's page lists its tickets and opens a new
one about it; a ticket shows and links its equipment; the clerk's "which equipment?" offers
the council's own assets (in use, not retired), never another council's."""

from __future__ import annotations

import re

import pytest

from inventory import services as inventory
from support.tickets import services

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def assets(world):
    ours = inventory.create_asset(world.council_a, {"kind": "printer", "name": "Registry printer",
                                                    "tag": "MURA-PRN-001"}, actor=None)
    old = inventory.create_asset(world.council_a, {"kind": "desktop", "name": "Old reception PC",
                                                   "tag": "MURA-PC-009"}, actor=None)
    inventory.set_status(old, "retired", actor=None)
    theirs = inventory.create_asset(world.council_b, {"kind": "printer", "name": "Talamanca printer",
                                                      "tag": "TALA-PRN-001"}, actor=None)
    return ours, old, theirs


def _options(html: str, name: str) -> dict[str, str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no {name} select"
    return {value: label.strip() for value, label in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', select.group(1))}


def test_the_clerks_picker_offers_the_councils_assets(app, db, world, assets, client_for):
    ours, old, theirs = assets
    html = client_for(world.clerk_a).get("/tickets/new").get_data(as_text=True)
    options = _options(html, "asset_id")
    assert str(ours.id) in options and "Registry printer" in options[str(ours.id)]
    assert str(old.id) not in options and str(theirs.id) not in options
    assert options["0"] == "None, or I do not know"
    # Office staff get the chosen council's assets.
    staff = client_for(world.technician).get(f"/tickets/new?council={world.council_b.slug}").get_data(as_text=True)
    assert set(_options(staff, "asset_id")) == {"0", str(theirs.id)}
    # Posting another council's asset anyway: the form says it is unknown, nothing is created.
    resp = client_for(world.clerk_a).post("/tickets/new", data={
        "title": "Their printer", "priority": "normal", "category": "hardware", "asset_id": str(theirs.id)})
    assert resp.status_code == 200 and "Not a valid choice" in resp.get_data(as_text=True)


def test_asset_page_lists_its_tickets_and_opens_one_about_it(app, db, world, assets, client_for):
    ours, _old, theirs = assets
    clerk = client_for(world.clerk_a)
    page = clerk.get(f"/assets/{ours.id}").get_data(as_text=True)
    assert "No tickets about this equipment." in page
    assert f"/tickets/new?asset={ours.id}" in page
    # The link preselects the asset in the clerk's form.
    form = clerk.get(f"/tickets/new?asset={ours.id}").get_data(as_text=True)
    assert re.search(rf'<option[^>]*selected[^>]*value="{ours.id}"|<option[^>]*value="{ours.id}"[^>]*selected', form)
    resp = clerk.post("/tickets/new", data={"title": "Paper jam", "priority": "normal", "category": "hardware",
                                            "asset_id": str(ours.id)})
    assert resp.status_code == 302
    ticket_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    ticket = services.get_ticket(ticket_id)
    assert ticket.asset_id == ours.id
    for user in (world.clerk_a, world.technician):
        page = client_for(user).get(f"/assets/{ours.id}").get_data(as_text=True)
        assert "Paper jam" in page and ticket.reference in page and f"/tickets/{ticket_id}" in page
    # Staff open one for the asset's council from there.
    staff = client_for(world.technician).get(f"/assets/{ours.id}").get_data(as_text=True)
    assert f"/tickets/new?council={world.council_a.slug}&amp;asset={ours.id}" in staff
    # Another council's clerk sees neither the asset nor, through it, its tickets.
    assert client_for(world.clerk_b).get(f"/assets/{ours.id}").status_code == 404
    assert "Paper jam" not in client_for(world.clerk_b).get(f"/assets/{theirs.id}").get_data(as_text=True)


def test_the_ticket_shows_and_links_its_asset(app, db, world, assets, client_for, open_ticket, api_for):
    ours, _old, _theirs = assets
    ticket = open_ticket(asset_id=ours.id)
    for user in (world.clerk_a, world.technician):
        page = client_for(user).get(f"/tickets/{ticket.id}").get_data(as_text=True)
        assert f'href="/assets/{ours.id}"' in page and "Registry printer" in page
    assert "MURA-PRN-001" in client_for(world.technician).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert api_for(world.clerk_a).get(f"/api/v1/tickets/{ticket.id}").json["asset_id"] == ours.id
    listed = api_for(world.technician).get(f"/api/v1/tickets?asset_id={ours.id}").json["items"]
    assert [t["id"] for t in listed] == [ticket.id]
