"""API v1: agent enrollment and reports, agents, enrollment keys, checks and their results."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Literal

from flask import current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import BaseModel, Field

from agreements import services as councils
from core.access import ALL_ROLES, STAFF, agent_only, allow, public
from core.api import (
    ApiAbort,
    ApiModel,
    OutModel,
    PageQuery,
    PageResult,
    api_blueprint,
    operation,
    page_of,
)
from core.db import MAX_ID, utcnow
from core.inputs import BoundedAwareDatetime
from core.keyset import keyset_page
from extensions import db, limiter
from inventory import services as inventory
from remote import agent_protocol, agents, check_config, enrollment_approval, health, ingest, texts
from remote.models import Agent, Check, Result

bp = api_blueprint("remote_api", __name__)

State = Literal["ok", "warning", "critical", "unknown"]
CatalogueKind = Literal["disk", "load", "memory", "systemd_unit", "backup_freshness", "reachability"]


def _actor():
    return current_user._get_current_object()


# --- agents: enrollment and reports --------------------------------------------------------

def _body_limit(view):
    """The report endpoint's own cap (REMOTE_AGENT_MAX_BODY): werkzeug answers 413 before
    reading a byte more, with the contract's error body (core.api)."""
    @functools.wraps(view)
    def wrapper(**kwargs):
        request.max_content_length = current_app.config["REMOTE_AGENT_MAX_BODY"]
        if request.content_length is not None and request.content_length > request.max_content_length:
            raise ApiAbort(413)
        return view(**kwargs)

    return wrapper


def _enroll_limit() -> str:
    return current_app.config["REMOTE_ENROLL_RATE_LIMIT"]


@bp.post("/agents/enroll")
@public
# Keys are 256-bit random, so this is not about guessing them: it keeps a misbehaving
# script on a council network from creating assets in a loop.
@limiter.limit(_enroll_limit)
@operation("Enroll an agent", body=agent_protocol.EnrollIn, response=agent_protocol.EnrollOut, status=201, tags=["agents"],
           errors=(401, 429),
           description="No token: the council's enrollment key goes in the body. The agent's asset is the "
                       "council's asset with that host name (and, when both are known, the same serial "
                       "number), or a new one. A machine enrolled again gets a new agent and its previous "
                       "agent is revoked; but if the previous agent is alive (reporting), the new one is "
                       "`pending` until a staff member approves it (`POST /agents/{id}/approve`), and the old "
                       "one keeps working. The token is shown once; only its hash is stored.")
def enroll(body: agent_protocol.EnrollIn):
    agent, token = ingest.enroll(body, remote_addr=request.remote_addr or "")
    return {"agent_id": agent.id, "token": token, "asset_id": agent.asset_id,
            "report_interval_seconds": agent.report_interval_seconds,
            "status": "pending" if agent.pending else "enrolled"}


@bp.post("/agents/report")
@agent_only
@_body_limit
@operation("Send a report", body=agent_protocol.ReportIn, response=agent_protocol.ReportAccepted, status=202, tags=["agents"],
           errors=(401, 403, 413, 429, 503),
           description="With the agent token. Updates the asset's inventory facts (never blanking a field the "
                       "agent does not know) and the built-in checks: cpu, memory, one per disk mount, offline. "
                       "A report already received (same `report_id`) is answered 202 again and changes nothing; "
                       "a late report joins the history without overwriting newer facts or states. Revoked "
                       "token: 401. Body over 256 KiB: 413. Enrollment awaiting approval: 403 `enrollment_pending`. A "
                       "fresh report sooner than a quarter of the interval after the previous one: 429 with "
                       "`Retry-After` (spooled reports replayed after an outage are not held up). With a broker "
                       "configured, the report is queued durably before the 202, and a broker that cannot take it "
                       "gives 503 `unavailable` with Retry-After.")
def report(body: agent_protocol.ReportIn):
    queue = current_app.extensions.get("councildesk_report_queue")
    if queue is not None:
        # With a broker (scale): published durably, written by a worker in batches.
        return queue(g.remote_agent, body)
    return ingest.ingest_report(g.remote_agent, body)


class AgentOut(OutModel):
    id: int
    council_id: int
    asset_id: int
    hostname: str
    os: str
    version: str
    status: str = Field(description="online, offline, waiting (never reported), pending (enrollment awaiting "
                                    "approval) or revoked")
    report_interval_seconds: int
    enrolled_at: dt.datetime
    last_report_at: dt.datetime | None
    revoked_at: dt.datetime | None
    spool_depth: int
    spool_dropped: int
    spool_rejected: int
    clock_offset_seconds: int | None = Field(description="The agent's clock minus the server's, when known.")


class AgentQuery(PageQuery):
    council_id: int | None = Field(None, ge=1, le=MAX_ID)
    status: Literal["active", "revoked"] | None = None


def _agent_out(agent: Agent, now: dt.datetime) -> dict[str, Any]:
    return {**{name: getattr(agent, name) for name in AgentOut.model_fields if name != "status"},
            "status": agents.agent_status(agent, now)}


