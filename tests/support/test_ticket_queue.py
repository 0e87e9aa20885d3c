"""The technicians' queue: sorted by SLA due time, narrowed by council, status, priority,
assignee, SLA state and category, and searched by words of the title, the description and the
replies (accents, case and the Catalan middle dot ignored, word starts matched). The clerks'
portal lists their council's requests. And reopening: a clerk says "it still happens" within
the 15 days, after which the ticket is closed and a new request follows it up."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from support.tickets import jobs, services, sla_state

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")
REFERENCE = re.compile(r"\b[A-Z0-9]{2,8}-\d{4}-\d{4}\b")


def refs(client, url) -> list[str]:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    found = []
    for ref in REFERENCE.findall(resp.get_data(as_text=True)):
        if ref not in found:
            found.append(ref)
    return found


@pytest.fixture
def queue(world, open_ticket, move):
    """Six tickets of two councils in every state the filters tell apart, as of `now`."""
    now = dt.datetime.now(dt.UTC)
    t = {}
    t["printer"] = open_ticket(title="La impressora de Registre no imprimeix", priority="high", category="hardware",
                               description="Surt un error a la pantalla.")
    t["cert"] = open_ticket(title="Certificat caducat", priority="urgent", category="e_administration",
                            description="L'alcaldessa no pot signar els decrets del Col·legi.")
    t["wifi"] = open_ticket(council=world.council_b, title="Wi-Fi de la sala de plens", priority="normal",
                            category="network")
    t["mail"] = open_ticket(title="Contrasenya oblidada", priority="low", category="accounts")
    t["waiting"] = open_ticket(council=world.council_b, title="Quin ordinador?", priority="normal",
                               category="hardware")
    t["late"] = open_ticket(title="No hi ha internet", priority="urgent", category="network",
                            now=now - dt.timedelta(days=10))
    services.change_ticket(t["printer"], {"assignee_id": world.technician.id}, actor=world.technician)
    services.add_comment(t["printer"], "Cal canviar el fusor de la Kyocera.", internal=False, actor=world.technician)
    services.change_ticket(t["cert"], {"assignee_id": world.manager.id}, actor=world.manager)
    services.change_ticket(t["waiting"], {"assignee_id": world.technician.id}, actor=world.technician)
    move(t["waiting"], "in_progress", "waiting_council")
    services.change_ticket(t["mail"], {"assignee_id": world.technician.id}, actor=world.technician)
    move(t["mail"], "in_progress", "resolved")
    later = dt.datetime.now(dt.UTC)
    sla_state.refresh_due_slas(later)  # the late one turns overdue, as the job would
    return {k: v.reference for k, v in t.items()}


def test_sorted_by_due_time_and_filtered(app, db, world, queue, client_for):
    q = queue
    tech = client_for(world.technician)
    # Open tickets, soonest due first: overdue at the top, paused (waiting) after every ticket
    # with a deadline; solved ones are not in the default view.
    default = refs(tech, "/tickets")
    assert default[0] == q["late"] and default[-1] == q["waiting"]
    assert set(default) == {q["late"], q["printer"], q["cert"], q["wifi"], q["waiting"]}
    assert refs(tech, f"/tickets?council={world.council_b.slug}") == [q["wifi"], q["waiting"]]
    assert refs(tech, "/tickets?status=resolved") == [q["mail"]]
    assert set(refs(tech, "/tickets?status=all")) == set(q.values())
    assert refs(tech, "/tickets?status=waiting_council") == [q["waiting"]]
    assert refs(tech, "/tickets?priority=urgent") == [q["late"], q["cert"]]
    assert refs(tech, "/tickets?assignee=mine") == [q["printer"], q["waiting"]]
    assert refs(tech, f"/tickets?assignee={world.manager.id}") == [q["cert"]]
    assert set(refs(tech, "/tickets?assignee=unassigned")) == {q["late"], q["wifi"]}
    assert refs(tech, "/tickets?sla=breached") == [q["late"]]
    assert refs(tech, "/tickets?sla=paused") == [q["waiting"]]
    assert set(refs(tech, "/tickets?sla=ok")) == {q["printer"], q["cert"], q["wifi"]}
    assert refs(tech, "/tickets?category=network") == [q["late"], q["wifi"]]
    assert refs(tech, "/tickets?category=hardware&status=all") == [q["printer"], q["waiting"]]
    # Filters combine.
    assert refs(tech, f"/tickets?council={world.council_a.slug}&category=network&sla=breached") == [q["late"]]
    assert refs(tech, f"/tickets?council={world.council_b.slug}&priority=urgent") == []
    # Nonsense in a filter is ignored, never an error.
    for junk in ("status=deleted", "priority=%27;--", "assignee=-1", "sla=x", "category=<b>", "council=nowhere"):
        assert tech.get(f"/tickets?{junk}").status_code == 200, junk


def test_the_order_is_the_api_order_and_keyset_pages_cover_everything(app, db, world, queue, client_for, api_for):
    api = [t["reference"] for t in api_for(world.technician).get("/api/v1/tickets?sort=due&status=open").json["items"]]
    assert refs(client_for(world.technician), "/tickets") == api


def test_text_search_over_title_description_and_replies(app, db, world, queue, client_for):
    q = queue
    tech = client_for(world.technician)
    cases = {
        "impressora": [q["printer"]],  # the title
        "IMPRESSORA registre": [q["printer"]],  # case, and every word must match
        "impres": [q["printer"]],  # a word's start
        "pantalla": [q["printer"]],  # the description
        "kyocera": [q["printer"]],  # a reply
        "fusor kyocera": [q["printer"]],
        "collegi": [q["cert"]],  # "Col·legi", the middle dot folded
        "col·legi": [q["cert"]],
        "caducat": [q["cert"]],
        "CADUCAT": [q["cert"]],
        "plens": [q["wifi"]],
        "internet": [q["late"]],
        "impressora wifi": [],
        "xyzzy": [],
    }
    for words, expected in cases.items():
        assert refs(tech, f"/tickets?status=all&q={words}") == expected, words
    # A reference finds its ticket; accents in the query do not matter.
    assert refs(tech, f"/tickets?status=all&q={q['cert'].lower()}") == [q["cert"]]
    assert refs(tech, "/tickets?status=all&q=Certificát") == [q["cert"]]
    # Search and filters together.
    assert refs(tech, f"/tickets?status=all&q=impressora&council={world.council_b.slug}") == []
    # The clerk's portal searches their own council only.
    clerk = client_for(world.clerk_a)
    assert refs(clerk, "/tickets?q=plens") == []
    assert refs(clerk, "/tickets?q=impressora") == [q["printer"]]
    # Words too short or nothing but symbols are no search at all (not an error).
    assert tech.get("/tickets?q=%25%25").status_code == 200


def test_the_clerks_portal_lists_their_council_newest_first(app, db, world, queue, client_for):
    q = queue
    clerk = client_for(world.clerk_a)
    listed = refs(clerk, "/tickets")
    assert set(listed) == {q["printer"], q["cert"], q["mail"], q["late"]}  # solved, not closed: still shown
    assert listed[0] == q["late"]  # the last one registered
    html = clerk.get("/tickets").get_data(as_text=True)
    assert "Solved — please confirm" in html and "A technician has it" in html
    assert "In progress" not in html  # the office's words are for the office


def test_reopening_within_fifteen_days(app, db, world, open_ticket, move, client_for, api_for, api_error):
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=MADRID).astimezone(dt.UTC)
    ticket = open_ticket(now=t0)
    move(ticket, "assigned", "in_progress", now=t0)
    move(ticket, "resolved", now=t0 + dt.timedelta(days=1))
    clerk = client_for(world.clerk_a)
    page = clerk.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Is it solved?" in page and "15 days after it was solved" in page
    # "No, it still happens", two weeks later: back to the office.
    assert jobs.close_resolved(t0 + dt.timedelta(days=15)) == 0
    resp = clerk.post(f"/tickets/{ticket.id}/status", data={"status": "in_progress"})
    assert resp.status_code == 302
    db.session.expire_all()
    ticket = services.get_ticket(ticket.id)
    assert ticket.status == "in_progress" and ticket.resolved_at is None
    # Solved again: a new window of 15 days from this resolution.
    resolved_again = dt.datetime.now(dt.UTC)
    move(ticket, "resolved", now=resolved_again)
    assert jobs.close_resolved(resolved_again + dt.timedelta(days=14, hours=23)) == 0
    assert jobs.close_resolved(resolved_again + dt.timedelta(days=15, minutes=1)) == 1
    db.session.expire_all()
    ticket = services.get_ticket(ticket.id)
    assert ticket.status == "closed"
    # Past the window there is no reopening: the page offers a new request that follows it.
    api_error(api_for(world.clerk_a).patch(f"/api/v1/tickets/{ticket.id}", json={"status": "in_progress"}),
              409, "invalid_transition")
    api_error(api_for(world.technician).patch(f"/api/v1/tickets/{ticket.id}", json={"status": "in_progress"}),
              409, "invalid_transition")
    page = clerk.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Is the problem back?" in page and f"/tickets/new?related={ticket.id}" in page
    assert "No, it still happens" not in page
    resp = clerk.post("/tickets/new", data={"title": "It happens again", "priority": "normal", "category": "hardware",
                                            "asset_id": "0", "related": str(ticket.id)})
    assert resp.status_code == 302
    follow_up = services.get_ticket(int(resp.headers["Location"].rsplit("/", 1)[1]))
    assert follow_up.related_ticket_id == ticket.id and follow_up.status == "new"
    assert ticket.reference in client_for(world.technician).get(f"/tickets/{follow_up.id}").get_data(as_text=True)


def test_both_ways_of_searching_find_the_same(app, db, world, queue, client_for, monkeypatch):
    """SQLite reads a common word's page from the queue's index, testing each ticket, and a rare
    word's from its matches (support.tickets.search.SCAN_ABOVE); both give the same page."""
    from support.tickets import search

    tech = client_for(world.technician)
    urls = ("/tickets?status=all&q=impressora", "/tickets?q=kyocera", "/tickets?status=all&q=la",
            f"/tickets?status=all&q=ca&council={world.council_a.slug}", "/tickets?status=all&q=ca&category=network",
            "/tickets?status=resolved&q=contrasenya")
    from_matches = {url: refs(tech, url) for url in urls}
    monkeypatch.setattr(search, "SCAN_ABOVE", 0)
    assert {url: refs(tech, url) for url in urls} == from_matches
    assert any(from_matches.values())
