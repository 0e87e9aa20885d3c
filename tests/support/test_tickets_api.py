"""The tickets API as docs/api-contract.md writes it: create, list with filters and keyset
pages, get, patch (only the contract's moves), comments, rating; every error with the
contract's body, another council's ticket a 404 for a clerk, strict JSON types."""

from __future__ import annotations

import datetime as dt

import pytest

from support.tickets import services

pytestmark = pytest.mark.usefixtures("english")

CONTRACT_KEYS = {"id", "reference", "status", "council_id", "priority", "category", "channel", "requester_id",
                 "assignee_id", "created_at", "sla"}
SLA_KEYS = {"first_response_due", "resolution_due", "first_response_breached", "resolution_breached"}


def _ts(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"no offset: {value}"
    return parsed


def test_create_as_the_contract_says(app, db, world, api_for, api_error):
    clerk = api_for(world.clerk_a)
    resp = clerk.post("/api/v1/tickets", json={"title": "No internet", "description": "Red light on the router",
                                               "priority": "high", "category": "network", "channel": "phone",
                                               "asset_id": None})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) >= CONTRACT_KEYS and set(body["sla"]) == SLA_KEYS
    year = _ts(body["created_at"]).astimezone(dt.UTC).year
    assert body["reference"] in (f"MURA-{year}-0001", f"MURA-{year + 1}-0001")
    assert (body["status"], body["council_id"], body["priority"], body["category"]) == (
        "new", world.council_a.id, "high", "network")
    assert body["channel"] == "web"  # a clerk's ticket comes from the web, whatever they say
    assert (body["requester_id"], body["assignee_id"]) == (world.clerk_a.id, None)
    assert _ts(body["sla"]["first_response_due"]) < _ts(body["sla"]["resolution_due"])
    assert body["sla"]["first_response_breached"] is False and body["sla"]["resolution_breached"] is False
    # Another council's id, even a real one, is a 404 for a clerk; their own, spelled out, is fine.
    api_error(clerk.post("/api/v1/tickets", json={"council_id": world.council_b.id, "title": "x"}), 404)
    assert clerk.post("/api/v1/tickets", json={"council_id": world.council_a.id, "title": "y"}).status_code == 201
    # Office staff say which council, and may say the channel and on whose behalf.
    tech = api_for(world.technician)
    error = api_error(tech.post("/api/v1/tickets", json={"title": "Which council?"}), 422, "validation_error")
    assert set(error["fields"]) == {"council_id"}
    staff = tech.post("/api/v1/tickets", json={"council_id": world.council_b.id, "title": "Phoned in",
                                               "channel": "phone", "requester_id": world.clerk_b.id}).json
    assert (staff["channel"], staff["requester_id"], staff["reference"][:4]) == ("phone", world.clerk_b.id,
                                                                                 world.council_b.code[:4])


@pytest.mark.parametrize("body, field", [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "ok", "priority": "critical"}, "priority"),
    ({"title": "ok", "category": "printers"}, "category"),
    ({"title": "ok", "channel": "fax"}, "channel"),
    ({"title": "ok", "asset_id": 1.5}, "asset_id"),
    ({"title": "ok", "asset_id": "3"}, "asset_id"),
    ({"title": "ok", "asset_id": True}, "asset_id"),
    ({"title": 42}, "title"),
    ({}, "title"),
])
def test_create_refuses_bad_input_with_422_and_the_field(app, db, world, api_for, api_error, body, field):
    error = api_error(api_for(world.clerk_a).post("/api/v1/tickets", json=body), 422, "validation_error")
    assert field in error["fields"], error


def test_malformed_unauthenticated_unknown(app, db, world, api_for, api_error):
    clerk = api_for(world.clerk_a)
    api_error(clerk.post("/api/v1/tickets", data="{not json", headers={"Content-Type": "application/json"}), 400)
    api_error(clerk.post("/api/v1/tickets", json=["a list"]), 400)
    api_error(app.test_client().get("/api/v1/tickets"), 401)
    api_error(app.test_client().post("/api/v1/tickets", json={"title": "x"}), 401)
    api_error(clerk.get("/api/v1/tickets/999999"), 404)
    api_error(clerk.get("/api/v1/tickets/99999999999"), 404)
    api_error(clerk.get("/api/v1/tickets/1/nothing-here"), 404)


