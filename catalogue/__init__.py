"""The shared-service catalogue: which services each council has, in which rollout wave, since
when, who answers for it, and the hours the services take (issue 18)."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.access import STAFF
from core.file_forms import allow_large_bodies
from core.ui import NavItem, register_nav


def init_app(app: Flask) -> None:
    from catalogue import api, audit_labels, hours, jobs, services, views
    from catalogue.models import Service
    from core.access import register_path_object

    audit_labels.register()
    register_path_object("service_id", Service)
    app.register_blueprint(views.bp)
    allow_large_bodies(app, *views.FILE_FORM_ENDPOINTS)
    app.register_blueprint(api.bp)
    jobs.register_kinds()
    jobs.register_jobs()
    app.jinja_env.globals.update(catalogue_service_hours=hours.service_hours_rows,
                                 catalogue_live_services=services.live_services)
    register_nav(app, NavItem("catalogue.index", _l("Services"), frozenset(STAFF), "diagram-3", 50, key="catalogue"),
                 NavItem("catalogue.matrix_page", _l("Councils × services"), frozenset(STAFF), "grid-3x3", 51,
                         menu="catalogue"),
                 NavItem("catalogue.portal", _l("Our services"), frozenset({"clerk"}), "diagram-3", 50))
