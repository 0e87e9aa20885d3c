"""The audit log's words for reports and transparency pages (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.audit_labels import register_actions, register_object


def register() -> None:
    register_actions({"publish": _l("Published"), "unpublish": _l("Unpublished")})
    register_object("report", _l("Report"))
    register_object("transparency_page", _l("Transparency page"), fields={"enabled": _l("Published")})
