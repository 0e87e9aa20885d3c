"""Health pages: the council overview, an asset's checks, check configuration and SSH access,
host keys to approve, agents and enrollment keys, and the scheduler's runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from accounts.forms import ConfirmForm
from agreements import services as councils
from agreements.models import Council
from core.access import ADMIN, ALL_ROLES, STAFF, allow, safe_next_url
from core.db import utcnow
from core.errors import DomainError
from core.inputs import parse_day, url_args
from core.ui import apply_errors, ui_page
from extensions import db
from inventory import services as inventory
from inventory.models import Asset
from remote import (
    alerts,
    charts,
    check_config,
    crypto,
    enrollment_approval,
    health,
    hostkey_approval,
    scheduler,
    texts,
)
from remote.agents import (
    agent_status,
    agents_query,
    create_enrollment_key,
    enrollment_key_info,
    get_agent,
    revoke_agent,
)
from remote.forms import CheckEditForm, CheckForm, HostKeyDecisionForm, SshSettingsForm
from remote.models import RUN_OUTCOMES, Agent, Check, HostKey, JobRun, Result
from remote.ssh_settings import delete_ssh_settings, replace_key, save_ssh_settings, ssh_settings_of

bp = Blueprint("remote", __name__)

RANGES = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}


def _actor():
    return current_user._get_current_object()


@bp.context_processor
def _labels():
    return {"state_labels": texts.state_labels(), "source_labels": texts.source_labels()}


# --- the panel on the asset page (templates/inventory/asset.html includes it) ----------------

@dataclass
class CheckRow:
    check: Check
    chart: charts.Sparkline
    availability: float | None


@dataclass
class Panel:
    asset: Asset
    rows: list[CheckRow]
    agent: Agent | None
    agent_status: str | None
    ssh: object | None
    start: dt.datetime
    end: dt.datetime
    pending_key: bool


def panel(asset: Asset, hours: int = 24) -> Panel:
    """What the asset page shows about the asset's health: its checks with the last day drawn."""
    now = utcnow()
    start = now - dt.timedelta(hours=hours)
    checks = health.checks_of(asset, enabled_only=not current_user.is_staff)
    ids = [c.id for c in checks]
    series = health.recent_series(ids, start)
    timelines = health.state_timelines(ids, start, now)
    rows = []
    for check in checks:
        limits = check_config.thresholds_for(check)
        gap = check.interval_seconds or (current_app.config["REMOTE_AGENT_REPORT_INTERVAL"]
                                         if check.source == "agent" else None)
        chart = charts.sparkline(series.get(check.id, []), start, now, unit=check.unit,
                                 warning=limits.warning if limits else None,
                                 critical=limits.critical if limits else None,
                                 states=timelines.get(check.id), expected_gap=gap)
        rows.append(CheckRow(check, chart, charts.availability(timelines.get(check.id, []))))
    agent = db.session.scalar(select(Agent).where(Agent.asset_id == asset.id, Agent.revoked_at.is_(None))
                              .order_by(Agent.id.desc()).limit(1))
    ssh = ssh_settings_of(asset) if current_user.is_staff else None
    pending = bool(ssh) and db.session.scalar(select(func.count()).select_from(HostKey).where(
        HostKey.asset_id == asset.id, HostKey.status == "pending")) > 0
    return Panel(asset, rows, agent, agent_status(agent, now) if agent else None, ssh, start, now, pending)


# --- overview --------------------------------------------------------------------------------

@bp.get("/health")
@allow(*ALL_ROLES)
def overview():
    if current_user.role == "clerk":
        return redirect(url_for("remote.council_health", slug=current_user.council.slug))
    slug = request.args.get("council")
    if slug:
        # Only the overview's own filter travels (a key such as `endpoint` or `slug` was a 500).
        return redirect(url_for("remote.council_health", slug=slug, **url_args(request.args, ("problems",))))
    return _overview(None)


@bp.get("/councils/<slug>/health")
@allow(*ALL_ROLES)
def council_health(slug: str):
    return _overview(councils.get_council_by_slug(slug))


