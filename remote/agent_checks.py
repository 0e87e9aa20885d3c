"""An agent's hold on its asset: the facts it writes and the built-in checks it owns.

Shared by enrollment (remote.ingest), reports (remote.ingest) and the approval of a
re-enrollment (remote.enrollment_approval), which attaches the agent later than the others.
"""

from __future__ import annotations

from sqlalchemy import select

from accounts import audit
from extensions import db
from inventory.models import Asset
from remote.agents import ALWAYS_ON_KINDS
from remote.check_config import check_key, check_unit
from remote.models import Agent, Check

FACT_FIELDS = ("hostname", "os", "serial", "manufacturer", "model", "ip_address")


def apply_facts(asset: Asset, facts: dict, agent_id: int) -> None:
    before = audit.snapshot(asset, FACT_FIELDS)
    for name, value in facts.items():
        if name in FACT_FIELDS and getattr(asset, name) != value:
            setattr(asset, name, value)
    changes = audit.diff(before, audit.snapshot(asset, FACT_FIELDS))
    if changes:
        entry = audit.record("update", object_type="asset", object_id=asset.id, actor=None,
                             label=f"{asset.tag} · {asset.name}", council_id=asset.council_id, changes=changes)
        entry.actor_label = f"agent {agent_id}"


def default_offline_severity(asset: Asset) -> str:
    return "critical" if asset.kind in ALWAYS_ON_KINDS else "warning"


def agent_check(asset: Asset, agent_id: int, kind: str, params: dict | None = None) -> Check:
    params = params or {}
    check = Check(council_id=asset.council_id, asset_id=asset.id, agent_id=agent_id, source="agent", kind=kind,
                  key=check_key("agent", kind, params), params=params, enabled=True,
                  unit=check_unit("agent", kind), summary_params={})
    db.session.add(check)
    return check


def attach_agent(agent: Agent, asset: Asset, facts: dict, *, matched: bool) -> None:
    """The agent becomes the asset's: its facts (for an existing asset), the machine's check
    history continued under it, and the built-in checks it lacks. The caller commits."""
    if matched:
        apply_facts(asset, facts, agent.id)
    existing = {c.key: c for c in db.session.scalars(
        select(Check).where(Check.asset_id == asset.id, Check.source == "agent"))}
    for check in existing.values():
        # The machine's history continues under the new agent.
        check.agent_id = agent.id
        if check.kind != "disk":
            check.enabled = True
    for kind in ("cpu", "memory", "offline"):
        if f"agent:{kind}" not in existing:
            params = {"severity": default_offline_severity(asset)} if kind == "offline" else {}
            agent_check(asset, agent.id, kind, params)
