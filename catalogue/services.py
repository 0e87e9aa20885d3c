"""The catalogue's rules, free of HTTP: services, each council's subscription, the status
machine of the contract with its immutable history, and the waves' target dates.

Bulk work (a group of councils, a whole wave) is in `catalogue.bulk`; the CSV matrix in
`catalogue.matrix`; the stalled-rollout alerts in `catalogue.jobs`.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts import audit
from accounts.models import User
from agreements.models import Council
from catalogue import evidence as files
from catalogue.models import (
    MOVES,
    PROVIDERS,
    SERVICE_CATEGORIES,
    STATUSES,
    TICKET_CATEGORIES,
    WAVES,
    CouncilService,
    Service,
    ServiceStatusChange,
    ServiceWave,
)
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from support.teams.models import Team

_INVALID = _l("Some fields are not valid.")
CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,15}")
LIMITS = {"name": 120, "name_ca": 120, "name_es": 120, "name_en": 120, "description": 5000,
          "documentation_url": 500, "contact": 200, "notes": 5000, "evidence_url": 500, "reason": 1000}
SERVICE_FIELDS = ("code", "name", "name_ca", "name_es", "name_en", "description", "provider", "category",
                  "documentation_url", "ticket_category", "default_team_id", "active")
SUBSCRIPTION_FIELDS = ("wave", "planned_on", "live_on", "technician_id", "contact", "notes", "evidence_url",
                       "next_review_on")
MIN_DATE, MAX_DATE = dt.date(1990, 1, 1), dt.date(2200, 12, 31)
MAX_ID = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def office_today() -> dt.date:
    """Today in the office's time zone: `live_on` is the office's date, not the server's."""
    return dt.datetime.now(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()


# --- field cleaning: shared by the API, the forms and the CSV import --------------------------

def _text(values: dict, errors: dict, name: str, *, required: bool = False, one_line: bool = True):
    value = values.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = _l("Must be text.")
        return
    if _CONTROL.search(value):
        errors[name] = _l("Contains control characters.")
        return
    value = " ".join(value.split()) if one_line else value.replace("\r\n", "\n").strip()
    if required and not value:
        errors[name] = _l("This field is required.")
    elif len(value) > LIMITS[name]:
        errors[name] = _l("Too long: at most %(n)d characters.", n=LIMITS[name])
    else:
        values[name] = value


def _url(values: dict, errors: dict, name: str):
    _text(values, errors, name)
    value = values.get(name) or ""
    # Only web links: a javascript: or data: link would run in whoever clicks it.
    if name not in errors and value and not re.match(r"https?://[^\s/]+", value, re.IGNORECASE):
        errors[name] = _l("Must be a web address starting with http:// or https://.")


def _choice(values: dict, errors: dict, name: str, allowed: tuple[str, ...], *, nullable: bool = False):
    value = values.get(name)
    if value in (None, "") and nullable:
        values[name] = None
    elif value not in allowed:
        errors[name] = _l("Not one of the allowed values.")


def _date(values: dict, errors: dict, name: str):
    value = values.get(name)
    if value is None:
        return
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        errors[name] = _l("Must be a date (YYYY-MM-DD).")
    elif not MIN_DATE <= value <= MAX_DATE:
        errors[name] = _l("Out of range.")


def clean_service(values: dict, *, creating: bool) -> dict:
    values = {k: v for k, v in values.items() if k in SERVICE_FIELDS}
    errors: dict = {}
    if creating or "code" in values:
        code = values.get("code")
        if not isinstance(code, str) or not code.strip():
            errors["code"] = _l("This field is required.")
        else:
            code = code.strip().upper()
            if not CODE_PATTERN.fullmatch(code):
                errors["code"] = _l("1 to 16 letters A–Z, digits, - or _.")
            values["code"] = code
    if creating or "name" in values:
        _text(values, errors, "name", required=True)
    for name in ("name_ca", "name_es", "name_en"):
        if name in values:
            _text(values, errors, name)
    if "description" in values:
        _text(values, errors, "description", one_line=False)
    if "documentation_url" in values:
        _url(values, errors, "documentation_url")
    if "provider" in values or creating:
        values.setdefault("provider", "comarca")
        _choice(values, errors, "provider", PROVIDERS)
    if "category" in values or creating:
        values.setdefault("category", "other")
        _choice(values, errors, "category", SERVICE_CATEGORIES)
    if "ticket_category" in values:
        _choice(values, errors, "ticket_category", TICKET_CATEGORIES, nullable=True)
    if "default_team_id" in values and values["default_team_id"] is not None:
        team = values["default_team_id"]
        if not isinstance(team, int) or isinstance(team, bool) or not 1 <= team <= MAX_ID:
            errors["default_team_id"] = _l("Must be an integer.")
        elif db.session.get(Team, team) is None:
            errors["default_team_id"] = _l("Unknown team.")
    if "active" in values and not isinstance(values["active"], bool):
        errors["active"] = _l("Must be true or false.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return values


# --- services -----------------------------------------------------------------------------

def service_query(*, active: bool | None = None, q: str | None = None):
    stmt = select(Service)
    if active is not None:
        stmt = stmt.where(Service.active.is_(active))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(func.lower(Service.code).like(like) | func.lower(Service.name).like(like)
                          | func.lower(Service.name_ca).like(like) | func.lower(Service.name_es).like(like))
    return stmt


def all_services(*, active: bool | None = None) -> list[Service]:
    return list(db.session.scalars(service_query(active=active).order_by(Service.code)))


def get_service(service_id: int) -> Service:
    if not isinstance(service_id, int) or not 1 <= service_id <= MAX_ID:
        raise NotFound()
    service = db.session.scalar(select(Service).where(Service.id == service_id))
    if service is None:
        raise NotFound()
    return service


def _code_taken(code: str, exclude: int | None = None) -> bool:
    stmt = select(Service.id).where(Service.code == code)
    if exclude is not None:
        stmt = stmt.where(Service.id != exclude)
    return db.session.execute(stmt).first() is not None


def _duplicate_code() -> Conflict:
    return Conflict(_l("Another service already has this code."), code="duplicate_code",
                    fields={"code": _l("Another service already has this code.")})


def create_service(values: dict, *, actor: User | None) -> Service:
    values = clean_service(values, creating=True)
    if _code_taken(values["code"]):
        raise _duplicate_code()
    service = Service(**values)
    db.session.add(service)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent create took the code between the check and here
        db.session.rollback()
        raise _duplicate_code() from None
    audit.record("service.create", object_type="service", object_id=service.id, actor=actor,
                 label=service.code, changes=audit.snapshot(service, SERVICE_FIELDS))
    db.session.commit()
    return service


def update_service(service: Service, values: dict, *, actor: User | None) -> Service:
    if "code" in values and str(values["code"] or "").strip().upper() != service.code:
        raise ValidationFailed(_INVALID, fields={"code": _l("The code cannot change.")})
    values = clean_service({k: v for k, v in values.items() if k != "code"}, creating=False)
    before = audit.snapshot(service, SERVICE_FIELDS)
    for key, value in values.items():
        setattr(service, key, value)
    changes = audit.diff(before, audit.snapshot(service, SERVICE_FIELDS))
    if changes:
        audit.record("service.update", object_type="service", object_id=service.id, actor=actor,
                     label=service.code, changes=changes)
    db.session.commit()
    return service


def wave_targets(service: Service) -> dict[str, ServiceWave]:
    rows = db.session.scalars(select(ServiceWave).where(ServiceWave.service_id == service.id))
    return {row.wave: row for row in rows}


def set_wave_target(service: Service, wave: str, target_on: dt.date | None, *, actor: User | None,
                    notes: str = "") -> ServiceWave:
    values = {"target_on": target_on, "notes": notes}
    errors: dict = {}
    if wave not in WAVES:
        errors["wave"] = _l("Not one of the allowed values.")
    _date(values, errors, "target_on")
    _text(values, errors, "notes", one_line=False)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    row = wave_targets(service).get(wave)
    if row is None:
        row = ServiceWave(service_id=service.id, wave=wave)
        db.session.add(row)
    before = (row.target_on, row.notes)
    row.target_on, row.notes = values["target_on"], values["notes"]
    if before != (row.target_on, row.notes):
        audit.record("service.wave_target", object_type="service", object_id=service.id, actor=actor,
                     label=service.code,
                     # The wave as a value, not in the label: the log shows it in the reader's language.
                     changes={"wave": wave, "target_on": [_iso(before[0]), _iso(row.target_on)]})
    db.session.commit()
    return row


def _iso(value):
    return value.isoformat() if value else None


# --- subscriptions --------------------------------------------------------------------------

def council_services_query(council_id: int):
    return select(CouncilService).where(CouncilService.council_id == council_id)


def subscriptions_of(council: Council, *, status: str | None = None) -> list[CouncilService]:
    stmt = council_services_query(council.id).join(CouncilService.service)
    if status is not None:
        stmt = stmt.where(CouncilService.status == status)
    return list(db.session.scalars(stmt.order_by(Service.code)))


def find_subscription(council_id: int, service_id: int) -> CouncilService | None:
    return db.session.scalar(select(CouncilService).where(CouncilService.council_id == council_id,
                                                          CouncilService.service_id == service_id))


def get_subscription(council_id: int, service_id: int) -> CouncilService:
    sub = find_subscription(council_id, service_id)
    if sub is None:
        raise NotFound()
    return sub


def _check_technician(values: dict, errors: dict) -> None:
    tid = values.get("technician_id")
    if tid is None:
        return
    if not isinstance(tid, int) or isinstance(tid, bool) or not 1 <= tid <= MAX_ID:
        errors["technician_id"] = _l("Must be an integer.")
        return
    user = db.session.scalar(select(User).where(User.id == tid))
    if user is None or not user.active or user.role == "clerk":
        errors["technician_id"] = _l("Not a member of the office's staff.")


def clean_subscription(values: dict) -> dict:
    values = {k: v for k, v in values.items() if k in SUBSCRIPTION_FIELDS or k in ("status", "reason")}
    errors: dict = {}
    if "wave" in values:
        _choice(values, errors, "wave", WAVES)
    if "status" in values:
        _choice(values, errors, "status", STATUSES)
    for name in ("planned_on", "live_on", "next_review_on"):
        _date(values, errors, name)
    for name in ("contact", "reason"):
        if name in values:
            _text(values, errors, name)
    if "notes" in values:
        _text(values, errors, "notes", one_line=False)
    if "evidence_url" in values:
        _url(values, errors, "evidence_url")
    _check_technician(values, errors)
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    return values


def invalid_move(current: str, target: str) -> Conflict:
    return Conflict(_l("A service cannot go from %(a)s to %(b)s.", a=status_label(current), b=status_label(target)),
                    code="invalid_status_move",
                    fields={"status": _l("Allowed from here: %(s)s.",
                                         s=", ".join(str(status_label(s)) for s in MOVES[current]) or "—")})


def status_label(status: str):
    return {"planned": _l("planned"), "deploying": _l("deploying"), "live": _l("live"),
            "retired": _l("retired")}.get(status, status)


def wave_label(wave: str):
    return {"pilot": _l("pilot"), "extension": _l("extension"), "consolidation": _l("consolidation")}.get(wave, wave)


def _record_change(sub: CouncilService, from_status: str | None, to_status: str, actor: User | None,
                   reason: str, now: dt.datetime) -> None:
    db.session.add(ServiceStatusChange(council_id=sub.council_id, council_service_id=sub.id, at=now,
                                       from_status=from_status, to_status=to_status,
                                       user_id=actor.id if actor is not None else None, reason=reason or ""))


def _apply_status(sub: CouncilService, target: str, *, live_on: dt.date | None, actor: User | None,
                  reason: str, now: dt.datetime) -> None:
    """Move `sub` to `target` (already checked), with its history entry."""
    previous = sub.status
    sub.status = target
    sub.status_since = now
    if target == "live":
        sub.live_on = live_on or office_today()
    _record_change(sub, previous, target, actor, reason, now)


def _check_evidence(evidence: tuple[str, bytes] | None, values: dict) -> tuple:
    """(detected, bytes) of an evidence file, cleaning `values` too: the errors of both come
    back together, so one submit shows every problem."""
    detected = file_error = None
    if evidence is not None:
        try:
            detected = files.check(*evidence)
        except ValidationFailed as exc:
            file_error = exc
    try:
        values = clean_subscription(values)
    except ValidationFailed as exc:
        exc.fields.update(file_error.fields if file_error else {})
        raise
    if file_error is not None:
        raise file_error
    return values, (detected, evidence[1]) if detected else None


def put_subscription(council: Council, service: Service, values: dict, *, actor: User | None,
                     now: dt.datetime | None = None, evidence: tuple[str, bytes] | None = None,
                     drop_evidence: bool = False) -> tuple[CouncilService, bool]:
    """The contract's PUT: the first one creates the record at the given status (default
    `planned`); later ones change the fields sent, and the status only along `MOVES`.
    `evidence`: (file name, bytes) of a file to keep as evidence (replacing any), or
    `drop_evidence` to remove it. Returns the record and whether it was created."""
    values, upload = _check_evidence(evidence, values)
    now = now or dt.datetime.now(dt.UTC)
    reason = values.pop("reason", "") or ""
    target = values.pop("status", None)
    sub = find_subscription(council.id, service.id)
    created = sub is None
    if created:
        if not service.active:
            raise ValidationFailed(_INVALID, fields={"service_id": _l("This service is retired.")})
        sub = CouncilService(council_id=council.id, service_id=service.id, wave=values.pop("wave", "pilot"),
                             status=target or "planned", status_since=now, changed_at=now, created_at=now)
        for key, value in values.items():
            setattr(sub, key, value)
        if sub.status == "live" and sub.live_on is None:
            sub.live_on = office_today()
        db.session.add(sub)
        try:
            db.session.flush()
        except IntegrityError:  # another request subscribed the council at the same moment
            db.session.rollback()
            raise Conflict(_l("This council was subscribed meanwhile; reload and try again."),
                           code="conflict") from None
        # The record's first status is part of its story: "planned since" needs a who and when.
        _record_change(sub, None, sub.status, actor, reason, now)
        stored = files.attach(sub, *upload, now=now) if upload else None
        audit.record("service.subscribe", object_type="council_service", object_id=sub.id, actor=actor,
                     label=f"{service.code} · {council.name}", council_id=council.id,
                     changes={"status": [None, sub.status], "wave": [None, sub.wave]})
        files.commit(stored, None)
        return sub, True

    if target is not None and target != sub.status and target not in MOVES[sub.status]:
        raise invalid_move(sub.status, target)
    audited = ("status", *SUBSCRIPTION_FIELDS, "evidence_filename", "evidence_sha256")
    before = audit.snapshot(sub, audited)
    previous_file = sub.evidence_file
    for key, value in values.items():
        setattr(sub, key, value)
    if target is not None and target != sub.status:
        _apply_status(sub, target, live_on=values.get("live_on"), actor=actor, reason=reason, now=now)
    stored = None
    if upload:
        stored = files.attach(sub, *upload, now=now)
    elif drop_evidence:
        files.clear(sub)
    changes = audit.diff(before, audit.snapshot(sub, audited))
    if changes:
        sub.changed_at = now
        audit.record("service.update_subscription", object_type="council_service", object_id=sub.id,
                     actor=actor, label=f"{service.code} · {council.name}", council_id=council.id, changes=changes)
    files.commit(stored, previous_file if sub.evidence_file != previous_file else None)
    return sub, False


def move_status(sub: CouncilService, target: str, *, actor: User | None, reason: str = "",
                now: dt.datetime | None = None, commit: bool = True) -> CouncilService:
    """One status move (bulk moves call this per council, committing once)."""
    if target not in STATUSES:
        raise ValidationFailed(_INVALID, fields={"status": _l("Not one of the allowed values.")})
    if target == sub.status:
        return sub
    if target not in MOVES[sub.status]:
        raise invalid_move(sub.status, target)
    now = now or dt.datetime.now(dt.UTC)
    previous = sub.status
    _apply_status(sub, target, live_on=None, actor=actor, reason=reason, now=now)
    sub.changed_at = now
    audit.record("service.move", object_type="council_service", object_id=sub.id, actor=actor,
                 label=f"{sub.service.code} · {sub.council.name}", council_id=sub.council_id,
                 changes={"status": [previous, target]})
    if commit:
        db.session.commit()
    return sub


def history(sub: CouncilService) -> list[ServiceStatusChange]:
    # Oldest first; the id breaks ties between changes made in the same instant.
    return list(db.session.scalars(select(ServiceStatusChange)
                                   .where(ServiceStatusChange.council_service_id == sub.id)
                                   .order_by(ServiceStatusChange.at, ServiceStatusChange.id)))


def rollout(service: Service) -> dict:
    rows = list(db.session.scalars(
        select(CouncilService).join(CouncilService.council)
        .where(CouncilService.service_id == service.id).order_by(Council.name, CouncilService.id)))
    counts = dict.fromkeys(STATUSES, 0)
    for row in rows:
        counts[row.status] += 1
    return {"service_id": service.id, "councils": rows, "counts": counts}


def live_services(council_id: int) -> list[Service]:
    """The services live in a council (the clerk's portal, the new request, the public page)."""
    return list(db.session.scalars(
        select(Service).join(CouncilService, CouncilService.service_id == Service.id)
        .where(CouncilService.council_id == council_id, CouncilService.status == "live")
        .order_by(Service.code)))


def check_service_id(value, errors: dict, field: str = "service_id") -> Service | None:
    """The service a ticket or time entry names, or None; an unknown one is a field error."""
    if value is None:
        return None
    service = None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID:
        service = db.session.scalar(select(Service).where(Service.id == value))
    if service is None:
        errors[field] = _l("Unknown service.")
    return service


def offered_service(council_id: int, service_id: int | None) -> Service | None:
    """The service a new request of this council starts from, if the council has it (deploying
    or live); anything else (unknown, another council's only, retired) is ignored."""
    if not service_id or not 1 <= service_id <= MAX_ID:
        return None
    sub = find_subscription(council_id, service_id)
    return sub.service if sub is not None and sub.status in ("deploying", "live") else None
