"""Teams and absences: the rules (plain arguments in, domain errors out, no HTTP)."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from accounts import audit
from accounts.models import User
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from extensions import db
from support.teams.models import ASSIGNMENTS, Absence, Team, TeamCategory, TeamMember
from support.teams.routing import STAFF_ROLES, absent_ids, office_date
from support.tickets.models import CATEGORIES, OPEN_STATUSES, Ticket

NAME_MAX = 80
MANAGER_ROLES = ("admin", "manager")
_INVALID = _l("Some fields are not valid.")


def _valid_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


# --- teams ----------------------------------------------------------------------------------------

def list_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name, Team.id)))


def get_team(team_id) -> Team:
    team = db.session.scalar(select(Team).where(Team.id == team_id)) if _valid_id(team_id) else None
    if team is None:
        raise NotFound()
    return team


def _check_values(values: dict, team: Team | None) -> dict:
    """The checked values of a create (all keys) or a PATCH (the keys present)."""
    errors: dict[str, object] = {}
    out: dict = {}
    if team is None or "name" in values:
        name = values.get("name")
        name = " ".join(name.split()) if isinstance(name, str) else ""
        if not name:
            errors["name"] = _l("Give the team a name.")
        elif len(name) > NAME_MAX:
            errors["name"] = _l("Too long: at most %(n)d characters.", n=NAME_MAX)
        out["name"] = name
    if team is None or "assignment" in values:
        assignment = values.get("assignment", "none")
        if assignment not in ASSIGNMENTS:
            errors["assignment"] = _l("Not one of the allowed values.")
        out["assignment"] = assignment
    if team is None or "member_ids" in values:
        ids = values.get("member_ids") or []
        if not isinstance(ids, list) or not all(_valid_id(i) for i in ids) or len(set(ids)) != len(ids):
            errors["member_ids"] = _l("A list of distinct user ids.")
        else:
            users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
            if any(i not in users or users[i].role not in STAFF_ROLES for i in ids):
                errors["member_ids"] = _l("Members are technicians, managers or administrators.")
        out["member_ids"] = ids
    if team is None or "categories" in values:
        categories = values.get("categories") or []
        if not isinstance(categories, list) or any(c not in CATEGORIES for c in categories) \
                or len(set(categories)) != len(categories):
            errors["categories"] = _l("Not one of the allowed values.")
        out["categories"] = categories
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    if "name" in out:
        clash = select(Team.id).where(func.lower(Team.name) == out["name"].lower())
        if team is not None:
            clash = clash.where(Team.id != team.id)
        if db.session.scalar(clash) is not None:
            raise Conflict(_l("There is already a team with this name."), code="duplicate_name",
                           fields={"name": _l("There is already a team with this name.")})
    if out.get("categories"):
        taken = select(TeamCategory.category).where(TeamCategory.category.in_(out["categories"]))
        if team is not None:
            taken = taken.where(TeamCategory.team_id != team.id)
        if db.session.scalar(taken) is not None:
            raise Conflict(_l("A category belongs to one team only; another team already has it."),
                           code="category_taken",
                           fields={"categories": _l("A category belongs to one team only; another team already has it.")})
    return out


def _apply(team: Team, out: dict) -> None:
    if "name" in out:
        team.name = out["name"]
    if "assignment" in out:
        team.assignment = out["assignment"]
    if "member_ids" in out:
        team.members = [TeamMember(user_id=uid, position=i) for i, uid in enumerate(out["member_ids"])]
    if "categories" in out:
        db.session.execute(delete(TeamCategory).where(TeamCategory.team_id == team.id))
        db.session.expire(team, ["categories"])
        db.session.flush()
        for category in out["categories"]:
            db.session.add(TeamCategory(category=category, team_id=team.id))


def _snapshot(team: Team) -> dict:
    return {"name": team.name, "assignment": team.assignment, "member_ids": team.member_ids,
            "categories": team.category_names}


def create_team(values: dict, *, actor: User | None) -> Team:
    out = _check_values(values, None)
    team = Team(name=out["name"], assignment=out["assignment"], created_at=utcnow())
    db.session.add(team)
    db.session.flush()
    _apply(team, out)
    db.session.flush()
    db.session.refresh(team)
    audit.record("create", object_type="team", object_id=team.id, actor=actor, label=team.name,
                 changes=audit.diff({}, _snapshot(team)))
    db.session.commit()
    return team


def update_team(team: Team, values: dict, *, actor: User | None) -> Team:
    before = _snapshot(team)
    out = _check_values(values, team)
    _apply(team, out)
    db.session.flush()
    db.session.refresh(team)
    if before["member_ids"] != team.member_ids and team.last_assignee_id not in team.member_ids:
        team.last_assignee_id = None
    audit.record("update", object_type="team", object_id=team.id, actor=actor, label=team.name,
                 changes=audit.diff(before, _snapshot(team)))
    db.session.commit()
    return team


def delete_team(team: Team, *, actor: User | None) -> None:
    # Its tickets keep their assignee and lose the team (the contract); said here rather
    # than left to ON DELETE SET NULL so that it does not depend on the database's settings.
    db.session.execute(update(Ticket).where(Ticket.team_id == team.id).values(team_id=None)
                       .execution_options(synchronize_session=False))
    audit.record("delete", object_type="team", object_id=team.id, actor=actor, label=team.name,
                 changes=audit.diff(_snapshot(team), {}))
    db.session.delete(team)
    db.session.commit()


def queue_counts(team: Team, user: User) -> dict[str, int]:
    """Open tickets of the team per queue: unassigned, mine, the whole team, waiting on the council."""
    base = select(func.count()).select_from(Ticket).where(Ticket.team_id == team.id)
    open_ = base.where(Ticket.status.in_(OPEN_STATUSES))
    return {
        "unassigned": db.session.scalar(open_.where(Ticket.assignee_id.is_(None))) or 0,
        "mine": db.session.scalar(open_.where(Ticket.assignee_id == user.id)) or 0,
        "team": db.session.scalar(open_) or 0,
        "waiting": db.session.scalar(base.where(Ticket.status == "waiting_council")) or 0,
    }


QUEUES = ("unassigned", "mine", "team", "waiting")


def queue_query(team: Team, queue: str, user: User):
    stmt = select(Ticket).where(Ticket.team_id == team.id)
    if queue == "waiting":
        return stmt.where(Ticket.status == "waiting_council")
    stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
    if queue == "unassigned":
        return stmt.where(Ticket.assignee_id.is_(None))
    if queue == "mine":
        return stmt.where(Ticket.assignee_id == user.id)
    return stmt


def absent_members_tickets(team: Team, today: dt.date) -> list[Ticket]:
    """Open tickets assigned to members of the team who are absent today (any team's)."""
    away = absent_ids(team.member_ids, today)
    if not away:
        return []
    return list(db.session.scalars(select(Ticket).where(Ticket.assignee_id.in_(away),
                                                        Ticket.status.in_(OPEN_STATUSES))
                                   .order_by(Ticket.queue_at, Ticket.id)))


# --- absences ---------------------------------------------------------------------------------------

def _may_manage_absences(actor: User, user: User) -> bool:
    return actor.role in MANAGER_ROLES or (actor.role in STAFF_ROLES and actor.id == user.id)


def staff_member(user_id) -> User:
    user = db.session.scalar(select(User).where(User.id == user_id)) if _valid_id(user_id) else None
    if user is None:
        raise NotFound()
    return user


def list_absences(user: User, *, actor: User) -> list[Absence]:
    """Any member of staff may read them: who is away is what a team plans around."""
    return list(db.session.scalars(select(Absence).where(Absence.user_id == user.id)
                                   .order_by(Absence.starts_on.desc(), Absence.id.desc())))


def add_absence(user: User, starts_on, ends_on, *, actor: User) -> Absence:
    if user.role not in STAFF_ROLES:
        raise ValidationFailed(_INVALID, fields={"user_id": _l("Absences are for the office's staff.")})
    if not _may_manage_absences(actor, user):
        raise PermissionDenied(_l("Only managers record other people's absences."))
    errors: dict[str, object] = {}
    if not isinstance(starts_on, dt.date):
        errors["starts_on"] = _l("Must be a date (YYYY-MM-DD).")
    if not isinstance(ends_on, dt.date):
        errors["ends_on"] = _l("Must be a date (YYYY-MM-DD).")
    elif isinstance(starts_on, dt.date) and ends_on < starts_on:
        errors["ends_on"] = _l("The last day cannot come before the first.")
    if errors:
        raise ValidationFailed(_INVALID, fields=errors)
    absence = Absence(user_id=user.id, starts_on=starts_on, ends_on=ends_on, created_by_id=actor.id,
                      created_at=utcnow())
    db.session.add(absence)
    db.session.flush()
    audit.record("create", object_type="absence", object_id=absence.id, actor=actor, label=user.name,
                 changes={"starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()})
    db.session.commit()
    return absence


def get_absence(user: User, absence_id) -> Absence:
    absence = db.session.scalar(select(Absence).where(Absence.id == absence_id, Absence.user_id == user.id)) \
        if _valid_id(absence_id) else None
    if absence is None:
        raise NotFound()
    return absence


def delete_absence(absence: Absence, *, actor: User) -> None:
    if not _may_manage_absences(actor, absence.user):
        raise PermissionDenied()
    audit.record("delete", object_type="absence", object_id=absence.id, actor=actor, label=absence.user.name,
                 changes={"starts_on": absence.starts_on.isoformat(), "ends_on": absence.ends_on.isoformat()})
    db.session.delete(absence)
    db.session.commit()


def is_absent(user_id: int, instant: dt.datetime) -> bool:
    return user_id in absent_ids([user_id], office_date(instant))
