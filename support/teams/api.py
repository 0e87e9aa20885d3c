"""Teams and absences in the API (OpenAPI tag "teams"), as in docs/api-contract.md,
"Teams and routing". Routes go on support.blueprint.api_bp."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask_login import current_user
from pydantic import Field

from core.access import MANAGERS, STAFF, allow
from core.api import ApiModel, OutModel, PageResult, omittable, operation, page_of
from support.blueprint import api_bp as bp
from support.teams import services

Assignment = Literal["none", "round_robin", "least_open"]
Category = Literal["hardware", "software", "network", "e_administration", "transparency_portal", "accounts", "other"]

class TeamOut(OutModel):
    id: int
    name: str
    member_ids: list[int] = Field(description="In routing order.")
    categories: list[str]
    assignment: Assignment

def _team_out(team) -> dict:
    return {"id": team.id, "name": team.name, "member_ids": team.member_ids, "categories": team.category_names,
            "assignment": team.assignment}

class TeamIn(ApiModel):
    name: str = Field(min_length=1, max_length=services.NAME_MAX)
    member_ids: list[int] = Field(default_factory=list, max_length=200,
                                  description="Technicians, managers or admins (a clerk → 422), in routing order.")
    categories: list[Category] = Field(default_factory=list, max_length=20,
                                       description="A category belongs to at most one team (409 `category_taken`).")
    assignment: Assignment = Field("none", description="`round_robin`: members in order, after the last one "
                                                       "who got a ticket of this team; `least_open`: fewest open "
                                                       "tickets across all teams, ties by order.")

class TeamPatch(ApiModel):
    name: str = omittable(min_length=1, max_length=services.NAME_MAX)
    member_ids: list[int] = omittable(max_length=200)
    categories: list[Category] = omittable(max_length=20)
    assignment: Assignment = omittable()

class AbsenceOut(OutModel):
    id: int
    user_id: int
    starts_on: dt.date
    ends_on: dt.date

class AbsenceIn(ApiModel):
    starts_on: dt.date
    ends_on: dt.date = Field(description="Inclusive; not before `starts_on`.")

def _actor():
    return current_user._get_current_object()

@bp.get("/teams")
@allow(*STAFF)
@operation("List teams", response=page_of(TeamOut), tags=["teams"])
def list_teams():
    return PageResult([_team_out(t) for t in services.list_teams()], None)

@bp.post("/teams")
@allow(*MANAGERS)
@operation("Create a team", body=TeamIn, response=TeamOut, status=201, errors=(409,), tags=["teams"])
def create_team(body: TeamIn):
    return _team_out(services.create_team(body.model_dump(), actor=_actor()))

@bp.get("/teams/<int:team_id>")
@allow(*STAFF)
@operation("Get a team", response=TeamOut, tags=["teams"])
def get_team(team_id: int):
    return _team_out(services.get_team(team_id))

@bp.patch("/teams/<int:team_id>")
@allow(*MANAGERS)
@operation("Change a team", body=TeamPatch, status=204, errors=(409,), tags=["teams"])
def patch_team(team_id: int, body: TeamPatch):
    values = {k: getattr(body, k) for k in body.model_fields_set}
    services.update_team(services.get_team(team_id), values, actor=_actor())

@bp.delete("/teams/<int:team_id>")
@allow(*MANAGERS)
@operation("Delete a team", status=204, tags=["teams"],
           description="Its tickets keep their assignee and lose the team.")
def delete_team(team_id: int):
    services.delete_team(services.get_team(team_id), actor=_actor())

@bp.get("/users/<int:user_id>/absences")
@allow(*STAFF)
@operation("A user's absences", response=page_of(AbsenceOut), tags=["teams"],
           description="Any member of staff reads anyone's; writing is for admins, managers and the user.")
def list_absences(user_id: int):
    return PageResult(services.list_absences(services.staff_member(user_id), actor=_actor()), None)

@bp.post("/users/<int:user_id>/absences")
@allow(*STAFF)
@operation("Record an absence", body=AbsenceIn, response=AbsenceOut, status=201, tags=["teams"],
           description="Dates are office-local and inclusive; absent members are skipped by routing.")
def create_absence(user_id: int, body: AbsenceIn):
    return services.add_absence(services.staff_member(user_id), body.starts_on, body.ends_on, actor=_actor())

@bp.delete("/users/<int:user_id>/absences/<int:absence_id>")
@allow(*STAFF)
@operation("Delete an absence", status=204, tags=["teams"])
def delete_absence(user_id: int, absence_id: int):
    user = services.staff_member(user_id)
    services.delete_absence(services.get_absence(user, absence_id), actor=_actor())
