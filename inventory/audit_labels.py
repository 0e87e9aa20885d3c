"""The audit log's words for assets (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.audit_labels import register_object
from inventory.labels import field_labels, kind_labels, media_labels, status_labels


def _asset_name(asset_id) -> str:
    from extensions import db
    from inventory.models import Asset

    asset = db.session.get(Asset, int(asset_id))
    return f"{asset.tag} · {asset.name}" if asset is not None else f"#{asset_id}"


def register() -> None:
    register_object("asset", _l("Asset"), fields=field_labels(), formats={
        "kind": kind_labels, "status": status_labels, "media": media_labels, "purchased_on": "date",
        "warranty_until": "date", "expires_on": "date", "seats": "number"})
    register_object(None, fields={"asset_id": _l("Equipment")}, formats={"asset_id": _asset_name})