@bp.get("/agents")
@allow(*STAFF)
@operation("List agents", query=AgentQuery, response=page_of(AgentOut), tags=["agents"])
def list_agents(query: AgentQuery):
    if query.council_id is not None:
        councils.get_council(query.council_id)
    page = keyset_page(db.session, agents.agents_query(council_id=query.council_id, status=query.status),
                       [Agent.id], query.limit, query.cursor)
    now = utcnow()
    return PageResult([_agent_out(a, now) for a in page.items], page.next_cursor)


@bp.get("/agents/<int:agent_id>")
@allow(*STAFF)
@operation("Get an agent", response=AgentOut, tags=["agents"])
def get_agent(agent_id: int):
    return _agent_out(agents.get_agent(agent_id), utcnow())


@bp.post("/agents/<int:agent_id>/revoke")
@allow(*STAFF)
@operation("Revoke an agent", response=AgentOut, tags=["agents"],
           description="Its token stops working at once (the agent gets 401 and stops). The asset and the "
                       "history stay; the agent's checks are turned off. Revoking twice is harmless.")
def revoke_agent(agent_id: int):
    agent = agents.revoke_agent(agents.get_agent(agent_id), actor=_actor())
    return _agent_out(agent, utcnow())


@bp.post("/agents/<int:agent_id>/approve")
@allow(*STAFF)
@operation("Approve a pending enrollment", response=AgentOut, tags=["agents"], errors=(409,),
           description="The machine's previous agent is revoked and this one takes over the asset's checks. "
                       "409 `not_pending` when it is not waiting for a decision.")
def approve_agent(agent_id: int):
    return _agent_out(enrollment_approval.approve(agents.get_agent(agent_id), actor=_actor()), utcnow())


@bp.post("/agents/<int:agent_id>/refuse")
@allow(*STAFF)
@operation("Refuse a pending enrollment", response=AgentOut, tags=["agents"], errors=(409,),
           description="Its token is revoked; the machine's agent in place goes on. 409 `not_pending` when it "
                       "is not waiting for a decision.")
def refuse_agent(agent_id: int):
    return _agent_out(enrollment_approval.refuse(agents.get_agent(agent_id), actor=_actor()), utcnow())


class EnrollmentKeyOut(BaseModel):
    enrollment_key: str = Field(description="Shown once; only its hash is stored. It replaces the previous key.")


@bp.post("/councils/<int:council_id>/enrollment-key")
@allow(*STAFF)
@operation("Create the council's enrollment key", response=EnrollmentKeyOut, tags=["agents"],
           description="A new key replaces the previous one, which stops working at once. Agents already "
                       "enrolled keep working: they use their own tokens.")
def enrollment_key(council_id: int):
    council = councils.get_council(council_id)
    return {"enrollment_key": agents.create_enrollment_key(council, actor=_actor())}


# --- checks -------------------------------------------------------------------------------

class ThresholdsOut(BaseModel):
    warning: float | None
    critical: float | None


class CheckOut(OutModel):
    id: int
    asset_id: int
    council_id: int
    source: str = Field(description="agent or ssh")
    check: str = Field(description="cpu, memory, disk, offline (agent); disk, load, memory, systemd_unit, "
                                   "backup_freshness, reachability, host_key (ssh)")
    name: str = Field(description="The check's name in the caller's language.")
    params: dict[str, Any]
    enabled: bool
    state: str = Field(description="ok, warning, critical or unknown")
    state_since: dt.datetime | None
    last_result_at: dt.datetime | None
    value: float | None
    unit: str
    summary: str = Field(description="The last result, in the caller's language.")
    summary_key: str
    summary_params: dict[str, Any]
    interval_seconds: int | None = Field(description="SSH checks: how often they run.")
    thresholds: ThresholdsOut | None = Field(description="Effective warning/critical levels, where they apply.")


def _check_out(check: Check) -> dict[str, Any]:
    limits = check_config.thresholds_for(check)
    return {
        "id": check.id, "asset_id": check.asset_id, "council_id": check.council_id, "source": check.source,
        "check": check.kind, "name": texts.check_label(check.kind, check.params, check.source),
        "params": dict(check.params or {}), "enabled": check.enabled, "state": check.state,
        "state_since": check.state_since, "last_result_at": check.last_result_at, "value": check.last_value,
        "unit": check.unit, "summary": texts.summary(check.summary_key, check.summary_params),
        "summary_key": check.summary_key, "summary_params": dict(check.summary_params or {}),
        "interval_seconds": check.interval_seconds,
        "thresholds": {"warning": limits.warning, "critical": limits.critical} if limits else None,
    }


class CheckList(BaseModel):
    items: list[CheckOut]


@bp.get("/assets/<int:asset_id>/checks")
@allow(*ALL_ROLES)
@operation("The checks of an asset", response=CheckList, tags=["checks"],
           description="Every check with its last state, problems first. Clerks: their own council's assets.")
