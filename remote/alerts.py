"""Alerts: a check gone critical, and the handlers that turn alerts into work (tickets).

The rules (what Zabbix users call hysteresis, chosen so a disk hovering around its critical
threshold does not open a ticket every five minutes):

- a check that becomes **critical** opens an alert, one open alert per check at most
  (`Alert.open_check_id` is unique while open);
- while the alert is open, a critical result again **updates** it (count, last time, latest
  summary). The handlers hear of it (`repeated`) when the check comes back to critical after
  having left it (critical → warning/unknown → critical), and otherwise at most once every
  REMOTE_ALERT_REPEAT_HOURS while it stays critical: a daily "still critical" is useful on a
  ticket, one comment per five-minute check is not;
- only **OK** closes the alert (`recovered`). Critical → warning keeps it open: the trouble
  is not over, and closing there would reopen a ticket at every crossing of the threshold.
  Critical → unknown keeps it open too: not knowing is not being fine;
- turning a check off (or deleting it) closes its alert with reason `check_disabled`.

Handlers (the ticket engine registers one) are called with an `AlertEvent` after the
transaction that changed the alert has committed. Events go through an outbox
(`remote_alert_events`): written in that same transaction, delivered right after the commit,
retried by the scheduler (job `remote.alert_events`) with backoff when a handler raised. A
crash between the commit and the delivery therefore loses nothing; the price is that a
handler may, rarely, see an event twice (after a crash in the middle of delivering it), so
handlers must be idempotent on `event_id` (or on `key` + `kind`). Events of one alert are
delivered in order: an event waits while an earlier one of the same alert is undelivered.

    from remote.alerts import AlertEvent, register_alert_handler

    def open_ticket(event: AlertEvent) -> None:
        if event.kind == "opened": ...      # create a `monitoring` ticket keyed by event.key
        elif event.kind == "repeated": ...  # comment on it
        elif event.kind == "recovered": ... # resolve it

    register_alert_handler(open_ticket)     # from the ticket domain's init_app
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from core import notify
from core.db import utcnow, write_transaction
from core.scope import unrestricted
from extensions import db
from remote import texts
from remote.models import Alert, Check
from remote.models import AlertEvent as AlertEventRow

log = logging.getLogger("councildesk.remote.alerts")

KIND_ALERT = "remote.alert"
KIND_DISK_CAP = "remote.disk_cap"
MAX_ATTEMPTS = 10
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
_PENDING_FLAG = "remote_alert_events_pending"


@dataclass(frozen=True)
class AlertEvent:
    """What a handler receives. Plain values only: load what you need by id.

    kind            "opened" | "repeated" | "recovered"
    key             stable for the alert's whole life, e.g. "remote-alert-42": the ticket's key
    reason          opened: "critical"; repeated: "critical_again" | "still_critical";
                    recovered: "ok" | "check_disabled"
    state           the check's state now; previous_state the one before this event
    summary         English text (logs, fallback); summary_key/summary_params translate it
                    in any language with remote.texts.summary(key, params)
    check           the check kind ("disk", "cpu", "offline", "host_key"...), source "agent"
                    or "ssh", check_label its English name ("Disk /var")
    """

    event_id: int
    kind: str
    key: str
    reason: str
    alert_id: int
    council_id: int
    asset_id: int
    check_id: int
    check: str
    source: str
    check_label: str
    state: str
    previous_state: str | None
    summary: str
    summary_key: str
    summary_params: dict = field(default_factory=dict)
    at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    occurrences: int = 1


AlertHandler = Callable[[AlertEvent], None]
_handlers: list[AlertHandler] = []


def register_alert_handler(handler: AlertHandler) -> None:
    """Add a handler (idempotent: registering the same function twice keeps one)."""
    if handler not in _handlers:
        _handlers.append(handler)


def unregister_alert_handler(handler: AlertHandler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def handlers() -> tuple[AlertHandler, ...]:
    return tuple(_handlers)


# --- the state machine's side: open, update, close -----------------------------------------

def _open_alert(check: Check) -> Alert | None:
    return db.session.scalar(select(Alert).where(Alert.open_check_id == check.id))


def _queue(alert: Alert, check: Check, kind: str, reason: str, *, previous: str | None, at: dt.datetime) -> None:
    with force_locale("en"):
        summary = texts.summary(check.summary_key, check.summary_params)
        label = texts.check_label(check.kind, check.params, check.source)
    payload = {
        "kind": kind, "key": alert.key, "reason": reason, "alert_id": alert.id,
        "council_id": check.council_id, "asset_id": check.asset_id, "check_id": check.id,
        "check": check.kind, "source": check.source, "check_label": label, "state": check.state,
        "previous_state": previous, "summary": summary, "summary_key": check.summary_key,
        "summary_params": dict(check.summary_params or {}), "at": at.isoformat(),
        "opened_at": alert.opened_at.isoformat(), "occurrences": alert.occurrences,
    }
    db.session.add(AlertEventRow(council_id=check.council_id, alert_id=alert.id, kind=kind, payload=payload))
    db.session.info[_PENDING_FLAG] = True


def state_changed(check: Check, previous: str | None, at: dt.datetime) -> None:
    """Called by the state machine (remote.state_machine.apply_result) after `check.state` moved."""
    state = check.state
    if state == "critical":
        alert = _open_alert(check)
        if alert is None:
            alert = Alert(council_id=check.council_id, check_id=check.id, open_check_id=check.id,
                          asset_id=check.asset_id, state=state, opened_at=at, last_critical_at=at,
                          last_event_at=at, occurrences=1, summary_key=check.summary_key,
                          summary_params=dict(check.summary_params or {}))
            db.session.add(alert)
            db.session.flush()
            _queue(alert, check, "opened", "critical", previous=previous, at=at)
            _notify_technicians(alert, check)
            return
        _touch(alert, check, at)
        alert.last_event_at = at
        _queue(alert, check, "repeated", "critical_again", previous=previous, at=at)
        return
    if previous in (None, "ok") and state != "ok":
        return  # warning or unknown from a healthy check: nothing is open
    alert = _open_alert(check) if previous != "ok" else None
    if alert is None:
        return
    alert.state = state
    if state == "ok":
        _close(alert, check, "ok", previous=previous, at=at)


def still_critical(check: Check, at: dt.datetime) -> None:
    """A critical result for a check already critical."""
    alert = _open_alert(check)
    if alert is None:  # critical before alerts existed (or the alert was closed by hand)
        state_changed(check, "critical", at)
        return
    _touch(alert, check, at)
    repeat = dt.timedelta(hours=current_app.config["REMOTE_ALERT_REPEAT_HOURS"])
    if at - alert.last_event_at >= repeat:
        alert.last_event_at = at
        _queue(alert, check, "repeated", "still_critical", previous="critical", at=at)


def check_disabled(check: Check, at: dt.datetime) -> None:
    """The check was turned off or is being deleted: its alert closes."""
    alert = _open_alert(check)
    if alert is not None:
        _close(alert, check, "check_disabled", previous=check.state, at=at)


def _touch(alert: Alert, check: Check, at: dt.datetime) -> None:
    alert.state = "critical"
    alert.occurrences += 1
    if at > alert.last_critical_at:
        alert.last_critical_at = at
    alert.summary_key = check.summary_key
    alert.summary_params = dict(check.summary_params or {})


def _close(alert: Alert, check: Check, reason: str, *, previous: str | None, at: dt.datetime) -> None:
    alert.closed_at = at
    alert.close_reason = reason
    alert.open_check_id = None
    db.session.flush()  # free the unique slot before a new alert could take it
    _queue(alert, check, "recovered", reason, previous=previous, at=at)


def open_alerts(council_id: int | None = None):
    """The open alerts (of one council or all), newest first, as a statement."""
    stmt = select(Alert).where(Alert.closed_at.is_(None))
    if council_id is not None:
        stmt = stmt.where(Alert.council_id == council_id)
    return stmt.order_by(Alert.opened_at.desc(), Alert.id.desc())


# --- notifications ---------------------------------------------------------------------------

def _notify_technicians(alert: Alert, check: Check) -> None:
    from accounts.models import User

    asset = check.asset
    params = {"alert_id": alert.id, "asset_id": asset.id, "asset": asset.name, "tag": asset.tag,
              "council": asset.council.name, "check": check.kind, "check_params": dict(check.params or {}),
              "summary_key": check.summary_key, "summary_params": dict(check.summary_params or {})}
    with unrestricted():
        technicians = db.session.scalars(
            select(User).where(User.role == "technician", User.active.is_(True)).order_by(User.id)).all()
    link = notify.link_for("remote.check_detail", asset_id=asset.id, check_id=check.id)
    # In the app only: the ticket the alert opens is what mails people; two mails for one
    # problem teach them to ignore both.
    notify.notify_users(technicians, KIND_ALERT, params, link=link, send_mail=False, group=f"asset:{asset.id}")


def too_many_disks(asset, mounts: list[str], cap: int) -> bool:
    """An agent named more mounts than the asset may have disk checks: tell the office once
    per asset (the audit entry is the memory of having told it). True when it told."""
    from accounts import audit
    from accounts.models import AuditEntry, User

    told = db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.object_type == "asset", AuditEntry.object_id == str(asset.id),
        AuditEntry.action == "agent_disk_cap").limit(1))
    if told is not None:
        return False
    shown = [m[:80] for m in mounts[:10]]
    audit.record("agent_disk_cap", object_type="asset", object_id=asset.id, actor=None,
                 label=f"{asset.tag} · {asset.name}", council_id=asset.council_id,
                 changes={"refused_mounts": shown, "cap": cap})
    with unrestricted():
        technicians = db.session.scalars(
            select(User).where(User.role == "technician", User.active.is_(True)).order_by(User.id)).all()
    params = {"asset": asset.name, "tag": asset.tag, "council": asset.council.name, "cap": cap,
              "count": len(mounts), "mounts": ", ".join(shown)}
    notify.notify_users(technicians, KIND_DISK_CAP, params, council_id=asset.council_id,
                        link=notify.link_for("remote.monitoring", asset_id=asset.id))
    return True


def _alert_title(p: dict) -> str:
    return _("Critical: %(check)s on %(asset)s (%(council)s)",
             check=texts.check_label(p["check"], p.get("check_params")), asset=p["asset"], council=p["council"])


def _alert_body(p: dict) -> str:
    return texts.summary(p.get("summary_key"), p.get("summary_params"))


def register_kinds() -> None:
    notify.register_kind(KIND_ALERT, _alert_title, _alert_body)
    notify.register_kind(KIND_DISK_CAP, lambda p: _(
        "%(asset)s (%(council)s) reports more disks than it may have checks", asset=p["asset"], council=p["council"]),
        lambda p: _("Its agent named %(count)d mounts past the limit of %(cap)d disk checks per asset; they were "
                    "refused: %(mounts)s.", count=p["count"], cap=p["cap"], mounts=p["mounts"]))


# --- delivery ---------------------------------------------------------------------------------

def events_pending_in_session() -> bool:
    return bool(db.session.info.get(_PENDING_FLAG))


def dispatch_if_pending() -> int:
    """After a commit that may have queued events: deliver them now (cheap when none were)."""
    if not db.session.info.pop(_PENDING_FLAG, False):
        return 0
    try:
        return dispatch_pending()
    except Exception:  # the scheduler retries; the caller's work is committed already
        log.exception("delivering alert events failed; the scheduler will retry")
        db.session.rollback()
        return 0


def _event(row: AlertEventRow) -> AlertEvent:
    p = dict(row.payload)
    for key in ("at", "opened_at"):
        p[key] = dt.datetime.fromisoformat(p[key]) if p.get(key) else None
    p.pop("event_id", None)
    return AlertEvent(event_id=row.id, **p)


def _claim(row_id: int, now: dt.datetime) -> bool:
    earlier = aliased(AlertEventRow)
    with write_transaction():
        result = db.session.execute(
            update(AlertEventRow)
            .where(AlertEventRow.id == row_id, AlertEventRow.dispatched_at.is_(None),
                   or_(AlertEventRow.claimed_at.is_(None), AlertEventRow.claimed_at < now - CLAIM_TIMEOUT),
                   # In order per alert: never overtake an undelivered earlier event.
                   ~exists().where(and_(earlier.alert_id == AlertEventRow.alert_id, earlier.id < AlertEventRow.id,
                                        earlier.dispatched_at.is_(None))))
            .values(claimed_at=now))
    return result.rowcount == 1


def dispatch_pending(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Deliver what is due to every handler; returns how many events were delivered.

    Safe to run from several processes at once: each event is claimed before delivery.
    """
    now = now or utcnow()
    with unrestricted():
        db.session.commit()
        ids = db.session.scalars(
            select(AlertEventRow.id)
            .where(AlertEventRow.dispatched_at.is_(None), AlertEventRow.next_attempt_at <= now)
            .order_by(AlertEventRow.id).limit(limit)).all()
        db.session.commit()
        delivered = 0
        blocked: set[int] = set()
        for row_id in ids:
            row = db.session.get(AlertEventRow, row_id)
            if row is None or row.alert_id in blocked:
                continue
            alert_id = row.alert_id
            db.session.commit()
            if not _claim(row_id, now):
                blocked.add(alert_id)
                continue
            event = _event(db.session.get(AlertEventRow, row_id))
            db.session.commit()
            error = None
            for handler in handlers():
                try:
                    handler(event)
                except Exception as exc:
                    db.session.rollback()
                    log.exception("alert handler %r failed on event %s", handler, row_id)
                    error = f"{getattr(handler, '__qualname__', handler)}: {type(exc).__name__}: {exc}"[:1000]
                    break
            with write_transaction():
                row = db.session.get(AlertEventRow, row_id)
                row.claimed_at = None
                row.attempts += 1
                if error is None:
                    row.dispatched_at = utcnow()
                    delivered += 1
                else:
                    row.last_error = error
                    blocked.add(alert_id)
                    if row.attempts >= MAX_ATTEMPTS:
                        row.failed = True
                        row.dispatched_at = utcnow()
                        log.error("giving up on alert event %s after %s attempts", row_id, row.attempts)
                    else:
                        row.next_attempt_at = utcnow() + dt.timedelta(minutes=2 ** min(row.attempts, 8))
        return delivered
