"""Re-enrollment of a machine whose agent is alive waits for a person (issue 14).

A council's enrollment key is shared by every machine of the council, so whoever holds it
(a leaked script, a former employee) could enroll "mura-srv-01" again and, if that simply
revoked the agent that reports for the real server, take over its monitoring: silence its
alerts, or flood it. So when the host name belongs to an asset whose agent is **alive**
(not revoked, and reporting: `agent_status` online), the new agent is created *pending*:

- it gets its token (the agent saves it and keeps trying), but its reports are refused with
  403 `enrollment_pending` (the agent keeps them in its spool) and it changes nothing;
- the old agent keeps working;
- the agents page shows the request with the facts the new machine gave, the address it
  came from and when; a staff member **approves** (the old agent is revoked, the new one
  takes over the asset's checks and facts, its spooled reports then arrive) or **refuses**
  (the new token is revoked). Both decisions are audited.

A machine whose agent is silent (reinstalled, replaced) or has never reported enrolls at
once, as before: nobody is there to be taken over, and the office is not made to approve
every reinstall.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from core.errors import Conflict
from extensions import db
from remote import alerts
from remote.agent_checks import attach_agent
from remote.agents import agent_status, revoke_agent
from remote.models import Agent

PENDING_FACTS = ("hostname", "os", "serial", "manufacturer", "model", "ip_address")


def alive_agent(asset_id: int, now: dt.datetime) -> Agent | None:
    """The agent reporting for the asset now, if one is."""
    for agent in db.session.scalars(select(Agent).where(Agent.asset_id == asset_id, Agent.revoked_at.is_(None),
                                                        Agent.pending_at.is_(None)).order_by(Agent.id.desc())):
        if agent_status(agent, now) == "online":
            return agent
    return None


def hold(agent: Agent, asset, facts: dict, now: dt.datetime) -> None:
    """Make a just-created agent a pending one (the caller commits). An earlier request for the
    same asset that nobody decided on is superseded: only the newest machine can be approved."""
    agent.pending_at = now
    agent.pending_facts = {k: str(v)[:255] for k, v in facts.items() if k in PENDING_FACTS}
    for older in db.session.scalars(select(Agent).where(Agent.asset_id == asset.id, Agent.id != agent.id,
                                                        Agent.revoked_at.is_(None), Agent.pending_at.is_not(None))):
        revoke_agent(older, actor=None, commit=False)
    audit.record("agent_enroll_pending", object_type="asset", object_id=asset.id, actor=None,
                 label=f"{asset.tag} · {asset.name}", council_id=asset.council_id,
                 changes={"agent": [None, agent.id], "from": [None, agent.enrolled_from or None]})


def pending_query(council_id: int | None = None):
    stmt = select(Agent).where(Agent.pending_at.is_not(None), Agent.revoked_at.is_(None))
    if council_id is not None:
        stmt = stmt.where(Agent.council_id == council_id)
    return stmt.order_by(Agent.pending_at.desc(), Agent.id.desc())


def current_agents(asset_ids: list[int]) -> dict[int, Agent]:
    """The asset's agent in place (not pending, not revoked), for the requests' "replaces"."""
    if not asset_ids:
        return {}
    rows = db.session.scalars(select(Agent).where(Agent.asset_id.in_(asset_ids), Agent.revoked_at.is_(None),
                                                  Agent.pending_at.is_(None)).order_by(Agent.id))
    return {a.asset_id: a for a in rows}


def _not_pending() -> Conflict:
    return Conflict(_l("This enrollment is no longer waiting for a decision."), code="not_pending")


def approve(agent: Agent, *, actor) -> Agent:
    """The new machine is the real one: the old agent is revoked, the new one takes over."""
    if not agent.pending:
        raise _not_pending()
    replaced = []
    for old in db.session.scalars(select(Agent).where(Agent.asset_id == agent.asset_id, Agent.id != agent.id,
                                                      Agent.revoked_at.is_(None))):
        revoke_agent(old, actor=actor, commit=False)
        replaced.append(old.id)
    facts = dict(agent.pending_facts or {})
    agent.pending_at = None
    # Reports it sent while waiting were refused; it starts afresh (its spool replays).
    agent.last_fresh_report_at = None
    attach_agent(agent, agent.asset, facts, matched=True)
    audit.record("agent_enroll_approve", object_type="asset", object_id=agent.asset_id, actor=actor,
                 label=f"{agent.asset.tag} · {agent.asset.name}", council_id=agent.council_id,
                 changes={"agent": [replaced[0] if replaced else None, agent.id]})
    db.session.commit()
    alerts.dispatch_if_pending()
    return agent


def refuse(agent: Agent, *, actor) -> Agent:
    """Not this machine: its token is revoked; the agent in place goes on as before."""
    if not agent.pending:
        raise _not_pending()
    audit.record("agent_enroll_refuse", object_type="asset", object_id=agent.asset_id, actor=actor,
                 label=f"{agent.asset.tag} · {agent.asset.name}", council_id=agent.council_id,
                 changes={"agent": [agent.id, None], "from": [agent.enrolled_from or None, None]})
    revoke_agent(agent, actor=actor, commit=False)
    db.session.commit()
    return agent
