"""Teams and routing (docs/api-contract.md, "Teams and routing"): round robin and least-open
over a sequence of tickets with an absence in the middle, the reason in the history, team
CRUD and its conflicts, absences and who may write them, the queues and the pages."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts import services as accounts
from support.teams import services as teams
from support.tickets import services as tickets

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MADRID).astimezone(dt.UTC)


@pytest.fixture
def techs(world):
    def make(name):
        return accounts.create_user(email=f"{name.lower()}@test.example.org", name=name, role="technician",
                                    password=world.password, actor=None)
    return [make("Marta"), make("Joan"), make("Pere")]


def _open(world, day, category="network"):
    return tickets.create_ticket(world.council_a, {"title": "No network", "category": category},
                                 actor=world.clerk_a, now=local(2027, 1, day, 10, 0))


def test_round_robin_with_an_absence_in_the_middle(app, db, world, techs, api_for):
    marta, joan, pere = techs
    api = api_for(world.manager)
    resp = api.post("/api/v1/teams", json={"name": "Xarxes", "member_ids": [marta.id, joan.id, pere.id],
                                           "categories": ["network"], "assignment": "round_robin"})
    assert resp.status_code == 201, resp.json
    team_id = resp.json["id"]
    assert resp.json["member_ids"] == [marta.id, joan.id, pere.id]
    # Marta is away on 12 and 13 January 2027 (inclusive).
    absence = api_for(marta).post(f"/api/v1/users/{marta.id}/absences",
                                  json={"starts_on": "2027-01-12", "ends_on": "2027-01-13"})
    assert absence.status_code == 201 and absence.json["user_id"] == marta.id
    sequence = [_open(world, d) for d in (11, 11, 11, 12, 12, 13, 14)]
    assert [t.assignee_id for t in sequence] == [marta.id, joan.id, pere.id, joan.id, pere.id, joan.id, pere.id]
    assert all(t.status == "assigned" and t.team_id == team_id for t in sequence)
    # On the 14th Marta is back: after Pere (the last one) comes Marta.
    assert _open(world, 14).assignee_id == marta.id
    history = api.get(f"/api/v1/tickets/{sequence[3].id}/history").json["items"]
    assignment = next(c for c in history if c["field"] == "assignee")
    assert assignment["reason"] == {"rule": "round_robin", "team": "Xarxes", "skipped": ["Marta"], "inactive": []}
    assert assignment["actor_id"] is None
    page = api_for(world.manager)  # the ticket page shows the reason in words
    from support.teams.routing import describe
    assert describe(assignment["reason"]) == "round robin in Xarxes; Marta absent"
    assert page.get(f"/api/v1/tickets?team_id={team_id}&limit=500").json["items"].__len__() == 8
    # A category of no team: no team, nobody assigned.
    other = _open(world, 14, category="hardware")
    assert (other.team_id, other.assignee_id, other.status) == (None, None, "new")


def test_least_open_with_an_absence_in_the_middle(app, db, world, techs, api_for):
    marta, joan, pere = techs
    teams.create_team({"name": "e-Adm", "member_ids": [marta.id, joan.id, pere.id],
                       "categories": ["e_administration"], "assignment": "least_open"}, actor=world.manager)
    # Joan already has two open tickets of another kind; Pere one.
    for user in (joan, joan, pere):
        t = _open(world, 4, category="hardware")
        tickets.change_ticket(t, {"assignee_id": user.id}, actor=world.manager)
    teams.add_absence(marta, dt.date(2027, 1, 12), dt.date(2027, 1, 12), actor=world.manager)
    got = [_open(world, d, "e_administration").assignee_id for d in (11, 11, 12, 12, 13)]
    # 11th: Marta 0 → Marta (1); Marta 1, Pere 1 → Marta wins the tie by order (2).
    # 12th Marta away: Pere 1 < Joan 2 → Pere (2); Joan 2, Pere 2 → Joan (3).
    # 13th: Marta 2, Pere 2, Joan 3 → Marta.
    assert got == [marta.id, marta.id, pere.id, joan.id, marta.id]
    # A solved ticket no longer counts.
    solved = list(tickets_of(db, marta.id))[:2]
    for t in solved:
        tickets.change_ticket(t, {"status": "in_progress"}, actor=marta)
        tickets.change_ticket(t, {"status": "resolved"}, actor=marta)
    assert _open(world, 14, "e_administration").assignee_id == marta.id


def tickets_of(db, user_id):
    from sqlalchemy import select

    from support.tickets.models import Ticket
    return list(db.session.scalars(select(Ticket).where(Ticket.assignee_id == user_id).order_by(Ticket.id)))


def test_team_rules_and_conflicts(app, db, world, techs, api_for, api_error):
    api = api_for(world.admin)
    first = api.post("/api/v1/teams", json={"name": "Xarxes", "member_ids": [techs[0].id], "categories": ["network"]})
    assert first.status_code == 201 and first.json["assignment"] == "none"
    taken = api.post("/api/v1/teams", json={"name": "Other", "categories": ["network", "software"]})
    assert taken.status_code == 409 and taken.json["error"]["code"] == "category_taken"
    clerk = api.post("/api/v1/teams", json={"name": "Other", "member_ids": [world.clerk_a.id]})
    assert clerk.status_code == 422
    assert api.post("/api/v1/teams", json={"name": "Bad", "assignment": "random"}).status_code == 422
    second = api.post("/api/v1/teams", json={"name": "Maquinari", "categories": ["hardware"]}).json
    assert api.patch(f"/api/v1/teams/{second['id']}", json={"categories": ["network"]}).status_code == 409
    assert api.patch(f"/api/v1/teams/{second['id']}", json={"assignment": "least_open",
                                                            "member_ids": [techs[1].id]}).status_code == 204
    assert api.get(f"/api/v1/teams/{second['id']}").json["member_ids"] == [techs[1].id]
    ticket = tickets.create_ticket(world.council_a, {"title": "PC", "category": "hardware"}, actor=world.clerk_a)
    assert (ticket.team_id, ticket.assignee_id) == (second["id"], techs[1].id)
    # Moving a ticket to another team by hand, and filtering by team.
    moved = api.patch(f"/api/v1/tickets/{ticket.id}", json={"team_id": first.json["id"]})
    assert moved.status_code == 200 and moved.json["team_id"] == first.json["id"]
    assert api.patch(f"/api/v1/tickets/{ticket.id}", json={"team_id": 999999}).status_code == 422
    assert api.delete(f"/api/v1/teams/{first.json['id']}").status_code == 204
    after = api.get(f"/api/v1/tickets/{ticket.id}").json
    assert (after["team_id"], after["assignee_id"]) == (None, techs[1].id)
    # Clerks: 403 on teams and absences, their own included.
    clerk_api = api_for(world.clerk_a)
    assert clerk_api.get("/api/v1/teams").status_code == 403
    assert clerk_api.get(f"/api/v1/users/{world.clerk_a.id}/absences").status_code == 403
    assert api_for(world.technician).post("/api/v1/teams", json={"name": "T"}).status_code == 403


def test_absences_who_may_write_them(app, db, world, techs, api_for):
    marta, joan, _ = techs
    own = api_for(marta).post(f"/api/v1/users/{marta.id}/absences", json={"starts_on": "2027-02-01",
                                                                          "ends_on": "2027-02-05"})
    assert own.status_code == 201
    assert api_for(marta).post(f"/api/v1/users/{joan.id}/absences",
                               json={"starts_on": "2027-02-01", "ends_on": "2027-02-05"}).status_code == 403
    backwards = api_for(world.manager).post(f"/api/v1/users/{joan.id}/absences",
                                            json={"starts_on": "2027-02-05", "ends_on": "2027-02-01"})
    assert backwards.status_code == 422 and "ends_on" in backwards.json["error"]["fields"]
    listed = api_for(world.manager).get(f"/api/v1/users/{marta.id}/absences").json["items"]
    assert [(a["starts_on"], a["ends_on"]) for a in listed] == [("2027-02-01", "2027-02-05")]
    gone = api_for(marta).delete(f"/api/v1/users/{marta.id}/absences/{own.json['id']}")
    assert gone.status_code == 204
    assert api_for(marta).get(f"/api/v1/users/{marta.id}/absences").json["items"] == []


@pytest.mark.frozen("2027-01-12T09:00:00+00:00")
def test_team_pages_queues_and_absent_members_tickets(app, db, world, techs, client_for):
    marta, joan, _ = techs
    manager = client_for(world.manager)
    resp = manager.post("/teams/new", data={"name": "Xarxes", "assignment": "round_robin",
                                            "member_ids": [str(marta.id), str(joan.id)], "categories": ["network"]})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    (team,) = teams.list_teams()
    assert team.member_ids == sorted([marta.id, joan.id], key=lambda i: {marta.id: "Marta", joan.id: "Joan"}[i])
    clash = manager.post("/teams/new", data={"name": "Other", "assignment": "none", "categories": ["network"]})
    assert clash.status_code == 422 and "another team already has it" in clash.get_data(as_text=True)
    first = tickets.create_ticket(world.council_a, {"title": "Router", "category": "network"}, actor=world.clerk_a)
    absent_user = marta if first.assignee_id == marta.id else joan
    resp = manager.post("/absences", data={"user_id": str(absent_user.id), "starts_on": "2027-01-12",
                                           "ends_on": "2027-01-14"})
    assert resp.status_code == 302
    page = manager.get(f"/teams/{team.id}").get_data(as_text=True)
    assert "Router" in page and "Open tickets of absent members" in page
    section = page.split('id="absent-tickets"')[1]
    assert "Router" in section
    listing = manager.get("/teams").get_data(as_text=True)
    assert "Xarxes" in listing
    tech_page = client_for(joan).get(f"/teams/{team.id}?queue=mine")
    assert tech_page.status_code == 200 and "Open tickets of absent members" not in tech_page.get_data(as_text=True)
    own = client_for(joan).post("/absences", data={"starts_on": "2027-03-01", "ends_on": "2027-03-02"})
    assert own.status_code == 302
    assert client_for(world.clerk_a).get("/teams").status_code == 403
    ticket_page = manager.get(f"/tickets/{first.id}").get_data(as_text=True)
    assert "round robin in Xarxes" in ticket_page


def test_a_request_about_a_service_goes_to_the_services_team(app, db, world, techs):
    from catalogue import services as catalogue

    marta, joan, _pere = techs
    network = teams.create_team({"name": "Xarxes", "member_ids": [joan.id], "categories": ["network"],
                                 "assignment": "round_robin"}, actor=world.manager)
    eadmin = teams.create_team({"name": "e-Adm", "member_ids": [marta.id], "assignment": "round_robin"},
                               actor=world.manager)
    service = catalogue.create_service({"code": "ETRAM", "name": "e-TRAM", "category": "e_administration",
                                        "ticket_category": "network", "default_team_id": eadmin.id}, actor=None)
    about = tickets.create_ticket(world.council_a, {"title": "Cannot sign", "service_id": service.id},
                                  actor=world.clerk_a, now=local(2027, 1, 11, 10, 0))
    # The service's team, not the team of the category the service fills in.
    assert (about.category, about.team_id, about.assignee_id) == ("network", eadmin.id, marta.id)
    plain = _open(world, 11)
    assert (plain.team_id, plain.assignee_id) == (network.id, joan.id)