def test_get_and_list_with_filters_and_keyset_pages(app, db, world, api_for, api_error, open_ticket):
    a1 = open_ticket(title="Printer jam in Registry", priority="high", category="hardware")
    a2 = open_ticket(title="Forgot the mail password", priority="low", category="accounts")
    a3 = open_ticket(title="Router red light", priority="urgent", category="network")
    b1 = open_ticket(council=world.council_b, title="Printer out of toner", category="hardware")
    services.change_ticket(a2, {"assignee_id": world.technician.id}, actor=world.manager)
    services.change_ticket(a3, {"assignee_id": world.manager.id, "status": "in_progress"}, actor=world.manager)
    services.add_comment(a3, "The fibre splice box was flooded", internal=False, actor=world.manager)
    tech = api_for(world.technician)

    def ids(url, api=tech):
        resp = api.get(url)
        assert resp.status_code == 200, resp.json
        return [t["id"] for t in resp.json["items"]]

    assert ids("/api/v1/tickets") == [a1.id, a2.id, a3.id, b1.id]  # oldest first by default
    assert ids(f"/api/v1/tickets?council_id={world.council_b.id}") == [b1.id]
    assert ids("/api/v1/tickets?status=assigned") == [a2.id]
    assert ids("/api/v1/tickets?status=open") == [a1.id, a2.id, a3.id, b1.id]
    assert ids("/api/v1/tickets?priority=urgent") == [a3.id]
    assert ids(f"/api/v1/tickets?assignee_id={world.technician.id}") == [a2.id]
    assert ids("/api/v1/tickets?unassigned=true") == [a1.id, b1.id]
    assert ids("/api/v1/tickets?category=hardware") == [a1.id, b1.id]
    assert ids("/api/v1/tickets?q=printer") == [a1.id, b1.id]
    assert ids("/api/v1/tickets?q=printer&council_id=" + str(world.council_a.id)) == [a1.id]
    assert ids("/api/v1/tickets?q=flooded") == [a3.id]  # words of a reply
    assert ids(f"/api/v1/tickets?q={a2.reference.lower()}") == [a2.id]  # a reference
    # The queue's order: the pending clock's due time first (a1's first reply, high priority, is
    # due before a3's solution, urgent but already answered).
    db.session.expire_all()
    tickets = [services.get_ticket(t.id) for t in (a1, a2, a3, b1)]
    by_due = [t.id for t in sorted(tickets, key=lambda t: (t.queue_at, t.id))]
    assert ids("/api/v1/tickets?sort=due") == by_due and by_due[0] == a1.id
    # A clerk lists their council only; another council's id is a 404.
    clerk = api_for(world.clerk_a)
    assert ids("/api/v1/tickets", clerk) == [a1.id, a2.id, a3.id]
    assert ids("/api/v1/tickets?q=printer", clerk) == [a1.id]
    api_error(clerk.get(f"/api/v1/tickets?council_id={world.council_b.id}"), 404)
    api_error(clerk.get(f"/api/v1/tickets/{b1.id}"), 404)
    got = clerk.get(f"/api/v1/tickets/{a3.id}").json
    assert (got["id"], got["status"], got["assignee_id"], got["reference"]) == (
        a3.id, "in_progress", world.manager.id, a3.reference)
    # Keyset pages: stable, complete, no repeats; a forged cursor is a 400.
    seen, cursor = [], None
    while True:
        url = "/api/v1/tickets?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = tech.get(url).json
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a1.id, a2.id, a3.id, b1.id]
    api_error(tech.get("/api/v1/tickets?cursor=forged"), 400, "invalid_cursor")
    for bad in ("limit=0", "limit=501", "status=solved", "priority=critical", "assignee_id=abc", "sort=title"):
        api_error(tech.get(f"/api/v1/tickets?{bad}"), 422, "validation_error")


def test_patch_only_the_contracts_moves(app, db, world, api_for, api_error, open_ticket):
    ticket = open_ticket()
    tech, clerk = api_for(world.technician), api_for(world.clerk_a)
    url = f"/api/v1/tickets/{ticket.id}"
    error = api_error(tech.patch(url, json={"status": "resolved"}), 409, "invalid_transition")
    assert set(error["fields"]) == {"status"}
    # Setting the assignee of a new ticket moves it to assigned.
    body = tech.patch(url, json={"assignee_id": world.technician.id}).json
    assert (body["status"], body["assignee_id"]) == ("assigned", world.technician.id)
    body = tech.patch(url, json={"status": "in_progress", "priority": "urgent", "category": "network"}).json
    assert (body["status"], body["priority"], body["category"]) == ("in_progress", "urgent", "network")
    api_error(tech.patch(url, json={"status": "closed"}), 409, "invalid_transition")
    api_error(tech.patch(url, json={"status": "finished"}), 422, "validation_error")
    api_error(tech.patch(url, json={"status": None}), 422, "validation_error")
    api_error(tech.patch(url, json={"assignee_id": world.clerk_a.id}), 422, "validation_error")
    api_error(tech.patch(url, json={"assignee_id": "5"}), 422, "validation_error")
    # Clerks change nothing but their answer to "is it solved?"; another council's clerk gets 404.
    api_error(clerk.patch(url, json={"priority": "low"}), 403)
    api_error(clerk.patch(url, json={"status": "resolved"}), 403)
    api_error(api_for(world.clerk_b).patch(url, json={"status": "closed"}), 404)
    api_error(api_for(world.clerk_b).patch(url, json={"status": 12}), 404)  # 404 before the body is judged
    assert tech.patch(url, json={"status": "resolved"}).json["status"] == "resolved"
    assert clerk.patch(url, json={"status": "closed"}).json["status"] == "closed"
    api_error(tech.patch(url, json={"status": "in_progress"}), 409, "invalid_transition")
    history = tech.get(f"{url}/history").json["items"]
    assert [(h["field"], h["new_value"]) for h in history if h["field"] == "status"] == [
        ("status", "new"), ("status", "assigned"), ("status", "in_progress"), ("status", "resolved"),
        ("status", "closed")]


