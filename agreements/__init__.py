"""Councils, allowance bands, agreements and months."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.ui import NavItem, register_nav


def _council_by_slug(slug):
    from sqlalchemy import select

    from agreements.models import Council
    from extensions import db

    return db.session.execute(select(Council.id).where(Council.slug == slug)).first()


def init_app(app: Flask) -> None:
    from agreements import api, audit_labels, views
    from agreements.models import Agreement, Council
    from core.access import register_path_object

    audit_labels.register()
    register_path_object("council_id", Council)
    register_path_object("agreement_id", Agreement)
    register_path_object("slug", lookup=_council_by_slug)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    register_nav(
        app,
        NavItem("agreements.councils", _l("Councils"), frozenset({"admin", "manager", "technician"}),
                "buildings", 20, key="councils"),
        NavItem("agreements.councils", _l("My council"), frozenset({"clerk"}), "building", 20, key="councils"),
        NavItem("agreements.bands", _l("Allowance bands"), frozenset({"admin", "manager"}), "sliders", 800, menu="manage"),
        NavItem("agreements.months", _l("Month close"), frozenset({"admin", "manager"}), "lock", 810, menu="manage"),
    )
