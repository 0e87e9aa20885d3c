"""The state machine every result goes through: agent reports, SSH rounds and the offline job.

A result joins the check's series (`remote_results`) and, unless it is older than what the
check shows, becomes the check's current state; a new state is recorded as a state change and
told to the alerts (remote.alerts), which open, update or close the check's alert.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from extensions import db
from remote import alerts
from remote.judging import CheckResult
from remote.models import Check, Result, StateChange


@dataclass
class Observation:
    """One result, from whatever source: what the state machine and the series store."""

    state: str
    value: float | None = None
    unit: str = ""
    summary_key: str = ""
    summary_params: dict = field(default_factory=dict)
    output: str | None = None
    duration_ms: float | None = None

    @classmethod
    def from_check_result(cls, result: CheckResult) -> Observation:
        return cls(state=result.state.value, value=result.value, unit=result.unit or "",
                   summary_key=result.summary_key, summary_params=dict(result.summary_params),
                   output=result.raw_output or None, duration_ms=result.duration_ms)


def apply_result(check: Check, obs: Observation, at: dt.datetime, *, store: bool = True) -> bool:
    """Store a result in the series and, unless it is older than what the check shows, make it
    the check's current state. Returns True when the state changed.

    A late result (spooled by an agent and delivered out of order) joins the series but never
    moves the current state back in time, nor records a state change in the past.
    """
    if store:
        db.session.add(Result(council_id=check.council_id, check_id=check.id, collected_at=at, state=obs.state,
                              value=obs.value, summary_key=obs.summary_key, summary_params=obs.summary_params,
                              # Output only where someone will read it: when something is wrong.
                              output=obs.output if obs.state != "ok" else None,
                              duration_ms=obs.duration_ms))
    if check.last_result_at is not None and at < check.last_result_at:
        return False
    check.last_result_at = at
    check.last_value = obs.value
    check.unit = obs.unit or check.unit
    check.summary_key = obs.summary_key
    check.summary_params = obs.summary_params
    if obs.output is not None or check.source == "ssh":
        check.last_output = obs.output
    first = check.state_since is None
    if not first and obs.state == check.state:
        if obs.state == "critical":
            alerts.still_critical(check, at)
        return False
    previous = None if first else check.state
    check.state = obs.state
    check.state_since = at
    db.session.add(StateChange(council_id=check.council_id, check_id=check.id, asset_id=check.asset_id,
                               from_state=previous, to_state=obs.state, at=at, summary_key=obs.summary_key,
                               summary_params=obs.summary_params))
    if previous is not None or obs.state == "critical":
        alerts.state_changed(check, previous, at)
    return True


def disable_check(check: Check, now: dt.datetime) -> None:
    """Turn a check off: its alert closes and its state becomes unknown (it is not watched)."""
    check.enabled = False
    alerts.check_disabled(check, now)
    if check.state != "unknown" or check.state_since is None:
        previous = check.state if check.state_since is not None else None
        check.state = "unknown"
        check.state_since = now
        check.summary_key = "check_disabled"
        check.summary_params = {}
        db.session.add(StateChange(council_id=check.council_id, check_id=check.id, asset_id=check.asset_id,
                                   from_state=previous, to_state="unknown", at=now, summary_key="check_disabled",
                                   summary_params={}))
