"""Teams, their members and categories, and absences of office staff."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db import UTCDateTime, utcnow
from extensions import db

ASSIGNMENTS = ("none", "round_robin", "least_open")


class Team(db.Model):
    """A group of the office that owns some ticket categories (Xarxes: network).

    `last_assignee_id` is the member who got the team's last automatic assignment: round
    robin goes on after them, in the members' order.
    """

    __tablename__ = "teams"
    __table_args__ = (CheckConstraint("assignment IN ('none', 'round_robin', 'least_open')",
                                      name="assignment_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    assignment: Mapped[str] = mapped_column(String(16), default="none")
    last_assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(order_by="TeamMember.position", cascade="all, delete-orphan",
                                                     lazy="selectin")
    categories: Mapped[list[TeamCategory]] = relationship(order_by="TeamCategory.category",
                                                          cascade="all, delete-orphan", lazy="selectin")

    @property
    def member_ids(self) -> list[int]:
        return [m.user_id for m in self.members]

    @property
    def category_names(self) -> list[str]:
        return [c.category for c in self.categories]


class TeamMember(db.Model):
    __tablename__ = "team_members"
    __table_args__ = (PrimaryKeyConstraint("team_id", "user_id"),
                      Index("ix_team_members_user", "user_id"))

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The order of `member_ids`: round robin and least-open ties follow it.
    position: Mapped[int] = mapped_column(Integer)

    user: Mapped[User] = relationship(lazy="selectin")


class TeamCategory(db.Model):
    """A ticket category owned by a team: the primary key makes "at most one team" a fact."""

    __tablename__ = "team_categories"
    __table_args__ = (Index("ix_team_categories_team", "team_id"),)

    category: Mapped[str] = mapped_column(String(24), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))


class Absence(db.Model):
    """Days (inclusive, office-local dates) a member of staff is away: holidays, training,
    sick leave. Routing skips them and their open tickets are shown to the team's managers."""

    __tablename__ = "absences"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ordered"),
                      Index("ix_absences_user_days", "user_id", "starts_on", "ends_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="selectin")