def list_checks(asset_id: int):
    asset = inventory.get_asset(asset_id)
    return {"items": [_check_out(c) for c in health.checks_of(asset)]}


class CheckIn(ApiModel):
    check: CatalogueKind
    params: dict[str, str | int] = Field(default_factory=dict, max_length=4,
                                         description="mount (disk), window (load), unit (systemd_unit), path "
                                                     "(backup_freshness).")
    warning: float | None = Field(None, allow_inf_nan=False)
    critical: float | None = Field(None, allow_inf_nan=False)
    interval_seconds: int | None = Field(None, ge=60, le=86_400)


class CheckPatch(ApiModel):
    warning: float | None = Field(None, allow_inf_nan=False)
    critical: float | None = Field(None, allow_inf_nan=False)
    interval_seconds: int | None = Field(None, ge=60, le=86_400)
    enabled: bool | None = None
    severity: Literal["critical", "warning"] | None = Field(None, description="Offline checks: what silence means.")


@bp.post("/assets/<int:asset_id>/checks")
@allow(*STAFF)
@operation("Add an SSH check", body=CheckIn, response=CheckOut, status=201, errors=(409,), tags=["checks"],
           description="A check from the fixed catalogue, run over the asset's SSH settings. 409 "
                       "`duplicate_check` when the asset has it already.")
def create_check(asset_id: int, body: CheckIn):
    asset = inventory.get_asset(asset_id)
    check = check_config.create_ssh_check(asset, {"kind": body.check, "params": body.params, "warning": body.warning,
                                              "critical": body.critical, "interval_seconds": body.interval_seconds},
                                      actor=_actor())
    return _check_out(check)


@bp.patch("/assets/<int:asset_id>/checks/<int:check_id>")
@allow(*STAFF)
@operation("Change a check", body=CheckPatch, response=CheckOut, tags=["checks"],
           description="Only the fields sent change; `warning`/`critical` null go back to the defaults.")
def patch_check(asset_id: int, check_id: int, body: CheckPatch):
    check = check_config.get_check(inventory.get_asset(asset_id), check_id)
    values = {k: getattr(body, k) for k in body.model_fields_set}
    values.setdefault("warning", check.warning)
    values.setdefault("critical", check.critical)
    if values.get("enabled") is None:
        values.pop("enabled", None)
    if "interval_seconds" in values and values["interval_seconds"] is None:
        values.pop("interval_seconds")
    if "severity" in values and values["severity"] is None:
        values.pop("severity")
    return _check_out(check_config.update_check(check, values, actor=_actor()))


@bp.delete("/assets/<int:asset_id>/checks/<int:check_id>")
@allow(*STAFF)
@operation("Delete an SSH check", status=204, tags=["checks"], errors=[422],
           description="With its history. Agent checks and the host key cannot be deleted (turn them off).")
def delete_check(asset_id: int, check_id: int):
    check_config.delete_check(check_config.get_check(inventory.get_asset(asset_id), check_id), actor=_actor())


class ResultOut(OutModel):
    id: int
    check_id: int
    collected_at: dt.datetime
    state: str
    value: float | None
    unit: str
    summary: str
    summary_key: str
    summary_params: dict[str, Any]
    output: str | None = Field(description="SSH checks that were not OK: what the command printed (truncated); "
                                           "staff only, null for clerks.")
    duration_ms: float | None


class ResultQuery(PageQuery):
    since: BoundedAwareDatetime | None = Field(None, description="Results collected at or after this time "
                                                                 "(years 1900 to 2200).")
    until: BoundedAwareDatetime | None = Field(None, description="Results collected before this time "
                                                                 "(years 1900 to 2200).")


@bp.get("/assets/<int:asset_id>/checks/<int:check_id>/results")
@allow(*ALL_ROLES)
@operation("The results of a check", query=ResultQuery, response=page_of(ResultOut), tags=["checks"],
           description="Newest first (keyset pagination), optionally within [since, until). Raw results are kept "
                       "for REMOTE_RESULTS_RETENTION_DAYS (30 by default); daily roll-ups for good.")
def list_results(asset_id: int, check_id: int, query: ResultQuery):
    check = check_config.get_check(inventory.get_asset(asset_id), check_id)
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise ApiAbort(422, "validation_error", fields={"until": _l("Must be after since.")})
    stmt = health.results_query(check, since=query.since, until=query.until)
    page = keyset_page(db.session, stmt, [Result.collected_at, Result.id], query.limit, query.cursor,
                       descending=True)
    # What a server printed is for the office (the pages show it to staff only, too).
    staff = current_user.is_staff
    items = [{"id": r.id, "check_id": r.check_id, "collected_at": r.collected_at, "state": r.state,
              "value": r.value, "unit": check.unit, "summary": texts.summary(r.summary_key, r.summary_params),
              "summary_key": r.summary_key, "summary_params": dict(r.summary_params or {}),
              "output": r.output if staff else None, "duration_ms": r.duration_ms} for r in page.items]
    return PageResult(items, page.next_cursor)

