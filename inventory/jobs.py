"""Expiry reminders: certificates, licences, domains and warranties, 60, 30 and 7 days ahead.

`send_expiry_reminders(today)` is a plain function: the scheduler process calls it daily and
`flask inventory reminders` runs it by hand; tests pass a frozen `today`.

Each reminder goes to the council's contact address, by mail in the council's language, and
to every active technician (in the app, and by mail in each one's language).

Once per asset, date and threshold: the reminder is claimed by inserting its row into
`asset_reminders` (INSERT ... ON CONFLICT DO NOTHING), in the same transaction as the
notifications it sends. Whoever inserts the row sends; a second run, or a second scheduler
process racing the first, inserts nothing and sends nothing. If sending fails, the
transaction rolls back and the claim with it, so the next run tries again. A changed date is
a new key, so a renewed certificate is reminded afresh.

When the job has not run for a while, only the tightest threshold that applies is sent (an
item found 5 days before its date gets the 7-day reminder, not three mails at once).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite

from accounts.models import User
from core import notify
from core.db import write_transaction
from core.scope import unrestricted
from extensions import db
from inventory.models import Asset, AssetReminder

THRESHOLDS = (60, 30, 7)
KIND = "inventory.expiry"


def threshold_for(days_left: int) -> int | None:
    """The tightest threshold a date `days_left` days away falls within, if any."""
    if days_left < 0:
        return None
    fitting = [t for t in THRESHOLDS if days_left <= t]
    return min(fitting) if fitting else None


def send_expiry_reminders(today: dt.date) -> int:
    """Send the reminders due on `today`; returns how many were sent."""
    horizon = today + dt.timedelta(days=max(THRESHOLDS))
    with unrestricted():
        db.session.commit()  # start from a fresh snapshot
        candidates = db.session.execute(
            select(Asset.id, Asset.expires_on, Asset.warranty_until)
            .where(Asset.status != "retired",
                   or_(Asset.expires_on.between(today, horizon), Asset.warranty_until.between(today, horizon)))
            .order_by(Asset.id)
        ).all()
        db.session.commit()
        sent = 0
        for asset_id, expires_on, warranty_until in candidates:
            for field, due in (("expires_on", expires_on), ("warranty_until", warranty_until)):
                if due is None or not today <= due <= horizon:
                    continue
                threshold = threshold_for((due - today).days)
                if threshold is None:
                    continue
                # One transaction per reminder: short write locks on SQLite, and a failure
                # (a bad address, say) costs only that reminder, which the next run retries.
                with write_transaction():
                    if _send_one(asset_id, field, due, threshold, today):
                        sent += 1
    return sent


def _claim(asset: Asset, field: str, due: dt.date, threshold: int) -> bool:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (insert(AssetReminder)
            .values(asset_id=asset.id, council_id=asset.council_id, due_field=field, due_date=due,
                    threshold=threshold)
            .on_conflict_do_nothing(index_elements=["asset_id", "due_field", "due_date", "threshold"])
            .returning(AssetReminder.id))
    return db.session.execute(stmt).first() is not None


def _send_one(asset_id: int, field: str, due: dt.date, threshold: int, today: dt.date) -> bool:
    asset = db.session.scalar(select(Asset).where(Asset.id == asset_id))
    # The asset may have changed since the candidates were read: remind what is true now.
    if asset is None or asset.status == "retired" or getattr(asset, field) != due:
        return False
    if not _claim(asset, field, due, threshold):
        return False
    council = asset.council
    params = {
        "asset_id": asset.id, "tag": asset.tag, "name": asset.name, "kind": asset.kind,
        "holder": asset.holder, "council": council.name, "field": field, "date": due.isoformat(),
        "days": (due - today).days, "threshold": threshold,
    }
    link = notify.link_for("inventory.asset", asset_id=asset.id)
    technicians = db.session.scalars(
        select(User).where(User.role == "technician", User.active.is_(True)).order_by(User.id)).all()
    notify.notify_users(technicians, KIND, params, link=link)
    if council.contact_email:
        notify.mail_in(council.language, council.contact_email, KIND, params, link=link)
    return True


# --- how the reminder reads, in the reader's language -------------------------------------

def _title(p: dict) -> str:
    values = {"name": p["name"], "council": p["council"]}
    if p.get("field") == "warranty_until":
        return _("Warranty ending: %(name)s (%(council)s)", **values)
    kind = p.get("kind")
    if kind == "certificate":
        return _("Digital certificate expiring: %(name)s (%(council)s)", **values)
    if kind == "license":
        return _("Licence expiring: %(name)s (%(council)s)", **values)
    if kind == "domain":
        return _("Domain expiring: %(name)s (%(council)s)", **values)
    return _("Expiry date approaching: %(name)s (%(council)s)", **values)


def _body(p: dict) -> str:
    due = dt.date.fromisoformat(p["date"])
    when = format_date(due, "long")
    warranty = p.get("field") == "warranty_until"
    lines = [_("The warranty of %(tag)s ends on %(date)s.", tag=p["tag"], date=when) if warranty
             else _("%(tag)s expires on %(date)s.", tag=p["tag"], date=when)]
    days = int(p["days"])
    if days == 0:
        lines.append(_("That is today."))
    else:
        lines.append(ngettext("That is in %(num)d day.", "That is in %(num)d days.", days))
    if p.get("holder") and p.get("kind") == "certificate":
        lines.append(_("Holder: %(holder)s.", holder=p["holder"]))
    kind = p.get("kind")
    if warranty:
        lines.append(_("Decide whether to extend the warranty or plan the replacement."))
    elif kind == "certificate":
        lines.append(_("Renew it in time: with an expired certificate the council cannot sign "
                       "electronically or process its e-administration procedures."))
    elif kind == "license":
        lines.append(_("Renew the licence or plan what replaces it."))
    elif kind == "domain":
        lines.append(_("Renew it with the registrar, or the council's website and mail will stop working."))
    return "\n".join(lines)


def register_kinds() -> None:
    notify.register_kind(KIND, _title, _body)