def _overview(council: Council | None):
    problems = request.args.get("problems") == "1"
    council_id = council.id if council else None
    assets = health.council_health(council_id, problems_only=problems)
    counts = health.state_counts(council_id)
    now = utcnow()
    agents_stmt = agents_query(council_id=council_id, status="active")
    offline = [a for a in db.session.scalars(agents_stmt.order_by(Agent.id))
               if agent_status(a, now) == "offline"]
    open_alerts = db.session.scalars(alerts.open_alerts(council_id).limit(50)).all()
    pending_keys = 0
    if current_user.role == "admin":
        pending_keys = db.session.scalar(select(func.count()).select_from(HostKey).where(HostKey.status == "pending"))
    all_councils = db.session.scalars(select(Council).order_by(Council.name)).all() if current_user.is_staff else []
    return render_template("remote/overview.html", council=council, health=assets, counts=counts,
                           offline=offline, alerts=open_alerts, problems=problems, pending_keys=pending_keys,
                           councils=all_councils, now=now)


# --- one check -----------------------------------------------------------------------------

@bp.get("/assets/<int:asset_id>/checks/<int:check_id>")
@allow(*ALL_ROLES)
def check_detail(asset_id: int, check_id: int):
    asset = inventory.get_asset(asset_id)
    check = check_config.get_check(asset, check_id)
    span = request.args.get("range", "24h")
    if span not in RANGES:
        span = "24h"
    now = utcnow()
    start = now - RANGES[span]
    limits = check_config.thresholds_for(check)
    timeline = health.state_timelines([check.id], start, now)[check.id]
    chart = charts.sparkline(health.series(check, start), start, now, unit=check.unit,
                             warning=limits.warning if limits else None,
                             critical=limits.critical if limits else None, states=timeline,
                             expected_gap=check.interval_seconds)
    results = ui_page(health.results_query(check), [Result.collected_at, Result.id], descending=True, limit=50)
    return render_template("remote/check.html", asset=asset, check=check, chart=chart, span=span,
                           ranges=list(RANGES), limits=limits, results=results,
                           changes=health.state_changes(check), availability=charts.availability(timeline))


# --- monitoring configuration of an asset ------------------------------------------------------

def _monitoring(asset: Asset, *, ssh_form: SshSettingsForm | None = None, check_form: CheckForm | None = None,
                status: int = 200):
    settings = ssh_settings_of(asset)
    if ssh_form is None:
        ssh_form = SshSettingsForm(obj=settings) if settings else SshSettingsForm(
            data={"host": asset.ip_address or asset.hostname, "port": 22, "username": "councildesk",
                  "enabled": True, "generate_key": True})
    ssh_form.private_key.data = ""  # never echo a key back, not even a rejected one
    ssh_form.passphrase.data = ""
    agents = db.session.scalars(select(Agent).where(Agent.asset_id == asset.id).order_by(Agent.id.desc())).all()
    now = utcnow()
    return render_template(
        "remote/monitoring.html", asset=asset, settings=settings, ssh_form=ssh_form,
        check_form=check_form or CheckForm(), checks=health.checks_of(asset), agents=agents,
        pinned=hostkey_approval.approved_keys_of(asset.id), crypto_ok=crypto.configured(),
        catalogue_params=CheckForm.PARAMS, statuses={a.id: agent_status(a, now) for a in agents},
        confirm=ConfirmForm()), status


@bp.get("/assets/<int:asset_id>/monitoring")
@allow(*STAFF)
def monitoring(asset_id: int):
    return _monitoring(inventory.get_asset(asset_id))


@bp.post("/assets/<int:asset_id>/ssh")
@allow(*STAFF)
def ssh_settings(asset_id: int):
    asset = inventory.get_asset(asset_id)
    form = SshSettingsForm()
    if form.validate_on_submit():
        try:
            save_ssh_settings(asset, form.values(), actor=_actor())
        except crypto.CryptoNotConfigured as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("SSH access saved."), "success")
            return redirect(url_for("remote.monitoring", asset_id=asset.id) + "#ssh")
    return _monitoring(asset, ssh_form=form, status=422)


@bp.post("/assets/<int:asset_id>/ssh/new-key")
@allow(*STAFF)
def ssh_new_key(asset_id: int):
    asset = inventory.get_asset(asset_id)
    if ConfirmForm().validate_on_submit():
        try:
            replace_key(asset, actor=_actor())
        except crypto.CryptoNotConfigured as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(_("A new key pair was generated. Put its public key on the host before the next check."), "success")
    return redirect(url_for("remote.monitoring", asset_id=asset.id) + "#ssh")


