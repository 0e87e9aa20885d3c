"""The support domain's two blueprints, shared by its rooms: the pages (`support`) and the API
(`support_api`). support.hours and support.tickets add their routes to them, so endpoint names
(`support.dashboard`, `support.ticket`, `support_api.create_ticket`...) and URLs stay one set.

Nothing here imports the rooms: their views and API import this module, and support.init_app
imports them before it registers the blueprints.
"""

from __future__ import annotations

from flask import Blueprint

from core.api import api_blueprint

bp = Blueprint("support", __name__)
api_bp = api_blueprint("support_api", __name__)