def test_comments(app, db, world, api_for, api_error, open_ticket):
    ticket = open_ticket()
    tech, clerk = api_for(world.technician), api_for(world.clerk_a)
    url = f"/api/v1/tickets/{ticket.id}/comments"
    resp = tech.post(url, json={"body": "Which printer is it?"})
    assert resp.status_code == 201
    created = resp.json
    assert (created["body"], created["internal"], created["author_id"], created["ticket_id"]) == (
        "Which printer is it?", False, world.technician.id, ticket.id)
    assert tech.post(url, json={"body": "Old model", "internal": True}).status_code == 201
    assert clerk.post(url, json={"body": "The one at the entrance"}).status_code == 201
    listed = tech.get(url).json
    assert [c["body"] for c in listed["items"]] == ["Which printer is it?", "Old model", "The one at the entrance"]
    assert listed["next_cursor"] is None
    assert [c["body"] for c in clerk.get(url).json["items"]] == ["Which printer is it?", "The one at the entrance"]
    assert clerk.get(f"{url}/{created['id']}").json["body"] == "Which printer is it?"
    # The office's first public reply is the first response, and started the work.
    got = tech.get(f"/api/v1/tickets/{ticket.id}").json
    assert got["first_response_at"] is not None
    api_error(clerk.post(url, json={"body": "psst", "internal": True}), 403)
    api_error(clerk.post(url, json={"body": ""}), 422, "validation_error")
    api_error(clerk.post(url, json={"body": "x", "internal": "yes"}), 422, "validation_error")
    api_error(clerk.post(url, json={"body": "a\x00b"}), 422, "validation_error")
    api_error(api_for(world.clerk_b).post(url, json={"body": "hello"}), 404)
    api_error(api_for(world.clerk_b).get(url), 404)


def test_rating(app, db, world, api_for, api_error, open_ticket, move):
    ticket = open_ticket()
    clerk = api_for(world.clerk_a)
    url = f"/api/v1/tickets/{ticket.id}/rating"
    api_error(clerk.post(url, json={"score": 5}), 409, "not_resolved")
    move(ticket, "assigned", "in_progress", "resolved")
    for bad in ({"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.0}, {"score": True}, {}):
        api_error(clerk.post(url, json=bad), 422, "validation_error")
    api_error(api_for(world.technician).post(url, json={"score": 5}), 403)
    api_error(api_for(world.clerk_b).post(url, json={"score": 1}), 404)
    resp = clerk.post(url, json={"score": 4, "comment": "Quick, thanks"})
    assert resp.status_code == 201
    assert (resp.json["score"], resp.json["comment"], resp.json["ticket_id"]) == (4, "Quick, thanks", ticket.id)
    api_error(clerk.post(url, json={"score": 5}), 409, "already_rated")
    rating = api_for(world.manager).get(f"/api/v1/tickets/{ticket.id}").json["rating"]
    assert (rating["score"], rating["comment"]) == (4, "Quick, thanks")
    # A closed ticket may still be rated (once).
    other = open_ticket()
    move(other, "assigned", "in_progress", "resolved", "closed")
    assert clerk.post(f"/api/v1/tickets/{other.id}/rating", json={"score": 5}).status_code == 201


def test_the_openapi_document_describes_the_ticket_operations(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    paths = doc["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/tickets"])
    assert {"get", "patch"} <= set(paths["/api/v1/tickets/{ticket_id}"])
    assert {"get", "post"} <= set(paths["/api/v1/tickets/{ticket_id}/comments"])
    assert "post" in paths["/api/v1/tickets/{ticket_id}/rating"]
    listed = {p["name"] for p in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert {"council_id", "status", "priority", "assignee_id", "q", "limit", "cursor"} <= listed