@bp.post("/assets/<int:asset_id>/ssh/delete")
@allow(*STAFF)
def ssh_delete(asset_id: int):
    asset = inventory.get_asset(asset_id)
    if ConfirmForm().validate_on_submit():
        delete_ssh_settings(asset, actor=_actor())
        flash(_("SSH access removed; the SSH checks are turned off."), "success")
    return redirect(url_for("remote.monitoring", asset_id=asset.id))


@bp.post("/assets/<int:asset_id>/checks/new")
@allow(*STAFF)
def check_new(asset_id: int):
    asset = inventory.get_asset(asset_id)
    form = CheckForm()
    if form.validate_on_submit():
        try:
            check_config.create_ssh_check(asset, form.values(), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Check added; it runs at the next round."), "success")
            return redirect(url_for("remote.monitoring", asset_id=asset.id) + "#checks")
    return _monitoring(asset, check_form=form, status=422)


@bp.route("/assets/<int:asset_id>/checks/<int:check_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def check_edit(asset_id: int, check_id: int):
    asset = inventory.get_asset(asset_id)
    check = check_config.get_check(asset, check_id)
    form = CheckEditForm(data={
        "warning": check.warning, "critical": check.critical, "enabled": check.enabled,
        "interval_minutes": (check.interval_seconds // 60) if check.interval_seconds else None,
        "severity": (check.params or {}).get("severity", "warning")}) if request.method == "GET" else CheckEditForm()
    if form.validate_on_submit():
        try:
            check_config.update_check(check, form.values(check), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Check saved."), "success")
            return redirect(url_for("remote.monitoring", asset_id=asset.id) + "#checks")
    defaults = check_config.default_thresholds(check)
    return render_template("remote/check_edit.html", asset=asset, check=check, form=form, defaults=defaults,
                           has_thresholds=check_config.has_thresholds(check.source, check.kind))


@bp.post("/assets/<int:asset_id>/checks/<int:check_id>/delete")
@allow(*STAFF)
def check_delete(asset_id: int, check_id: int):
    asset = inventory.get_asset(asset_id)
    check = check_config.get_check(asset, check_id)
    if ConfirmForm().validate_on_submit():
        try:
            check_config.delete_check(check, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.fields.get("kind", exc.message)), "danger")
        else:
            flash(_("Check deleted."), "success")
    return redirect(url_for("remote.monitoring", asset_id=asset.id) + "#checks")


# --- host keys -----------------------------------------------------------------------------

@bp.get("/health/host-keys")
@allow(*ADMIN)
def host_keys():
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected", "replaced", "all"):
        status = "pending"
    page = ui_page(hostkey_approval.host_keys_query(None if status == "all" else status), [HostKey.last_seen_at, HostKey.id],
                   descending=True, limit=50)
    pinned = {}
    for row in page.items:
        if row.status == "pending" and row.replaces_pinned:
            pinned[row.id] = hostkey_approval.approved_keys_of(row.asset_id)
    return render_template("remote/host_keys.html", page=page, status=status, pinned=pinned,
                           form=HostKeyDecisionForm())


@bp.post("/health/host-keys/<int:key_id>/approve")
@allow(*ADMIN)
def host_key_approve(key_id: int):
    row = hostkey_approval.get_host_key(key_id)
    form = HostKeyDecisionForm()
    if form.validate_on_submit():
        try:
            hostkey_approval.approve_host_key(row, actor=_actor(), confirm_replace=form.confirm.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.fields.get("confirm", exc.message)), "danger")
        else:
            flash(_("Host key %(fingerprint)s approved for %(asset)s; its checks run at the next round.",
                    fingerprint=row.fingerprint, asset=row.asset.name), "success")
    return redirect(url_for("remote.host_keys"))


@bp.post("/health/host-keys/<int:key_id>/reject")
@allow(*ADMIN)
def host_key_reject(key_id: int):
    row = hostkey_approval.get_host_key(key_id)
    if ConfirmForm().validate_on_submit():
        try:
            hostkey_approval.reject_host_key(row, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("Host key %(fingerprint)s rejected.", fingerprint=row.fingerprint), "success")
    return redirect(url_for("remote.host_keys"))


# --- agents and enrollment keys --------------------------------------------------------------

@bp.get("/health/agents")
@allow(*STAFF)
def agents():
    council = None
    slug = request.args.get("council")
    if slug:
        council = councils.get_council_by_slug(slug)
    status = request.args.get("status", "active")
    if status not in ("active", "revoked", "all"):
        status = "active"
    stmt = agents_query(council_id=council.id if council else None,
                                 status=None if status == "all" else status)
    page = ui_page(stmt, [Agent.id], descending=True, limit=50)
    now = utcnow()
    # Re-enrollments waiting for a decision come first, whatever the filter: they hold an agent back.
    pending = db.session.scalars(enrollment_approval.pending_query(council.id if council else None).limit(50)).all()
    return render_template("remote/agents.html", page=page, council=council, status=status, now=now,
                           statuses={a.id: agent_status(a, now) for a in page.items},
                           councils=db.session.scalars(select(Council).order_by(Council.name)).all(),
                           confirm=ConfirmForm(), pending=pending,
                           replaces=enrollment_approval.current_agents([a.asset_id for a in pending]))


@bp.post("/health/agents/<int:agent_id>/approve")
@allow(*STAFF)
def agent_approve(agent_id: int):
    agent = get_agent(agent_id)
    if ConfirmForm().validate_on_submit():
        try:
            enrollment_approval.approve(agent, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("Agent %(id)s approved: it now reports for %(asset)s, and the previous agent was revoked.",
                    id=agent.id, asset=agent.asset.name), "success")
    return redirect(url_for("remote.agents"))


@bp.post("/health/agents/<int:agent_id>/refuse")
@allow(*STAFF)
def agent_refuse(agent_id: int):
    agent = get_agent(agent_id)
    if ConfirmForm().validate_on_submit():
        try:
            enrollment_approval.refuse(agent, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "danger")
        else:
            flash(_("Enrollment of agent %(id)s refused: its token no longer works.", id=agent.id), "success")
    return redirect(url_for("remote.agents"))


@bp.post("/health/agents/<int:agent_id>/revoke")
@allow(*STAFF)
def agent_revoke(agent_id: int):
    agent = get_agent(agent_id)
    if ConfirmForm().validate_on_submit():
        revoke_agent(agent, actor=_actor())
        flash(_("Agent %(id)s revoked: its token no longer works.", id=agent.id), "success")
    return redirect(safe_next_url(request.form.get("next"), url_for("remote.agents")))


@bp.route("/councils/<slug>/enrollment-key", methods=["GET", "POST"])
@allow(*STAFF)
def enrollment(slug: str):
    council = councils.get_council_by_slug(slug)
    form = ConfirmForm()
    key = None
    if request.method == "POST" and form.validate_on_submit():
        key = create_enrollment_key(council, actor=_actor())
    info = enrollment_key_info(council)
    resp = current_app.make_response(render_template(
        "remote/enrollment.html", council=council, key=key, info=info, form=form,
        server=current_app.config["PUBLIC_BASE_URL"]))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- the scheduler's runs (admins) -----------------------------------------------------------

@bp.get("/admin/scheduler")
@allow(*ADMIN)
def job_runs():
    jobs = scheduler.active_jobs(current_app._get_current_object())
    known = sorted({spec.id for spec, _t in jobs} | set(db.session.scalars(select(JobRun.job_id).distinct())))
    job = request.args.get("job") or None
    outcome = request.args.get("outcome") or None
    day = request.args.get("day") or None
    date = parse_day(day)
    stmt = select(JobRun)
    if job in known:
        stmt = stmt.where(JobRun.job_id == job)
    else:
        job = None
    if outcome in RUN_OUTCOMES:
        stmt = stmt.where(JobRun.outcome == outcome)
    else:
        outcome = None
    if date is None:
        day = None  # unreadable or outside 1900-2200 (9999-12-31 plus a day overflowed): all days
    else:
        tz = health.office_timezone()
        start = dt.datetime.combine(date, dt.time(0), tz)
        stmt = stmt.where(JobRun.scheduled_at >= start, JobRun.scheduled_at < start + dt.timedelta(days=1))
    page = ui_page(stmt, [JobRun.scheduled_at, JobRun.id], descending=True, limit=100)
    last = {row.job_id: row for row in db.session.scalars(
        select(JobRun).where(JobRun.id.in_(select(func.max(JobRun.id)).group_by(JobRun.job_id))))}
    now = dt.datetime.now(dt.UTC)
    schedule = [(spec, trigger.get_next_fire_time(None, now), last.get(spec.id)) for spec, trigger in jobs]
    latest = max((r.started_at for r in last.values() if r.started_at), default=None)
    return render_template("remote/job_runs.html", page=page, jobs=known, job=job, outcome=outcome, day=day,
                           outcomes=RUN_OUTCOMES, schedule=schedule, latest=latest, now=utcnow())
