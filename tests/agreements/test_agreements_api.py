"""`/api/v1/agreements` and the month close as docs/api-contract.md writes them."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEntry
from agreements.models import Agreement, MonthClose

CONTRACT_FIELDS = {"id", "council_id", "starts_on", "ends_on", "onsite_minutes_month", "remote_minutes_month",
                   "rollover", "status", "previous_agreement_id"}


@pytest.fixture
def year(app):
    from agreements.months import office_today

    return office_today().year - 1


@pytest.fixture
def manager(world, api_for):
    return api_for(world.manager)


def body(world, start, end, **extra):
    return {"council_id": world.council_a.id, "starts_on": start, "ends_on": end, **extra}


def test_create_takes_remote_from_the_band_and_stores_it(manager, world, year, db):
    # Mura: 211 inhabitants, band 0–500 → 90 remote, 180 on site by default.
    resp = manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year + 3}-12-31",
                                                        onsite_minutes_month=240, remote_minutes_month=None,
                                                        rollover="none"))
    assert resp.status_code == 201, resp.json
    out = resp.json
    assert set(out) >= CONTRACT_FIELDS
    assert {k: out[k] for k in CONTRACT_FIELDS - {"id"}} == {
        "council_id": world.council_a.id, "starts_on": f"{year}-01-01", "ends_on": f"{year + 3}-12-31",
        "onsite_minutes_month": 240, "remote_minutes_month": 90, "rollover": "none", "status": "active",
        "previous_agreement_id": None}
    assert manager.get(f"/api/v1/agreements/{out['id']}").json == out
    # A later change of population does not alter the signed agreement.
    world.council_a.population = 4000
    db.session.commit()
    assert manager.get(f"/api/v1/agreements/{out['id']}").json["remote_minutes_month"] == 90
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.object_type == "agreement")) == 1


def test_omitted_onsite_is_the_band_default_and_previous_is_fixed(manager, world, year):
    first = manager.post("/api/v1/agreements", json=body(world, f"{year - 4}-01-01", f"{year - 1}-12-31")).json
    assert (first["onsite_minutes_month"], first["remote_minutes_month"], first["rollover"]) == (180, 90, "none")
    # A gap of a year does not matter: the most recent agreement that ended before the start.
    second = manager.post("/api/v1/agreements", json=body(world, f"{year + 1}-01-01", f"{year + 4}-12-31",
                                                          rollover="next_month")).json
    assert second["previous_agreement_id"] == first["id"]
    # Made afterwards in the gap: its own previous is the first; the second keeps its previous.
    gap = manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31")).json
    assert gap["previous_agreement_id"] == first["id"]
    assert manager.get(f"/api/v1/agreements/{second['id']}").json["previous_agreement_id"] == first["id"]


def test_draft_and_ended_status(manager, world, year, api_error):
    ended = manager.post("/api/v1/agreements", json=body(world, f"{year - 4}-01-01", f"{year - 1}-12-31")).json
    assert ended["status"] == "ended"
    draft = manager.post("/api/v1/agreements", json=body(world, f"{year + 2}-01-01", f"{year + 5}-12-31",
                                                         status="draft")).json
    assert (draft["status"], draft["signed_on"]) == ("draft", None)
    error = api_error(manager.post("/api/v1/agreements", json=body(world, f"{year + 6}-01-01", f"{year + 6}-12-31",
                                                                   status="draft", signed_on=f"{year}-01-01")), 422)
    assert "signed_on" in error["fields"]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"starts_on": "YEAR-01-02"}, "starts_on"),           # not the first day of a month
    ({"ends_on": "YEAR-12-30"}, "ends_on"),               # not the last day of a month
    ({"ends_on": "YEAR-02-28", "starts_on": "YEAR-03-01"}, "ends_on"),
    ({"onsite_minutes_month": 89}, "onsite_minutes_month"),
    ({"onsite_minutes_month": 1681}, "onsite_minutes_month"),
    ({"onsite_minutes_month": 240.0}, "onsite_minutes_month"),
    ({"onsite_minutes_month": "240"}, "onsite_minutes_month"),
    ({"remote_minutes_month": True}, "remote_minutes_month"),
    ({"remote_minutes_month": -1}, "remote_minutes_month"),
    ({"rollover": "yes"}, "rollover"),
    ({"council_id": "1"}, "council_id"),
    ({"starts_on": "YEAR/01/01"}, "starts_on"),
])
def test_validation_is_422_on_the_field(manager, world, year, api_error, db, overrides, field):
    data = body(world, f"{year}-01-01", f"{year}-12-31")
    data.update({k: v.replace("YEAR", str(year)) if isinstance(v, str) else v for k, v in overrides.items()})
    if field == "council_id":
        data["council_id"] = overrides["council_id"]
    error = api_error(manager.post("/api/v1/agreements", json=data), 422)
    assert field in error["fields"], error
    assert db.session.scalar(select(func.count()).select_from(Agreement)) == 0


def test_february_of_a_leap_year_ends_on_the_29th(manager, world, api_error):
    assert manager.post("/api/v1/agreements", json=body(world, "2028-01-01", "2028-02-29")).status_code == 201
    api_error(manager.post("/api/v1/agreements", json=body(world, "2031-01-01", "2031-02-29")), 422)


def test_overlaps_are_409_and_sharing_one_day_is_an_overlap(manager, world, year, api_error):
    assert manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31")).status_code == 201
    for start, end in ((f"{year}-12-01", f"{year + 1}-11-30"), (f"{year - 1}-01-01", f"{year}-01-31"),
                       (f"{year - 1}-01-01", f"{year + 2}-12-31"), (f"{year}-05-01", f"{year}-05-31")):
        error = api_error(manager.post("/api/v1/agreements", json=body(world, start, end)), 409, "agreement_overlap")
        assert "starts_on" in error["fields"]
    # Right after it is fine, and another council's periods are its own.
    assert manager.post("/api/v1/agreements", json=body(world, f"{year + 1}-01-01", f"{year + 1}-12-31")).status_code == 201
    other = body(world, f"{year}-01-01", f"{year}-12-31") | {"council_id": world.council_b.id}
    assert manager.post("/api/v1/agreements", json=other).status_code == 201


def test_concurrent_overlapping_creates_let_one_in(world, year, live_server, api_for, is_postgres):
    """Two managers sign overlapping agreements at the same moment: one 201, one 409."""
    import json
    import urllib.error
    import urllib.request

    tokens = [api_for(world.manager).token, api_for(world.admin).token]
    data = json.dumps(body(world, f"{year}-01-01", f"{year}-12-31")).encode()
    statuses, barrier = [], threading.Barrier(len(tokens) * 4)

    def post(token):
        request = urllib.request.Request(f"{live_server.url}/api/v1/agreements", data=data, method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)

    threads = [threading.Thread(target=post, args=(t,)) for t in tokens * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201] + [409] * 7


def test_list_and_read_per_role(manager, world, year, api_for, api_error):
    mine = manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31")).json
    theirs = manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31")
                          | {"council_id": world.council_b.id}).json
    assert [a["id"] for a in manager.get("/api/v1/agreements").json["items"]] == [mine["id"], theirs["id"]]
    assert [a["id"] for a in manager.get(f"/api/v1/agreements?council_id={world.council_b.id}").json["items"]] == [
        theirs["id"]]
    technician = api_for(world.technician)
    assert technician.get(f"/api/v1/agreements/{theirs['id']}").status_code == 200
    api_error(technician.post("/api/v1/agreements", json=body(world, f"{year + 1}-01-01", f"{year + 1}-12-31")),
              403, "forbidden")
    clerk = api_for(world.clerk_a)
    assert [a["id"] for a in clerk.get("/api/v1/agreements").json["items"]] == [mine["id"]]
    assert clerk.get(f"/api/v1/agreements/{mine['id']}").json == mine
    api_error(clerk.get(f"/api/v1/agreements/{theirs['id']}"), 404, "not_found")
    api_error(clerk.get(f"/api/v1/agreements?council_id={world.council_b.id}"), 404, "not_found")
    api_error(clerk.post("/api/v1/agreements", json=body(world, f"{year + 1}-01-01", f"{year + 1}-12-31")),
              403, "forbidden")
    api_error(manager.get("/api/v1/agreements/99999"), 404, "not_found")
    api_error(manager.post("/api/v1/agreements", json=body(world, f"{year + 1}-01-01", f"{year + 1}-12-31")
                           | {"council_id": 99999}), 404, "not_found")


# --- closing months ---------------------------------------------------------------------------------

def test_close_is_idempotent_and_audited_once(manager, world, year, api_error, db):
    manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31"))
    url = f"/api/v1/councils/{world.council_a.id}/months/{year}-03/close"
    first = manager.post(url)
    assert first.status_code == 200, first.json
    assert {k: first.json[k] for k in ("council_id", "month", "closed", "newly_closed", "closed_by_id")} == {
        "council_id": world.council_a.id, "month": f"{year}-03", "closed": True, "newly_closed": True,
        "closed_by_id": world.manager.id}
    again = manager.post(url)
    assert again.status_code == 200 and again.json["newly_closed"] is False
    assert again.json["closed_at"] == first.json["closed_at"]
    assert db.session.scalar(select(func.count()).select_from(MonthClose)) == 1
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "close_month")).all()
    assert len(audit) == 1 and audit[0].council_id == world.council_a.id and audit[0].actor_id == world.manager.id
    usage = manager.get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-03").json
    assert usage["closed"] is True


def test_close_errors(manager, world, year, api_for, api_error):
    from agreements.months import office_today

    this_month = office_today().strftime("%Y-%m")
    manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year + 1}-12-31"))
    api_error(manager.post(f"/api/v1/councils/{world.council_a.id}/months/{year - 1}-03/close"), 404, "no_agreement")
    error = api_error(manager.post(f"/api/v1/councils/{world.council_a.id}/months/{this_month}/close"), 422)
    assert "month" in error["fields"]  # a month can be closed once it has ended
    api_error(manager.post(f"/api/v1/councils/{world.council_a.id}/months/{year}-13/close"), 422)
    api_error(manager.post(f"/api/v1/councils/{world.council_a.id}/months/march/close"), 422)
    api_error(manager.post(f"/api/v1/councils/99999/months/{year}-03/close"), 404, "not_found")
    api_error(api_for(world.technician).post(f"/api/v1/councils/{world.council_a.id}/months/{year}-03/close"),
              403, "forbidden")
    api_error(api_for(world.clerk_a).post(f"/api/v1/councils/{world.council_a.id}/months/{year}-03/close"),
              403, "forbidden")
    api_error(api_for(world.clerk_a).post(f"/api/v1/councils/{world.council_b.id}/months/{year}-03/close"),
              404, "not_found")


def test_close_a_month_everywhere(manager, world, year, db):
    manager.post("/api/v1/agreements", json=body(world, f"{year}-01-01", f"{year}-12-31"))
    manager.post("/api/v1/agreements", json=body(world, f"{year}-03-01", f"{year}-12-31")
                 | {"council_id": world.council_b.id})
    resp = manager.post(f"/api/v1/months/{year}-02/close")
    assert resp.json == {"month": f"{year}-02", "councils": 1, "newly_closed": 1}
    resp = manager.post(f"/api/v1/months/{year}-03/close")
    assert resp.json == {"month": f"{year}-03", "councils": 2, "newly_closed": 2}
    assert manager.post(f"/api/v1/months/{year}-03/close").json["newly_closed"] == 0


def test_terms_are_fixed_once_a_month_is_closed(world, year, db):
    from agreements import services
    from core.errors import Conflict, ValidationFailed

    agreement = services.create_agreement(world.council_a, {
        "starts_on": dt.date(year, 1, 1), "ends_on": dt.date(year, 12, 31), "onsite_minutes_month": 240,
        "signed_on": dt.date(year - 1, 12, 1)}, actor=None)
    services.update_agreement(agreement, {"onsite_minutes_month": 300, "notes": "More"}, actor=world.manager)
    assert agreement.onsite_minutes_month == 300
    services.close_month(world.council_a, dt.date(year, 1, 1), actor=world.manager)
    with pytest.raises(Conflict) as exc:
        services.update_agreement(agreement, {"onsite_minutes_month": 360}, actor=world.manager)
    assert exc.value.code == "month_closed"
    db.session.rollback()
    # The notes and the document can still change.
    services.update_agreement(agreement, {"document_ref": "CONV-1", "notes": "Signed copy filed"}, actor=world.manager)
    assert (agreement.document_ref, agreement.onsite_minutes_month) == ("CONV-1", 300)
    with pytest.raises(ValidationFailed):
        services.update_agreement(agreement, {"ends_on": dt.date(year, 12, 30)}, actor=world.manager)
