from __future__ import annotations

from flask_login import current_user
from pydantic import Field

from core.access import ALL_ROLES, allow
from core.api import OutModel, api_blueprint, operation

bp = api_blueprint("accounts_api", __name__)


class MeOut(OutModel):
    id: int
    email: str
    name: str
    role: str = Field(description="admin, manager, technician or clerk")
    council_id: int | None
    preferred_language: str | None


@bp.get("/me")
@allow(*ALL_ROLES)
@operation("The user the token belongs to", response=MeOut, tags=["accounts"])
def me():
    return current_user._get_current_object()
