"""`/api/v1/time-entries` and `/api/v1/councils/{id}/usage` exactly as docs/api-contract.md writes
them: fields, strict integers, error bodies and codes, and who may do what."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEntry
from support.hours.models import TimeEntry

CONTRACT_FIELDS = {"id", "technician_id", "council_id", "date", "minutes", "mode", "description", "ticket_id",
                   "travel_minutes"}
USAGE_KEYS = {"base_minutes", "carried_minutes", "allowance_minutes", "used_minutes", "remaining_minutes",
              "excess_minutes"}


@pytest.fixture
def covered(make_agreement, world):
    """Both councils have an agreement over last year and this one."""
    return make_agreement(onsite=240), make_agreement(council=world.council_b, onsite=180)


@pytest.fixture
def tech(world, api_for):
    return api_for(world.technician)


def payload(world, year, **overrides):
    body = {"council_id": world.council_a.id, "date": f"{year}-03-04", "minutes": 75, "mode": "onsite",
            "description": "Printer driver", "ticket_id": None, "travel_minutes": 40}
    body.update(overrides)
    return body


# --- POST ---------------------------------------------------------------------------------

def test_create_answers_201_with_the_contract_fields(covered, tech, world, year, db):
    resp = tech.post("/api/v1/time-entries", json=payload(world, year))
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert set(body) >= CONTRACT_FIELDS
    assert body["technician_id"] == world.technician.id  # the token's user
    assert {k: body[k] for k in ("council_id", "date", "minutes", "mode", "description", "ticket_id",
                                 "travel_minutes")} == payload(world, year)
    assert isinstance(body["id"], int) and body["month"] == f"{year}-03" and body["corrects_entry_id"] is None
    assert tech.get(f"/api/v1/time-entries/{body['id']}").json == body
    entry = db.session.get(TimeEntry, body["id"])
    assert entry.month == dt.date(year, 3, 1)  # stored, for the usage aggregates
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.object_type == "time_entry", AuditEntry.action == "create")) == 1


def test_description_and_travel_may_be_omitted(covered, tech, world, year):
    resp = tech.post("/api/v1/time-entries", json={"council_id": world.council_a.id, "date": f"{year}-03-04",
                                                   "minutes": 30, "mode": "remote"})
    assert resp.status_code == 201, resp.json
    assert (resp.json["description"], resp.json["travel_minutes"], resp.json["ticket_id"]) == ("", 0, None)


@pytest.mark.parametrize(("field", "value"), [
    ("minutes", 1.5), ("minutes", 90.0), ("minutes", "90"), ("minutes", True), ("minutes", 0), ("minutes", 1441),
    ("minutes", -5), ("minutes", None), ("travel_minutes", 40.0), ("travel_minutes", "40"), ("travel_minutes", -1),
    ("travel_minutes", 1441), ("council_id", "1"), ("council_id", 1.0), ("council_id", 2**31),
    ("mode", "phone"), ("mode", None), ("date", "2026-3-4"), ("date", "04/03/2026"), ("date", 20260304),
    ("ticket_id", "7"), ("description", 12), ("technician_id", True),
])
def test_strict_types_and_ranges_are_422_on_the_field(covered, tech, world, year, api_error, db, field, value):
    error = api_error(tech.post("/api/v1/time-entries", json=payload(world, year, **{field: value})), 422,
                      "validation_error")
    assert field in error["fields"], error
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 0


def test_missing_fields_are_named(covered, tech, world, api_error):
    error = api_error(tech.post("/api/v1/time-entries", json={"council_id": world.council_a.id}), 422)
    assert {"date", "minutes", "mode"} <= set(error["fields"])


def test_malformed_body_is_400(covered, tech, api_error):
    api_error(tech.post("/api/v1/time-entries", data="{not json", headers={"Content-Type": "application/json"}),
              400, "malformed_body")
    api_error(tech.post("/api/v1/time-entries", json=[1, 2]), 400, "malformed_body")


def test_travel_on_a_remote_entry_is_422(covered, tech, world, year, api_error):
    error = api_error(tech.post("/api/v1/time-entries", json=payload(world, year, mode="remote")), 422)
    assert set(error["fields"]) == {"travel_minutes"}
    assert tech.post("/api/v1/time-entries", json=payload(world, year, mode="remote", travel_minutes=0)).status_code == 201


def test_a_ticket_is_422_until_tickets_exist(covered, tech, world, year, api_error):
    error = api_error(tech.post("/api/v1/time-entries", json=payload(world, year, ticket_id=12)), 422)
    assert set(error["fields"]) == {"ticket_id"}


def test_a_date_outside_every_agreement_is_422_no_agreement(covered, tech, world, year, api_error):
    error = api_error(tech.post("/api/v1/time-entries", json=payload(world, year, date=f"{year - 1}-12-31")),
                      422, "no_agreement")
    assert "date" in error["fields"]


def test_a_date_in_a_closed_month_is_409_month_closed(covered, tech, world, year, close, api_error):
    close(dt.date(year, 3, 1))
    error = api_error(tech.post("/api/v1/time-entries", json=payload(world, year)), 409, "month_closed")
    assert "date" in error["fields"]
    # The next month is still open.
    assert tech.post("/api/v1/time-entries", json=payload(world, year, date=f"{year}-04-01")).status_code == 201


def test_unknown_council_is_404(covered, tech, world, year, api_error):
    api_error(tech.post("/api/v1/time-entries", json=payload(world, year, council_id=99999)), 404, "not_found")


def test_who_may_post(covered, world, year, api_for, api_error, client_for):
    api_error(api_for(world.clerk_a).post("/api/v1/time-entries", json=payload(world, year)), 403, "forbidden")
    api_error(client_for(world.technician).post("/api/v1/time-entries", json=payload(world, year)), 401,
              "unauthorized")  # a session cookie is no token
    for user in (world.manager, world.admin):
        assert api_for(user).post("/api/v1/time-entries", json=payload(world, year)).status_code == 201


def test_technicians_log_only_their_own_time(covered, tech, world, year, api_for, api_error, db):
    from accounts import services as accounts

    other = accounts.create_user(email="other.tech@test.example.org", name="Other", role="technician",
                                 password=world.password, actor=None)
    api_error(tech.post("/api/v1/time-entries", json=payload(world, year, technician_id=other.id)), 403, "forbidden")
    own = tech.post("/api/v1/time-entries", json=payload(world, year, technician_id=world.technician.id))
    assert own.status_code == 201 and own.json["technician_id"] == world.technician.id
    # Managers log for anyone on the staff, but not for a clerk.
    manager = api_for(world.manager)
    resp = manager.post("/api/v1/time-entries", json=payload(world, year, technician_id=other.id))
    assert resp.status_code == 201 and resp.json["technician_id"] == other.id
    error = api_error(manager.post("/api/v1/time-entries", json=payload(world, year, technician_id=world.clerk_a.id)),
                      422)
    assert set(error["fields"]) == {"technician_id"}


# --- GET ------------------------------------------------------------------------------------

def test_list_filters_by_council_and_month_in_a_stable_order(covered, log_time, tech, world, year):
    days = [dt.date(year, 3, 20), dt.date(year, 3, 2), dt.date(year, 3, 2), dt.date(year, 4, 1)]
    ids = [log_time(d, 30).id for d in days]
    log_time(dt.date(year, 3, 5), 30, council=world.council_b)
    body = tech.get(f"/api/v1/time-entries?council_id={world.council_a.id}&month={year}-03").json
    assert [e["id"] for e in body["items"]] == [ids[1], ids[2], ids[0]]  # by date, then id
    assert body["next_cursor"] is None
    # Pages of two, keyset: nothing repeated or lost.
    first = tech.get(f"/api/v1/time-entries?council_id={world.council_a.id}&limit=2").json
    second = tech.get(f"/api/v1/time-entries?council_id={world.council_a.id}&limit=2&cursor={first['next_cursor']}").json
    assert [e["id"] for e in first["items"] + second["items"]] == [ids[1], ids[2], ids[0], ids[3]]
    assert second["next_cursor"] is None
    # Technicians read every council's entries (contract: reading rules).
    assert len(tech.get("/api/v1/time-entries").json["items"]) == 5


@pytest.mark.parametrize("query", ["month=2026-13", "month=2026-3", "council_id=abc", "limit=0", "limit=501"])
def test_list_query_errors_are_422(covered, tech, api_error, query):
    api_error(tech.get(f"/api/v1/time-entries?{query}"), 422, "validation_error")


def test_list_with_a_bad_cursor_is_400(covered, tech, api_error):
    api_error(tech.get("/api/v1/time-entries?cursor=forged"), 400, "invalid_cursor")


def test_clerks_read_their_own_councils_entries_only(covered, log_time, world, year, api_for, api_error):
    mine = log_time(dt.date(year, 3, 4), 30)
    theirs = log_time(dt.date(year, 3, 4), 30, council=world.council_b)
    clerk = api_for(world.clerk_a)
    assert [e["id"] for e in clerk.get("/api/v1/time-entries").json["items"]] == [mine.id]
    assert clerk.get(f"/api/v1/time-entries?council_id={world.council_a.id}").status_code == 200
    api_error(clerk.get(f"/api/v1/time-entries?council_id={world.council_b.id}"), 404, "not_found")
    assert clerk.get(f"/api/v1/time-entries/{mine.id}").status_code == 200
    api_error(clerk.get(f"/api/v1/time-entries/{theirs.id}"), 404, "not_found")
    # Writing is refused by role on their own council, and another council's entry does not exist.
    api_error(clerk.patch(f"/api/v1/time-entries/{mine.id}", json={"minutes": 5}), 403, "forbidden")
    api_error(clerk.patch(f"/api/v1/time-entries/{theirs.id}", json={"minutes": 5}), 404, "not_found")
    api_error(clerk.delete(f"/api/v1/time-entries/{theirs.id}"), 404, "not_found")
    api_error(clerk.post(f"/api/v1/time-entries/{theirs.id}/corrections", json={"minutes": -5, "description": "x"}),
              404, "not_found")


# --- PATCH and DELETE -------------------------------------------------------------------------

def test_patch_by_the_author_and_by_managers(covered, log_time, tech, world, year, api_for, api_error, db):
    entry = log_time(dt.date(year, 3, 4), 60, travel=30)
    resp = tech.patch(f"/api/v1/time-entries/{entry.id}", json={"minutes": 90, "description": "Longer"})
    assert resp.status_code == 200, resp.json
    assert (resp.json["minutes"], resp.json["description"], resp.json["travel_minutes"]) == (90, "Longer", 30)
    # Changing to remote needs the travel gone too.
    error = api_error(tech.patch(f"/api/v1/time-entries/{entry.id}", json={"mode": "remote"}), 422)
    assert set(error["fields"]) == {"travel_minutes"}
    resp = tech.patch(f"/api/v1/time-entries/{entry.id}", json={"mode": "remote", "travel_minutes": 0})
    assert resp.json["mode"] == "remote"
    # Moving to another month moves its usage.
    resp = api_for(world.manager).patch(f"/api/v1/time-entries/{entry.id}", json={"date": f"{year}-05-06"})
    assert resp.status_code == 200 and resp.json["month"] == f"{year}-05"
    assert db.session.get(TimeEntry, entry.id).month == dt.date(year, 5, 1)
    changes = db.session.scalars(select(AuditEntry.changes).where(AuditEntry.object_type == "time_entry",
                                                                  AuditEntry.action == "update")
                                 .order_by(AuditEntry.id)).all()
    assert len(changes) == 3 and changes[-1]["date"] == [f"{year}-03-04", f"{year}-05-06"]


def test_patch_strict_types(covered, log_time, tech, year, api_error):
    entry = log_time(dt.date(year, 3, 4), 60)
    for body in ({"minutes": 1.5}, {"minutes": "60"}, {"minutes": 0}, {"date": None}, {"minutes": None},
                 {"mode": "bike"}, {"ticket_id": 3}):
        error = api_error(tech.patch(f"/api/v1/time-entries/{entry.id}", json=body), 422)
        assert set(error["fields"]) == set(body), (body, error)


def test_another_technician_cannot_change_or_delete(covered, log_time, world, year, api_for, api_error):
    from accounts import services as accounts

    entry = log_time(dt.date(year, 3, 4), 60)
    other = accounts.create_user(email="other.tech@test.example.org", name="Other", role="technician",
                                 password=world.password, actor=None)
    api = api_for(other)
    api_error(api.patch(f"/api/v1/time-entries/{entry.id}", json={"minutes": 5}), 403, "forbidden")
    api_error(api.delete(f"/api/v1/time-entries/{entry.id}"), 403, "forbidden")
    # And technicians cannot hand their hours to someone else.
    api_error(api_for(world.technician).patch(f"/api/v1/time-entries/{entry.id}",
                                              json={"technician_id": other.id}), 403, "forbidden")


def test_closed_months_are_immutable(covered, log_time, tech, world, year, close, api_for, api_error, db):
    entry = log_time(dt.date(year, 3, 4), 60)
    movable = log_time(dt.date(year, 4, 4), 60)
    close(dt.date(year, 3, 1))
    api_error(tech.patch(f"/api/v1/time-entries/{entry.id}", json={"minutes": 30}), 409, "month_closed")
    api_error(tech.patch(f"/api/v1/time-entries/{entry.id}", json={"date": f"{year}-04-02"}), 409, "month_closed")
    api_error(tech.delete(f"/api/v1/time-entries/{entry.id}"), 409, "month_closed")
    # Nor can an open month's entry be moved into the closed one, not even by a manager.
    error = api_error(api_for(world.manager).patch(f"/api/v1/time-entries/{movable.id}",
                                                   json={"date": f"{year}-03-31"}), 409, "month_closed")
    assert "date" in error["fields"]
    # Or to a date no agreement covers, or to another council that has none then.
    api_error(tech.patch(f"/api/v1/time-entries/{movable.id}", json={"date": f"{year + 2}-01-05"}), 422,
              "no_agreement")
    db.session.expire_all()
    assert (db.session.get(TimeEntry, entry.id).minutes, db.session.get(TimeEntry, movable.id).date) == (
        60, dt.date(year, 4, 4))


def test_moving_to_another_council(covered, log_time, tech, world, year, api_error):
    entry = log_time(dt.date(year, 4, 4), 60)
    resp = tech.patch(f"/api/v1/time-entries/{entry.id}", json={"council_id": world.council_b.id})
    assert resp.status_code == 200 and resp.json["council_id"] == world.council_b.id
    api_error(tech.patch(f"/api/v1/time-entries/{entry.id}", json={"council_id": 99999}), 404, "not_found")


def test_delete_answers_204(covered, log_time, tech, year, api_error, db):
    entry_id = log_time(dt.date(year, 3, 4), 60).id
    resp = tech.delete(f"/api/v1/time-entries/{entry_id}")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert db.session.scalar(select(TimeEntry.id).where(TimeEntry.id == entry_id)) is None
    api_error(tech.delete(f"/api/v1/time-entries/{entry_id}"), 404, "not_found")


# --- corrections -------------------------------------------------------------------------------

def test_corrections_of_a_closed_month(covered, log_time, tech, world, year, close, api_error):
    entry = log_time(dt.date(year, 3, 4), 120, travel=40)
    url = f"/api/v1/time-entries/{entry.id}/corrections"
    # While the month is open, the entry itself is changed instead.
    api_error(tech.post(url, json={"minutes": -30, "description": "Too long"}), 409, "month_open")
    close(dt.date(year, 3, 1))
    before = tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-03").json
    resp = tech.post(url, json={"minutes": -30, "travel_minutes": -10, "description": "Logged half an hour too much",
                                "date": f"{year}-04-02"})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert (body["corrects_entry_id"], body["minutes"], body["travel_minutes"], body["month"]) == (
        entry.id, -30, -10, f"{year}-04")
    assert (body["council_id"], body["mode"], body["technician_id"]) == (entry.council_id, "onsite",
                                                                         entry.technician_id)
    # The closed month keeps its figures; the correction counts in its own month.
    assert tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-03").json == before
    april = tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-04").json
    assert (april["onsite"]["used_minutes"], april["travel_minutes"]) == (-30, -10)
    # Never more than what was logged; the mode's travel rule; a reason; the month must be open.
    error = api_error(tech.post(url, json={"minutes": -91, "description": "x", "date": f"{year}-04-02"}), 422)
    assert "minutes" in error["fields"]
    error = api_error(tech.post(url, json={"minutes": 0, "description": "x", "date": f"{year}-04-02"}), 422)
    assert "minutes" in error["fields"]
    api_error(tech.post(url, json={"minutes": -5, "description": "", "date": f"{year}-04-02"}), 422)
    api_error(tech.post(url, json={"minutes": -5, "description": "x", "date": f"{year}-03-30"}), 409, "month_closed")
    api_error(tech.post(url, json={"minutes": -5, "description": "x", "date": f"{year + 5}-01-02"}), 422,
              "no_agreement")
    api_error(tech.post(url, json={"minutes": -5.0, "description": "x"}), 422)
    # A correction is not corrected in turn.
    error = api_error(tech.post(f"/api/v1/time-entries/{body['id']}/corrections",
                                json={"minutes": 5, "description": "x", "date": f"{year}-04-03"}), 422)
    assert "corrects_entry_id" in error["fields"]
    # The rest can still be taken away, by the author.
    assert tech.post(url, json={"minutes": -90, "description": "Not done at all", "date": f"{year}-04-02"}
                     ).status_code == 201


def test_remote_corrections_carry_no_travel(covered, log_time, tech, year, close, api_error):
    entry = log_time(dt.date(year, 3, 4), 45, mode="remote")
    close(dt.date(year, 3, 1))
    error = api_error(tech.post(f"/api/v1/time-entries/{entry.id}/corrections",
                                json={"minutes": 15, "travel_minutes": 10, "description": "x",
                                      "date": f"{year}-04-01"}), 422)
    assert "travel_minutes" in error["fields"]


# --- usage ----------------------------------------------------------------------------------------

def test_usage_is_the_contracts_body(covered, log_time, tech, world, year):
    log_time(dt.date(year, 3, 4), 200, travel=40)
    log_time(dt.date(year, 3, 18), 115, travel=40)
    log_time(dt.date(year, 3, 18), 30, mode="remote")
    body = tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-03").json
    agreement_a = covered[0]
    assert body == {
        "council_id": world.council_a.id, "month": f"{year}-03", "agreement_id": agreement_a.id,
        "onsite": {"base_minutes": 240, "carried_minutes": 0, "allowance_minutes": 240, "used_minutes": 315,
                   "remaining_minutes": 0, "excess_minutes": 75},
        "remote": {"base_minutes": 90, "carried_minutes": 0, "allowance_minutes": 90, "used_minutes": 30,
                   "remaining_minutes": 60, "excess_minutes": 0},
        "travel_minutes": 80, "closed": False}


def test_usage_carries_within_an_agreement_only(make_agreement, log_time, tech, world, year, close):
    make_agreement(first=(year, 1), last=(year, 6), onsite=300, remote=120, rollover="next_month")
    make_agreement(first=(year, 7), last=(year + 1, 12), onsite=300, remote=120, rollover="next_month")
    log_time(dt.date(year, 1, 10), 100)   # January: 200 on site unused
    log_time(dt.date(year, 2, 10), 350)   # February: 300 + 200 allowance, 150 left, but only base carries
    log_time(dt.date(year, 6, 10), 60)    # June, the last month of the first agreement
    close(dt.date(year, 2, 1))

    def usage(month):
        return tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-{month:02d}").json

    jan, feb, mar = usage(1), usage(2), usage(3)
    assert jan["onsite"]["carried_minutes"] == 0  # never into an agreement's first month
    assert feb["onsite"] | {} == {"base_minutes": 300, "carried_minutes": 200, "allowance_minutes": 500,
                                  "used_minutes": 350, "remaining_minutes": 150, "excess_minutes": 0}
    assert feb["remote"]["carried_minutes"] == 120 and feb["closed"] is True
    assert mar["onsite"]["carried_minutes"] == 0  # February used more than its base
    assert mar["remote"]["carried_minutes"] == 120
    assert usage(7)["onsite"]["carried_minutes"] == 0  # nothing crosses into the next agreement
    assert usage(7)["agreement_id"] != jan["agreement_id"]


def test_usage_errors(covered, tech, world, year, today, api_for, api_error):
    api_error(tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year - 1}-06"), 404, "no_agreement")
    api_error(tech.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-6"), 422, "validation_error")
    api_error(tech.get("/api/v1/councils/99999/usage?month=2026-01"), 404, "not_found")
    clerk = api_for(world.clerk_a)
    assert clerk.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-06").status_code == 200
    api_error(clerk.get(f"/api/v1/councils/{world.council_b.id}/usage?month={year}-06"), 404, "not_found")
    # Omitted: the current month.
    assert tech.get(f"/api/v1/councils/{world.council_a.id}/usage").json["month"] == today.strftime("%Y-%m")
