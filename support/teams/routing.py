"""Who gets a new ticket: the team of its category, and, when that team assigns
automatically, the member its rule picks among those available that day.

Rules (docs/api-contract.md, "Teams and routing"):
- `round_robin`: members in `member_ids` order, after the last one who got an automatic
  assignment of this team; a new team starts with the first.
- `least_open`: the fewest open tickets assigned to the member across all teams (not
  resolved or closed); ties by `member_ids` order.
A member is available when active, of the office staff and not absent on the office-local
date of the ticket's creation. The reason is kept with the assignment in the ticket's history
("round robin in Xarxes; Marta absent"), because "why did I get this?" is the first question
a technician asks (lessons: record why each ticket went to whom).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from accounts.models import User
from extensions import db
from support.teams.models import Absence, Team, TeamCategory
from support.tickets.models import OPEN_STATUSES, Ticket

STAFF_ROLES = ("admin", "manager", "technician")


@dataclass
class Decision:
    team: Team | None
    assignee: User | None = None
    reason: dict | None = None


def office_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()


def absent_ids(user_ids, day: dt.date) -> set[int]:
    """Which of `user_ids` are absent on `day` (absence dates are inclusive)."""
    ids = list(user_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(Absence.user_id).where(
        Absence.user_id.in_(ids), Absence.starts_on <= day, Absence.ends_on >= day)))


def open_counts(user_ids) -> dict[int, int]:
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(Ticket.assignee_id, func.count()).where(
        Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.assignee_id))
    return {uid: int(n) for uid, n in rows}


def team_for_category(category: str, *, lock: bool = False) -> Team | None:
    stmt = select(Team).join(TeamCategory, TeamCategory.team_id == Team.id).where(TeamCategory.category == category)
    if lock:
        # Two tickets of one team at once would both read the same "last assignee": the row
        # lock (PostgreSQL; SQLite has one writer anyway) makes them take turns.
        stmt = stmt.with_for_update(of=Team)
    return db.session.scalar(stmt)


def choose(category: str, now: dt.datetime, *, team_id: int | None = None) -> Decision:
    """The team and assignee for a new ticket of `category` created at `now` (in the caller's
    transaction; moves the team's round-robin pointer when it assigns). `team_id`: a team the
    request names already (the default team of the service it is about), before its category's."""
    team = None
    if team_id is not None:
        team = db.session.scalar(select(Team).where(Team.id == team_id).with_for_update(of=Team))
    if team is None:
        team = team_for_category(category, lock=True)
    if team is None or team.assignment == "none" or not team.members:
        return Decision(team)
    members = [m.user for m in team.members]
    absent = absent_ids((u.id for u in members), office_date(now))

    def available(user: User) -> bool:
        return user.active and user.role in STAFF_ROLES and user.id not in absent

    skipped: list[User] = []
    chosen: User | None = None
    if team.assignment == "round_robin":
        ids = [u.id for u in members]
        start = ids.index(team.last_assignee_id) + 1 if team.last_assignee_id in ids else 0
        for user in members[start:] + members[:start]:
            if available(user):
                chosen = user
                break
            skipped.append(user)
    else:
        counts = open_counts(u.id for u in members)
        candidates = [u for u in members if available(u)]
        skipped = [u for u in members if not available(u)]
        if candidates:
            chosen = min(candidates, key=lambda u: (counts.get(u.id, 0), members.index(u)))
    reason = {"rule": team.assignment, "team": team.name,
              "skipped": [u.name for u in skipped if u.id in absent],
              "inactive": [u.name for u in skipped if u.id not in absent]}
    if chosen is None:
        return Decision(team, None, reason)
    team.last_assignee_id = chosen.id
    return Decision(team, chosen, reason)


def describe(reason: dict | None) -> str:
    """The history's words for an automatic assignment, in the reader's language."""
    if not reason:
        return ""
    team = reason.get("team", "")
    if reason.get("rule") == "round_robin":
        text = _("round robin in %(team)s", team=team)
    elif reason.get("rule") == "least_open":
        text = _("fewest open tickets in %(team)s", team=team)
    else:
        text = team
    for name in reason.get("skipped") or ():
        text += "; " + _("%(name)s absent", name=name)
    for name in reason.get("inactive") or ():
        text += "; " + _("%(name)s not available", name=name)
    return text


def get_team_or_none(team_id) -> Team | None:
    if isinstance(team_id, bool) or not isinstance(team_id, int) or not 1 <= team_id <= 2**31 - 1:
        return None
    return db.session.scalar(select(Team).where(Team.id == team_id))
