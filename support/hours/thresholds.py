"""Allowance thresholds: 80 % and 100 % of a council's monthly on-site or remote allowance.

`evaluate_thresholds(council_id, month)` runs after every committed write of hours (see
support.hours.services) in a transaction of its own, and `check_thresholds(today)`
(support.hours.jobs) runs it for every council of the current month (the scheduler, or
`flask hours thresholds`), which catches up on any evaluation that failed.

Each threshold is announced once per council, month and mode: the announcement is claimed by
inserting its `usage_alerts` row (INSERT ... ON CONFLICT DO NOTHING) in the same transaction
as the notifications. Concurrent evaluations that both see the threshold crossed race on the
insert; the database lets exactly one of them in, and only that one notifies. Because each
evaluation starts after its own entry committed, the last entry to commit is always
evaluated against the month's full total, so no crossing is missed.

Recipients: the office's managers (in the app, and by mail in each one's language) and the
council's contact address (by mail, in the council's language).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import format_percent
from flask_babel import gettext as _
from sqlalchemy import select

from accounts.models import User
from agreements.models import Council
from agreements.months import format_month, month_start
from agreements.services import insert_ignoring_duplicates
from core import notify
from core.db import write_transaction
from core.i18n import duration_filter, month_filter
from core.scope import unrestricted
from extensions import db
from support.hours.figures import council_month_usage
from support.hours.models import MODES, THRESHOLDS, UsageAlert

KIND = "support.usage_threshold"


def crossed(used: int, allowance: int, threshold: int) -> bool:
    """Whether `used` reaches `threshold` % of `allowance`. Any work on a zero allowance is over it."""
    if used <= 0:
        return False
    return used * 100 >= threshold * allowance


def evaluate_thresholds(council_id: int, month: dt.date) -> list[tuple[str, int]]:
    """Announce the thresholds of the council-month crossed and not yet announced.

    Returns the (mode, threshold) pairs this call announced.
    """
    announced: list[tuple[str, int]] = []
    # A system step: the managers are notified whoever wrote the entry.
    with unrestricted(), write_transaction():
        usage = council_month_usage(council_id, month_start(month))
        if usage is None:
            return announced
        council = db.session.scalar(select(Council).where(Council.id == council_id))
        for mode in MODES:
            figures = usage.mode(mode)
            for threshold in THRESHOLDS:
                if not crossed(figures.used_minutes, figures.allowance_minutes, threshold):
                    continue
                claimed = insert_ignoring_duplicates(UsageAlert, {
                    "council_id": council_id, "month": usage.month, "mode": mode, "threshold": threshold,
                    "used_minutes": figures.used_minutes, "allowance_minutes": figures.allowance_minutes,
                }, ["council_id", "month", "mode", "threshold"])
                if claimed is None:
                    continue
                _notify(council, usage.month, mode, threshold, figures)
                announced.append((mode, threshold))
    return announced


def _notify(council, month: dt.date, mode: str, threshold: int, figures) -> None:
    params = {
        "council": council.name, "council_id": council.id, "month": format_month(month), "mode": mode,
        "threshold": threshold, "used": figures.used_minutes, "allowance": figures.allowance_minutes,
    }
    link = notify.link_for("support.council_month", slug=council.slug, month=format_month(month))
    managers = db.session.scalars(select(User).where(User.role == "manager", User.active.is_(True))
                                  .order_by(User.id)).all()
    notify.notify_users(managers, KIND, params, link=link)
    if council.contact_email:
        notify.mail_in(council.language, council.contact_email, KIND, params, link=link)


# --- how the announcement reads, in the reader's language ----------------------------------

def _title(p: dict) -> str:
    values = {"council": p["council"], "month": month_filter(p["month"]),
              "percent": format_percent(int(p["threshold"]) / 100, "#,##0 %")}
    onsite = p.get("mode") == "onsite"
    if int(p["threshold"]) >= 100:
        if onsite:
            return _("%(council)s has used all its on-site hours for %(month)s", **values)
        return _("%(council)s has used all its remote hours for %(month)s", **values)
    if onsite:
        return _("%(council)s has used %(percent)s of its on-site hours for %(month)s", **values)
    return _("%(council)s has used %(percent)s of its remote hours for %(month)s", **values)


def _body(p: dict) -> str:
    used, allowance = int(p["used"]), int(p["allowance"])
    lines = [_("Used so far: %(used)s of %(allowance)s.", used=duration_filter(used),
               allowance=duration_filter(allowance))]
    if used >= allowance:
        lines.append(_("Work beyond the allowance still gets done; it shows as excess in the month's "
                       "figures. Talk with the office if the agreement needs more hours."))
    else:
        lines.append(_("Remaining this month: %(remaining)s.", remaining=duration_filter(allowance - used)))
    return "\n".join(lines)


def register_kinds() -> None:
    notify.register_kind(KIND, _title, _body)
