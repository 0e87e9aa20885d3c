"""The audit log's words for councils, agreements, bands and months (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.audit_labels import format_minutes, format_number, register_actions, register_object


def _council_name(council_id) -> str:
    from agreements.models import Council
    from extensions import db

    council = db.session.get(Council, int(council_id))
    return council.name if council is not None else f"#{council_id}"


def format_band(band) -> str:
    """{'min_population': 0, 'max_population': 500, 'remote_minutes_month': 90, ...} →
    "0 to 500 inhabitants: remote 1 h 30 min, on site 3 h"."""
    if not isinstance(band, dict):
        return str(band)
    low, high = band.get("min_population"), band.get("max_population")
    span = _("%(lo)s to %(hi)s inhabitants", lo=format_number(low) if low is not None else "0",
             hi=format_number(high) if high is not None else "∞")
    return _("%(span)s: remote %(remote)s, on site %(onsite)s", span=span,
             remote=format_minutes(band.get("remote_minutes_month")),
             onsite=format_minutes(band.get("onsite_default_minutes_month")))


def format_bands(value) -> str:
    bands = value if isinstance(value, list) else [value]
    return "; ".join(format_band(b) for b in bands) or "—"


def _languages() -> dict:
    from core.i18n import LANGUAGE_NAMES

    return dict(LANGUAGE_NAMES)


def _rollover() -> dict:
    return {"none": _l("Are not carried over"), "next_month": _l("Carry over to the next month")}


def register() -> None:
    register_actions({"close_month": _l("Month closed"), "enrollment_key_create": _l("Enrolment key created")})
    register_object("council", _l("Council"), fields={
        "slug": _l("Short name in addresses (slug)"), "code": _l("Code"), "comarca": _l("Comarca"),
        "population": _l("Population"), "population_year": _l("Population figure of year"),
        "area_km2": _l("Area (km²)"), "contact_email": _l("Contact email"), "contact_phone": _l("Contact phone"),
        "address": _l("Address"), "language": _l("Language of reports and mail"), "timezone": _l("Time zone"),
        "mail_domains": _l("Mail domains"),
    }, formats={"population": "number", "population_year": "text", "language": _languages, "area_km2": "number"})
    register_object("agreement", _l("Agreement"), fields={
        "onsite_minutes_month": _l("On-site hours a month"), "remote_minutes_month": _l("Remote hours a month"),
        "rollover": _l("Unused hours"), "signed_on": _l("Signing date"), "document_ref": _l("Document reference"),
    }, formats={"onsite_minutes_month": "duration", "remote_minutes_month": "duration", "rollover": _rollover,
                "signed_on": "date", "status": {"draft": _l("Draft (not signed yet)"), "active": _l("Signed")}})
    register_object("allowance_bands", _l("Allowance bands"), fields={"bands": _l("Allowance bands")},
                    formats={"bands": format_bands})
    register_object("month", _l("Month"))
    register_object(None, formats={"council_id": _council_name})
