"""Asset inventory: equipment, certificates, licences and domains of each council."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.access import ALL_ROLES, STAFF
from core.ui import NavItem, register_nav


def init_app(app: Flask) -> None:
    from inventory import api, audit_labels, jobs, views
    from inventory.cli import inventory_cli

    audit_labels.register()
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.cli.add_command(inventory_cli)
    jobs.register_kinds()
    register_nav(app, NavItem("inventory.assets", _l("Inventory"), frozenset(ALL_ROLES), "pc-display", 40, key="inventory"),
                 NavItem("inventory.expiring", _l("Expiring"), frozenset(STAFF), "hourglass-split", 45, menu="inventory"))
