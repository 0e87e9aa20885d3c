"""Re-enrollment waits for approval (issue 14, item 1): enrolling the host name of a machine
whose agent is alive does not revoke it; a staff member approves or refuses the new one on
the agents page (or by the API), and both decisions are audited."""

from __future__ import annotations

from remote_support import report_body
from sqlalchemy import select


def _actions(db, asset_id: int) -> list[str]:
    from accounts.models import AuditEntry

    db.session.commit()
    return db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "asset",
                                                              AuditEntry.object_id == str(asset_id))
                              .order_by(AuditEntry.id)).all()


def _live_and_contested(enroll):
    old = enroll()
    assert old.report(report_body()).status_code == 202  # alive: it reports
    new = enroll(inventory={**report_body()["inventory"], "ip_address": "198.51.100.66"})
    return old, new


def test_enrolling_the_host_name_of_a_live_agent_waits_and_the_old_agent_keeps_working(app, db, world, enroll,
                                                                                        client_for):
    from remote.models import Agent

    old, new = _live_and_contested(enroll)
    assert new.asset_id == old.asset_id
    assert db.session.get(Agent, new.agent_id).pending
    assert db.session.get(Agent, old.agent_id).revoked_at is None
    resp = new.report(report_body())
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "enrollment_pending"
    assert int(resp.headers["Retry-After"]) >= 1
    assert old.report(report_body()).status_code == 202
    assert "agent_enroll_pending" in _actions(db, old.asset_id)
    # The agents page shows the request: the machine, what it says, where from.
    page = client_for(world.technician).get("/health/agents").get_data(as_text=True)
    assert 'id="pending-title"' in page and f"/health/agents/{new.agent_id}/approve" in page
    assert "198.51.100.66" in page and f"#{new.agent_id}" in page
    # Staff only: a clerk cannot decide.
    assert client_for(world.clerk_a).post(f"/health/agents/{new.agent_id}/approve").status_code in (403, 404)


def test_approval_revokes_the_old_agent_and_the_new_token_works(app, db, world, enroll, client_for):
    from remote.models import Agent, Check

    old, new = _live_and_contested(enroll)
    client = client_for(world.technician)
    assert client.post(f"/health/agents/{new.agent_id}/approve").status_code == 302
    db.session.expire_all()
    assert not db.session.get(Agent, new.agent_id).pending
    assert db.session.get(Agent, old.agent_id).revoked_at is not None
    assert old.report(report_body()).status_code == 401
    assert new.report(report_body()).status_code == 202
    owners = set(db.session.scalars(select(Check.agent_id).where(Check.asset_id == new.asset_id,
                                                                 Check.source == "agent")))
    assert owners == {new.agent_id}
    actions = _actions(db, new.asset_id)
    assert "agent_enroll_approve" in actions and "agent_revoke" in actions
    # Deciding twice is a clear refusal, not a 500.
    assert client.post(f"/health/agents/{new.agent_id}/refuse").status_code == 302


def test_refusal_revokes_the_new_token_and_leaves_the_old_agent(app, db, world, enroll, client_for):
    from remote.models import Agent

    old, new = _live_and_contested(enroll)
    assert client_for(world.manager).post(f"/health/agents/{new.agent_id}/refuse").status_code == 302
    db.session.expire_all()
    assert db.session.get(Agent, new.agent_id).revoked_at is not None
    assert new.report(report_body()).status_code == 401
    assert old.report(report_body()).status_code == 202
    assert "agent_enroll_refuse" in _actions(db, old.asset_id)


def test_the_api_decides_too_and_says_pending_at_enrollment(app, db, world, enroll, enrollment_key, api_for):
    old = enroll()
    assert old.report(report_body()).status_code == 202
    resp = app.test_client().post("/api/v1/agents/enroll", json={
        "enrollment_key": enrollment_key, "hostname": "mura-srv-01",
        "inventory": report_body()["inventory"]})
    assert resp.status_code == 201 and resp.get_json()["status"] == "pending"
    agent_id = resp.get_json()["agent_id"]
    api = api_for(world.technician)
    assert api.get(f"/api/v1/agents/{agent_id}").get_json()["status"] == "pending"
    approved = api.post(f"/api/v1/agents/{agent_id}/approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "waiting"
    again = api.post(f"/api/v1/agents/{agent_id}/approve")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_pending"
    assert api.get(f"/api/v1/agents/{old.agent_id}").get_json()["status"] == "revoked"


def test_a_silent_agent_is_replaced_at_once_as_before(app, db, world, enroll):
    from remote.models import Agent

    old = enroll()  # never reported: nobody to take over
    new = enroll()
    db.session.expire_all()
    assert not db.session.get(Agent, new.agent_id).pending
    assert db.session.get(Agent, old.agent_id).revoked_at is not None
    assert new.report(report_body()).status_code == 202
