"""The number of SQL statements a ticket list costs does not grow with the rows it shows:
the queue page and the API list, for staff and for clerks, and a ticket's page and comment list
with many replies (lessons.md: a 50-row list with lazy loads ran 27 queries at a third of the
speed). Counted at the driver with SQLAlchemy's `before_cursor_execute`."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event

from agreements.councils import create_council
from support.tickets import services

pytestmark = pytest.mark.usefixtures("english")


@contextlib.contextmanager
def counting(engine):
    statements: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _fill(world, how_many: int, councils: list, staff: list, *, offset: int = 0) -> list:
    tickets = []
    for i in range(offset, offset + how_many):
        council = councils[i % len(councils)]
        clerk = world.clerk_a if council.id == world.council_a.id else None
        ticket = services.create_ticket(council, {"title": f"Printer {i} does not print", "priority": "normal",
                                                  "category": "hardware", "channel": "phone",
                                                  "requester_id": clerk.id if clerk else None},
                                        actor=world.technician)
        services.change_ticket(ticket, {"assignee_id": staff[i % len(staff)].id}, actor=world.manager)
        services.add_comment(ticket, f"Reply {i}", internal=False, actor=staff[i % len(staff)])
        services.add_comment(ticket, f"Note {i}", internal=True, actor=staff[i % len(staff)])
        tickets.append(ticket)
    return tickets


def test_list_pages_cost_the_same_for_few_and_many_rows(app, db, world, client_for, api_for):
    councils = [world.council_a, world.council_b] + [
        create_council({"name": f"Vila {n}", "population": 300 + n, "population_year": 2024,
                        "comarca": "Bages"}, actor=None) for n in range(4)]
    staff = [world.technician, world.manager, world.admin]
    tech, clerk = client_for(world.technician), client_for(world.clerk_a)
    tech_api, clerk_api = api_for(world.technician), api_for(world.clerk_a)
    urls = {
        "queue": (tech, "/tickets"),
        "queue filtered": (tech, "/tickets?category=hardware&assignee=mine&status=all"),
        "queue search": (tech, "/tickets?q=printer&status=all"),
        "portal": (clerk, "/tickets?show=all"),
        "api list": (tech_api, "/api/v1/tickets?limit=50"),
        "api queue order": (tech_api, "/api/v1/tickets?sort=due&limit=50"),
        "api clerk": (clerk_api, "/api/v1/tickets?limit=50"),
    }

    def measure() -> dict[str, tuple[int, int]]:
        out = {}
        for name, (client, url) in urls.items():
            client.get(url)  # warm: first-request work (caches) is not what is measured
            with counting(db.engine) as statements:
                resp = client.get(url)
            assert resp.status_code == 200, (name, resp.status_code)
            body = resp.get_data(as_text=True)
            out[name] = (len(statements), body.count("Printer "))
        return out

    _fill(world, 3, councils, staff)
    few = measure()
    _fill(world, 45, councils, staff, offset=3)
    many = measure()
    for name in urls:
        (few_count, few_rows), (many_count, many_rows) = few[name], many[name]
        assert many_rows > few_rows, (name, few_rows, many_rows)  # more rows were shown...
        assert many_count == few_count, (name, few, many)  # ...for the same statements
    assert max(count for count, _rows in many.values()) <= 15, many


def test_a_ticket_page_costs_the_same_with_many_replies(app, db, world, client_for, api_for, open_ticket):
    ticket = open_ticket()
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician)
    authors = [world.technician, world.manager, world.admin, world.clerk_a]

    def reply(n):
        for i in range(n):
            author = authors[i % len(authors)]
            services.add_comment(ticket, f"Message {i}", internal=author.role != "clerk" and i % 3 == 0,
                                 actor=author, files=[(f"shot{i}.png", b"\x89PNG\r\n\x1a\n" + bytes(20))])

    views = {"staff page": (client_for(world.technician), f"/tickets/{ticket.id}"),
             "clerk page": (client_for(world.clerk_a), f"/tickets/{ticket.id}"),
             "api comments": (api_for(world.technician), f"/api/v1/tickets/{ticket.id}/comments?limit=100")}

    def measure():
        out = {}
        for name, (client, url) in views.items():
            client.get(url)
            with counting(db.engine) as statements:
                resp = client.get(url)
            assert resp.status_code == 200
            out[name] = (len(statements), resp.get_data(as_text=True).count("Message "))
        return out

    reply(2)
    few = measure()
    reply(24)
    many = measure()
    for name in views:
        assert many[name][1] > few[name][1], name
        assert many[name][0] == few[name][0], (name, few, many)
