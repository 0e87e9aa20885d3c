"""Remote health checks: agents, agentless SSH settings and host keys, checks with their
results, state changes, daily roll-ups and alerts; and the scheduler's record of job runs.

Every table holding a council's data is `CouncilOwned`, children included, so the council
scope (core.scope) narrows each of them for clerks with nothing to remember in the views.
The job runs belong to no council: only admins see them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db

if TYPE_CHECKING:
    from inventory.models import Asset

JSONType = JSON().with_variant(JSONB(), "postgresql")

SOURCES = ("agent", "ssh")
STATES = ("ok", "warning", "critical", "unknown")
# The agent's built-in checks (docs/api-contract.md, "Agents and checks").
AGENT_KINDS = ("cpu", "memory", "disk", "offline")
# The SSH catalogue (remote.catalogue.CATALOGUE) plus the host key, judged from the connection.
SSH_KINDS = ("disk", "load", "memory", "systemd_unit", "backup_freshness", "reachability", "host_key")
HOST_KEY_STATUSES = ("pending", "approved", "rejected", "replaced")
RUN_OUTCOMES = ("running", "ok", "error", "skipped")
ALERT_EVENT_KINDS = ("opened", "repeated", "recovered")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class EnrollmentKey(CouncilOwned, db.Model):
    """The council's current enrollment key; only the SHA-256 of its secret is stored.

    One row per council: a new key replaces the old one, which stops working at once.
    """

    __tablename__ = "remote_enrollment_keys"
    __table_args__ = (UniqueConstraint("council_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Agent(CouncilOwned, db.Model):
    """An enrolled agent; only the SHA-256 of its token is stored.

    `report_interval_seconds` is what the agent was last told (at enrollment or in a 202), so
    the offline threshold follows the interval the agent actually uses.
    `facts_collected_at` is the collection time of the report whose inventory the asset shows:
    a late, spooled report never overwrites newer facts.
    """

    __tablename__ = "remote_agents"
    __table_args__ = (
        Index("ix_remote_agents_active", "revoked_at", "last_report_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="RESTRICT"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255), default="")
    os: Mapped[str] = mapped_column(String(255), default="")
    version: Mapped[str] = mapped_column(String(32), default="")
    report_interval_seconds: Mapped[int] = mapped_column(Integer)
    # The interval told before that one: until the agent has reported once on the new
    # interval it may still be sleeping on the old one, so silence is judged on the longer.
    previous_interval_seconds: Mapped[int] = mapped_column(Integer)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    enrolled_from: Mapped[str] = mapped_column(String(45), default="")
    last_report_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    facts_collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    facts_hash: Mapped[str] = mapped_column(String(64), default="")
    reports_received: Mapped[int] = mapped_column(Integer, default=0)
    spool_depth: Mapped[int] = mapped_column(Integer, default=0)
    spool_dropped: Mapped[int] = mapped_column(Integer, default=0)
    spool_rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Agent clock minus server clock, from the last report sent live (not from the spool).
    clock_offset_seconds: Mapped[int | None] = mapped_column(Integer)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # When the last *fresh* report arrived (server clock): the report frequency is judged on
    # arrivals of fresh reports, so a spool replayed after an outage is never throttled.
    last_fresh_report_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set while this agent's enrollment waits for a person's approval: its host name belongs
    # to an asset whose agent is alive, and a leaked council key must not take that over.
    # `pending_facts` are the machine's facts as it described itself, shown on the agents page.
    pending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pending_facts: Mapped[dict | None] = mapped_column(JSONType)

    asset: Mapped[Asset] = relationship("Asset", lazy="joined", innerjoin=True)

    @property
    def pending(self) -> bool:
        return self.pending_at is not None and self.revoked_at is None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class SshSettings(CouncilOwned, db.Model):
    """How to reach an asset over SSH. The private key and its passphrase are stored only
    encrypted (remote.crypto); the public half and its fingerprint are shown instead."""

    __tablename__ = "remote_ssh_settings"
    __table_args__ = (
        UniqueConstraint("asset_id"),
        CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    username: Mapped[str] = mapped_column(String(64))
    key_ciphertext: Mapped[str | None] = mapped_column(Text)
    passphrase_ciphertext: Mapped[str | None] = mapped_column(Text)
    key_type: Mapped[str] = mapped_column(String(40), default="")
    key_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    public_key: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def has_key(self) -> bool:
        return bool(self.key_ciphertext)


class HostKey(CouncilOwned, db.Model):
    """A host key an asset's SSH server offered, and what an admin decided about it.

    `pending` until an admin approves it (then it is pinned) or rejects it; approving a key
    for a host that already had one marks the old one `replaced`.
    """

    __tablename__ = "remote_host_keys"
    __table_args__ = (
        UniqueConstraint("asset_id", "fingerprint"),
        CheckConstraint(_in("status", HOST_KEY_STATUSES), name="status_known"),
        Index("ix_remote_host_keys_status", "status", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    key_type: Mapped[str] = mapped_column(String(40))
    key_base64: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # True when the host offered it while another key was pinned: a changed key.
    replaces_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=22)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    asset: Mapped[Asset] = relationship("Asset", lazy="joined", innerjoin=True)


class Check(CouncilOwned, db.Model):
    """One thing watched on an asset, with its current state.

    `key` names the check within its asset (``agent:disk:/home``, ``ssh:7``...): an agent
    re-enrolled for the same asset keeps its checks and their history. `last_result_at` is the
    collection time of the newest result applied: older results (spooled, out of order) are
    kept in the series but never move the current state back in time.
    """

    __tablename__ = "remote_checks"
    __table_args__ = (
        UniqueConstraint("asset_id", "key"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        CheckConstraint(_in("state", STATES), name="state_known"),
        CheckConstraint("interval_seconds IS NULL OR interval_seconds BETWEEN 60 AND 86400",
                        name="interval_range"),
        # The SSH round picks its due checks with this.
        Index("ix_remote_checks_due", "source", "enabled", "next_due_at"),
        Index("ix_remote_checks_council_state", "council_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("remote_agents.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    warning: Mapped[float | None] = mapped_column(Float)
    critical: Mapped[float | None] = mapped_column(Float)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(8), default="unknown")
    state_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_result_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16), default="")
    summary_key: Mapped[str] = mapped_column(String(40), default="")
    summary_params: Mapped[dict] = mapped_column(JSONType, default=dict)
    # The newest command output of an SSH check (sanitised, truncated; still hostile text).
    last_output: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    asset: Mapped[Asset] = relationship("Asset", lazy="joined", innerjoin=True)


class Result(CouncilOwned, db.Model):
    """One result of a check: the time series (raw, kept REMOTE_RESULTS_RETENTION_DAYS).

    Output is kept only for results that were not OK: a healthy disk check every five minutes
    needs no 4 KiB of `df` each time, a failing one does.
    """

    __tablename__ = "remote_results"
    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state_known"),
        Index("ix_remote_results_check_time", "check_id", "collected_at", "id"),
        # Retention and the daily roll-ups range over every check by time.
        Index("ix_remote_results_collected_at", "collected_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("remote_checks.id", ondelete="CASCADE"))
    collected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None] = mapped_column(Float)
    summary_key: Mapped[str] = mapped_column(String(40), default="")
    summary_params: Mapped[dict] = mapped_column(JSONType, default=dict)
    output: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None] = mapped_column(Float)


class StateChange(CouncilOwned, db.Model):
    """A check moving from one state to another (`from_state` null for its first result).

    The timeline these rows draw is what the roll-ups count minutes per state from.
    """

    __tablename__ = "remote_state_changes"
    __table_args__ = (
        Index("ix_remote_state_changes_check_at", "check_id", "at", "id"),
        Index("ix_remote_state_changes_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("remote_checks.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(8))
    to_state: Mapped[str] = mapped_column(String(8))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    summary_key: Mapped[str] = mapped_column(String(40), default="")
    summary_params: Mapped[dict] = mapped_column(JSONType, default=dict)


class Rollup(CouncilOwned, db.Model):
    """A check's day (in the office's time zone): min/avg/max of its values and the minutes
    it spent in each state, for availability figures. Kept for good; a day is recomputed while
    late reports may still arrive (REMOTE_ROLLUP_RECOMPUTE_DAYS)."""

    __tablename__ = "remote_rollups"
    __table_args__ = (
        UniqueConstraint("check_id", "day"),
        Index("ix_remote_rollups_council_day", "council_id", "day"),
        CheckConstraint("minutes_ok + minutes_warning + minutes_critical + minutes_unknown <= 1500",
                        name="minutes_in_a_day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("remote_checks.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    samples: Mapped[int] = mapped_column(Integer, default=0)
    value_min: Mapped[float | None] = mapped_column(Float)
    value_avg: Mapped[float | None] = mapped_column(Float)
    value_max: Mapped[float | None] = mapped_column(Float)
    minutes_ok: Mapped[int] = mapped_column(Integer, default=0)
    minutes_warning: Mapped[int] = mapped_column(Integer, default=0)
    minutes_critical: Mapped[int] = mapped_column(Integer, default=0)
    minutes_unknown: Mapped[int] = mapped_column(Integer, default=0)


class Alert(CouncilOwned, db.Model):
    """A check gone critical, until it is OK again.

    `open_check_id` equals `check_id` while the alert is open and is null once closed: its
    unique constraint is "one open alert per check", on both databases (NULLs never clash).
    """

    __tablename__ = "remote_alerts"
    __table_args__ = (
        UniqueConstraint("open_check_id"),
        Index("ix_remote_alerts_check", "check_id", "opened_at"),
        Index("ix_remote_alerts_council_open", "council_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("remote_checks.id", ondelete="CASCADE"))
    open_check_id: Mapped[int | None] = mapped_column(Integer)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(8), default="critical")
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_critical_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # When the handlers last heard of it (opened or repeated): repeats are rate-limited.
    last_event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    summary_key: Mapped[str] = mapped_column(String(40), default="")
    summary_params: Mapped[dict] = mapped_column(JSONType, default=dict)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(20))

    check: Mapped[Check] = relationship(lazy="joined", innerjoin=True)

    @property
    def key(self) -> str:
        return f"remote-alert-{self.id}"


class AlertEvent(CouncilOwned, db.Model):
    """An alert event waiting for (or delivered to) the registered handlers: an outbox.

    Written in the transaction that changed the alert, delivered after the commit, retried by
    the scheduler when a handler failed, so a ticket is never lost to a crash in between.
    """

    __tablename__ = "remote_alert_events"
    __table_args__ = (
        CheckConstraint(_in("kind", ALERT_EVENT_KINDS), name="kind_known"),
        Index("ix_remote_alert_events_pending", "dispatched_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(12))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)


class AgentReport(CouncilOwned, db.Model):
    """The reports an agent delivered, by its `report_id`: the unique key makes a replay
    after an outage (or a retry after a lost 202) a no-op."""

    __tablename__ = "remote_agent_reports"
    __table_args__ = (
        UniqueConstraint("agent_id", "report_id"),
        Index("ix_remote_agent_reports_collected_at", "collected_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("remote_agents.id", ondelete="CASCADE"))
    report_id: Mapped[str] = mapped_column(String(64))
    collected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRun(db.Model):
    """One trigger of a scheduler job. The unique (job, scheduled time) is what makes a trigger
    run once: the instance that inserts the row runs it; a standby that took over, or a second
    process, finds the row and does not."""

    __tablename__ = "scheduler_job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_at"),
        CheckConstraint(_in("outcome", RUN_OUTCOMES), name="outcome_known"),
        Index("ix_scheduler_job_runs_scheduled", "scheduled_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(80))
    scheduled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[dict] = mapped_column(JSONType, default=dict)
    instance: Mapped[str] = mapped_column(String(120), default="")

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)
