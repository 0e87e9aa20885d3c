"""The office calendar's page (Administration > Office calendar): the year's public holidays
from the `holidays` package, and the local holidays and festivities admins add or remove.

The rules (`add_local_holiday`, `delete_local_holiday`) take plain arguments and raise domain
errors like any service; the page around them is thin.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length

from accounts import audit
from accounts.forms import ConfirmForm
from core.access import ADMIN, allow
from core.calendar import local_holidays, public_holidays
from core.db import get_or_404, utcnow
from core.errors import Conflict, DomainError, ValidationFailed
from core.models import OfficeHoliday
from core.ui import NavItem, apply_errors, register_nav
from extensions import db

bp = Blueprint("calendar", __name__)

NAME_MAX = 120


# --- rules --------------------------------------------------------------------------------------

def add_local_holiday(day: dt.date, name: str, *, actor) -> OfficeHoliday:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed(fields={"name": _l("Say what the holiday is.")})
    if len(name) > NAME_MAX:
        raise ValidationFailed(fields={"name": _l("Too long: at most %(n)d characters.", n=NAME_MAX)})
    if not isinstance(day, dt.date) or not 1900 <= day.year <= 9000:
        raise ValidationFailed(fields={"day": _l("Must be a date (YYYY-MM-DD).")})
    if db.session.scalar(select(OfficeHoliday.id).where(OfficeHoliday.day == day)) is not None:
        raise Conflict(_l("That day is already a local holiday."), code="duplicate_holiday",
                       fields={"day": _l("That day is already a local holiday.")})
    holiday = OfficeHoliday(day=day, name=name, created_at=utcnow(), created_by_id=actor.id if actor else None)
    db.session.add(holiday)
    db.session.flush()
    audit.record("create", object_type="office_holiday", object_id=holiday.id, actor=actor,
                 label=f"{day.isoformat()} {name}", changes={"day": day.isoformat(), "name": name})
    db.session.commit()
    return holiday


def delete_local_holiday(holiday: OfficeHoliday, *, actor) -> None:
    audit.record("delete", object_type="office_holiday", object_id=holiday.id, actor=actor,
                 label=f"{holiday.day.isoformat()} {holiday.name}")
    db.session.delete(holiday)
    db.session.commit()


# --- page ---------------------------------------------------------------------------------------

class LocalHolidayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired(message=_l("Must be a date (YYYY-MM-DD)."))])
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Say what the holiday is.")),
                                               Length(max=NAME_MAX)])


def _page(form: LocalHolidayForm, year: int, status: int = 200):
    language = str(get_locale() or "ca")
    public = public_holidays([year], language=language)
    local = [h for h in local_holidays() if h.day.year >= year - 1]
    return render_template("core/holidays.html", form=form, year=year, public=public, local=local,
                           confirm=ConfirmForm()), status


def _year() -> int:
    year = request.args.get("year", type=int)
    return year if year is not None and 1900 <= year <= 9000 else dt.date.today().year


@bp.get("/office-calendar")
@allow(*ADMIN)
def holidays():
    return _page(LocalHolidayForm(), _year())


@bp.post("/office-calendar")
@allow(*ADMIN)
def holiday_add():
    form = LocalHolidayForm()
    if form.validate_on_submit():
        try:
            add_local_holiday(form.day.data, form.name.data, actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
            return _page(form, form.day.data.year, 422)
        return redirect(url_for("calendar.holidays", year=form.day.data.year))
    return _page(form, _year(), 422)


@bp.post("/office-calendar/<int:holiday_id>/delete")
@allow(*ADMIN)
def holiday_delete(holiday_id: int):
    holiday = get_or_404(OfficeHoliday, holiday_id)
    year = holiday.day.year
    if ConfirmForm().validate_on_submit():
        delete_local_holiday(holiday, actor=current_user)
    return redirect(url_for("calendar.holidays", year=year))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav(app, NavItem("calendar.holidays", _l("Office calendar"), frozenset(ADMIN), "calendar3", 930,
                              menu="admin"))
