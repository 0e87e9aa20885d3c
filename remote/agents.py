"""Agents: the council's enrollment keys, the agents' tokens, and whether an agent is alive.

An enrollment key (one per council, shown once) lets the agent on a council machine enroll
(remote.ingest.enroll); each agent then reports with its own token. Both are stored only as
hashes and compared in constant time. An agent is "offline" after
REMOTE_AGENT_OFFLINE_INTERVALS report intervals of silence (remote.jobs.detect_offline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from agreements.models import Council
from core.db import MAX_ID, utcnow
from core.errors import NotFound
from extensions import db
from remote import alerts
from remote.models import Agent, Check, EnrollmentKey
from remote.state_machine import disable_check

ENROLLMENT_PREFIX = "cdenroll"
AGENT_TOKEN_PREFIX = "cdagent"  # noqa: S105  (a prefix, not a secret)
OFFLINE_SEVERITIES = ("critical", "warning")
# Kinds whose silence is an outage rather than a PC switched off for the night.
ALWAYS_ON_KINDS = ("server", "network")


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split_token(plaintext: str, prefix: str) -> tuple[int, str] | None:
    parts = (plaintext or "").strip().split("_", 2)
    if (len(parts) != 3 or parts[0] != prefix or not (parts[1].isascii() and parts[1].isdigit())
            or len(parts[1]) > 10 or not 0 < int(parts[1]) <= MAX_ID or not parts[2]):
        return None
    return int(parts[1]), parts[2]


# --- enrollment keys ------------------------------------------------------------------------

def create_enrollment_key(council: Council, *, actor: User | None) -> str:
    """A new enrollment key for the council; the previous one stops working. Shown once."""
    secret = secrets.token_urlsafe(32)
    row = db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == council.id))
    if row is None:
        row = EnrollmentKey(council_id=council.id, secret_hash=_hash_secret(secret),
                            created_by_id=actor.id if actor else None)
        db.session.add(row)
    else:
        row.secret_hash = _hash_secret(secret)
        row.created_at = utcnow()
        row.created_by_id = actor.id if actor else None
    audit.record("enrollment_key_create", object_type="council", object_id=council.id, actor=actor,
                 label=council.name, council_id=council.id)
    try:
        db.session.commit()
    except IntegrityError:  # two keys created at once: the other one won; make ours the last
        db.session.rollback()
        return create_enrollment_key(council, actor=actor)
    return f"{ENROLLMENT_PREFIX}_{council.id}_{secret}"


def council_for_enrollment_key(plaintext: str) -> Council | None:
    """The council whose current key this is, compared in constant time, or None."""
    parts = _split_token(plaintext, ENROLLMENT_PREFIX)
    candidate = _hash_secret(parts[1] if parts else "")
    row = db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == parts[0])) if parts else None
    if row is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, row.secret_hash):
        return None
    council = db.session.get(Council, row.council_id)
    return council if council is not None and council.active else None


def enrollment_key_info(council: Council) -> EnrollmentKey | None:
    return db.session.scalar(select(EnrollmentKey).where(EnrollmentKey.council_id == council.id))


# --- agents ---------------------------------------------------------------------------------

def new_agent_token(agent_id: int) -> tuple[str, str]:
    """(plaintext, hash); the plaintext goes to the agent once and is never stored."""
    secret = secrets.token_urlsafe(32)
    return f"{AGENT_TOKEN_PREFIX}_{agent_id}_{secret}", _hash_secret(secret)


@dataclass(frozen=True)
class AgentPrincipal:
    """Who an agent request is: just the ids the ingest needs (no ORM object to go stale)."""

    id: int
    council_id: int
    asset_id: int
    report_interval_seconds: int
    previous_interval_seconds: int


_TOKEN_LOOKUP = select(Agent.id, Agent.council_id, Agent.asset_id, Agent.report_interval_seconds,
                       Agent.previous_interval_seconds, Agent.token_hash, Agent.revoked_at).where(
    Agent.id == bindparam("agent_id"))


def agent_for_token(plaintext: str) -> AgentPrincipal | None:
    """The active agent behind a token, compared in constant time; None when unknown or revoked.

    No cache: a revoked token must stop working on its very next request.
    """
    parts = _split_token(plaintext, AGENT_TOKEN_PREFIX)
    candidate = _hash_secret(parts[1] if parts else "")
    row = None
    if parts:
        # Core, not the ORM: one indexed row, read on every report.
        row = db.session.connection().execute(_TOKEN_LOOKUP, {"agent_id": parts[0]}).first()
    if row is None:
        hmac.compare_digest(candidate, "0" * 64)
        return None
    if not hmac.compare_digest(candidate, row.token_hash) or row.revoked_at is not None:
        return None
    return AgentPrincipal(row.id, row.council_id, row.asset_id, row.report_interval_seconds,
                          row.previous_interval_seconds)


def get_agent(agent_id: int) -> Agent:
    if not 1 <= agent_id <= MAX_ID:
        raise NotFound()
    agent = db.session.scalar(select(Agent).where(Agent.id == agent_id))
    if agent is None:
        raise NotFound()
    return agent


def revoke_agent(agent: Agent, *, actor: User | None, commit: bool = True) -> Agent:
    """The token stops working at once; the agent's checks stop being judged (and their
    alerts close), the asset and the history stay."""
    if agent.revoked_at is not None:
        return agent
    now = utcnow()
    agent.revoked_at = now
    agent.revoked_by_id = actor.id if actor else None
    for check in db.session.scalars(select(Check).where(Check.agent_id == agent.id, Check.enabled.is_(True))):
        disable_check(check, now)
    audit.record("agent_revoke", object_type="asset", object_id=agent.asset_id, actor=actor,
                 label=f"{agent.asset.tag} · {agent.asset.name}", council_id=agent.council_id,
                 changes={"agent": [agent.id, None]})
    if commit:
        db.session.commit()
        alerts.dispatch_if_pending()
    return agent


def agents_query(*, council_id: int | None = None, status: str | None = None):
    stmt = select(Agent)
    if council_id is not None:
        stmt = stmt.where(Agent.council_id == council_id)
    if status == "active":
        stmt = stmt.where(Agent.revoked_at.is_(None))
    elif status == "revoked":
        stmt = stmt.where(Agent.revoked_at.is_not(None))
    return stmt


def offline_after(agent: Agent | AgentPrincipal) -> dt.timedelta:
    interval = max(agent.report_interval_seconds, agent.previous_interval_seconds or 0)
    return dt.timedelta(seconds=interval * current_app.config["REMOTE_AGENT_OFFLINE_INTERVALS"])


def agent_status(agent: Agent, now: dt.datetime | None = None) -> str:
    """"revoked", "pending" (its enrollment awaits approval), "waiting" (never reported),
    "offline" or "online"."""
    if agent.revoked_at is not None:
        return "revoked"
    if agent.pending_at is not None:
        return "pending"
    now = now or utcnow()
    seen = agent.last_report_at
    if seen is None:
        return "offline" if now - agent.enrolled_at > offline_after(agent) else "waiting"
    return "offline" if now - seen > offline_after(agent) else "online"
