"""What expires: certificates, licences and domains to renew, and warranties ending, counted
from today in the office's time zone. The reminders that mail about them are inventory.jobs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select

from extensions import db
from inventory.models import Asset

EXPIRING_DAYS = 90


def office_today() -> dt.date:
    """Today's date in the office's time zone (what "expires in 7 days" is counted from)."""
    return dt.datetime.now(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()


@dataclass(frozen=True)
class ExpiryItem:
    asset: Asset
    field: str  # "expires_on" or "warranty_until"
    date: dt.date
    days: int  # negative once past


def expiry_items(today: dt.date, *, days: int = EXPIRING_DAYS, council_id: int | None = None) -> list[ExpiryItem]:
    """What expires within `days`, and what has already expired, sorted by date.

    Expired certificates, licences and domains stay listed however old they are: each needs
    renewing or retiring. An expired warranty needs no action, so it is listed only for the
    `days` after it ended, as a last chance to extend it; after that it is just a fact about
    an old PC.
    """
    horizon = today + dt.timedelta(days=days)
    warranty_floor = today - dt.timedelta(days=days)
    stmt = select(Asset).where(
        Asset.status != "retired",
        or_(Asset.expires_on <= horizon, Asset.warranty_until.between(warranty_floor, horizon)))
    if council_id is not None:
        stmt = stmt.where(Asset.council_id == council_id)
    items = []
    for asset in db.session.scalars(stmt):
        if asset.expires_on is not None and asset.expires_on <= horizon:
            items.append(ExpiryItem(asset, "expires_on", asset.expires_on, (asset.expires_on - today).days))
        if asset.warranty_until is not None and warranty_floor <= asset.warranty_until <= horizon:
            items.append(ExpiryItem(asset, "warranty_until", asset.warranty_until,
                                    (asset.warranty_until - today).days))
    items.sort(key=lambda i: (i.date, i.asset.council.name, i.asset.tag))
    return items
