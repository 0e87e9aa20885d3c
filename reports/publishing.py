"""The councils' transparency pages: a council's choice to publish (audited), and the figures
it publishes: its agreement, the hours it had and used, and the tickets and how many met the
SLA. Counts and minutes only.

Hours come from support's usage functions, as in every report (see `reports.consumption`).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts import audit
from accounts.models import User
from agreements.models import Agreement, Council
from agreements.months import format_month, month_start
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from extensions import db
from reports.consumption import totals_of, year_months
from reports.models import ReportPublication
from support.hours import figures as hours

# --- publication ------------------------------------------------------------------------------

def publication_of(council_id: int) -> ReportPublication | None:
    return db.session.scalar(select(ReportPublication).where(ReportPublication.council_id == council_id))


def is_published(council_id: int) -> bool:
    row = publication_of(council_id)
    return bool(row is not None and row.enabled)


def published_ids() -> set[int]:
    return set(db.session.scalars(select(ReportPublication.council_id).where(ReportPublication.enabled.is_(True))))


def set_publication(council: Council, enabled: bool, *, actor: User | None) -> ReportPublication:
    """Switch a council's transparency page on or off (audited)."""
    if not isinstance(enabled, bool):
        raise ValidationFailed(_l("Some fields are not valid."), fields={"enabled": _l("Must be true or false.")})
    row = publication_of(council.id)
    before = bool(row is not None and row.enabled)
    if row is None:
        row = ReportPublication(council_id=council.id, enabled=enabled, changed_at=utcnow(),
                                changed_by_id=actor.id if actor is not None else None)
        db.session.add(row)
    elif before != enabled:
        row.enabled = enabled
        row.changed_at = utcnow()
        row.changed_by_id = actor.id if actor is not None else None
    if before != enabled:
        audit.record("publish" if enabled else "unpublish", object_type="transparency_page", object_id=council.id,
                     actor=actor, label=council.name, council_id=council.id,
                     changes={"enabled": [before, enabled]})
    db.session.commit()
    return row


def published_council(slug: str) -> Council:
    """The council behind /public/<slug>, only while it publishes (otherwise not found, the
    same answer as for a slug that does not exist)."""
    council = db.session.scalar(select(Council).where(Council.slug == slug, Council.active.is_(True)))
    if council is None or not is_published(council.id):
        raise NotFound()
    return council


# --- the published figures ----------------------------------------------------------------------

PUBLIC_FIELDS = ("month", "onsite_allowance_minutes", "onsite_used_minutes", "remote_allowance_minutes",
                 "remote_used_minutes", "tickets_opened", "tickets_resolved", "first_response_met",
                 "first_response_measured", "resolution_met", "resolution_measured")


def public_figures(council: Council, year: int, today: dt.date) -> dict:
    """What a council publishes: its agreement, the hours it had and used each month, the
    tickets opened and resolved and how many met the SLA. Counts and minutes only: no names,
    no ticket titles, nothing a person could be recognised by."""
    from reports import quality

    this_month = month_start(today)
    months = [m for m in year_months(year) if m <= this_month]
    usage = {r.month: r for r in hours.usage_for_year(year, council.id)}
    service = quality.by_month(quality.service_by_council_month(months[0], months[-1], council.id,
                                                                with_durations=False), months) if months else {}
    items = []
    for month in months:
        row, stats = usage.get(month), service.get(month)
        if row is None and (stats is None or not (stats.opened or stats.resolved)):
            continue
        items.append({
            "month": format_month(month),
            "onsite_allowance_minutes": row.onsite.allowance_minutes if row else None,
            "onsite_used_minutes": row.onsite.used_minutes if row else None,
            "remote_allowance_minutes": row.remote.allowance_minutes if row else None,
            "remote_used_minutes": row.remote.used_minutes if row else None,
            "tickets_opened": stats.opened if stats else 0,
            "tickets_resolved": stats.resolved if stats else 0,
            "first_response_met": stats.first_response_met if stats else 0,
            "first_response_measured": stats.first_response_measured if stats else 0,
            "resolution_met": stats.resolution_met if stats else 0,
            "resolution_measured": stats.resolution_measured if stats else 0,
        })
    year_service = quality.merged(service.values())
    # The signed agreement in force at the end of the year shown (today, for this year).
    as_of = min(today, dt.date(year, 12, 31))
    agreement = db.session.scalar(select(Agreement).where(
        Agreement.council_id == council.id, Agreement.starts_on <= as_of, Agreement.ends_on >= dt.date(year, 1, 1),
        Agreement.signed_on.is_not(None)).order_by(Agreement.starts_on.desc()).limit(1))
    totals = totals_of(usage[m] for m in months if m in usage)
    return {
        "council": {"name": council.name, "slug": council.slug, "comarca": council.comarca,
                    "population": council.population, "population_year": council.population_year},
        "year": year,
        "agreement": None if agreement is None else {
            "starts_on": agreement.starts_on.isoformat(), "ends_on": agreement.ends_on.isoformat(),
            "onsite_minutes_month": agreement.onsite_minutes_month,
            "remote_minutes_month": agreement.remote_minutes_month, "rollover": agreement.rollover},
        "totals": {
            "onsite_allowance_minutes": totals.onsite.allowance, "onsite_used_minutes": totals.onsite.used,
            "remote_allowance_minutes": totals.remote.allowance, "remote_used_minutes": totals.remote.used,
            "tickets_opened": year_service.opened, "tickets_resolved": year_service.resolved,
            "first_response_compliance": None if year_service.first_response_ratio is None
            else round(year_service.first_response_ratio, 4),
            "resolution_compliance": None if year_service.resolution_ratio is None
            else round(year_service.resolution_ratio, 4),
        },
        "months": items,
        "generated_at": utcnow().replace(microsecond=0).isoformat(),
    }
