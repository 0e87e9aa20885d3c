"""Visits' forms: booking a slot, cancelling a visit, logging a visit's time."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from support.hours.forms import DurationField


class BookForm(FlaskForm):
    ticket_id = SelectField(_l("About which request? (optional)"), coerce=int, default=0, validators=[Optional()])
    notes = TextAreaField(_l("Anything the technician should know"), validators=[Optional(), Length(max=2000)])


class CancelVisitForm(FlaskForm):
    reason = StringField(_l("Why (optional)"), validators=[Optional(), Length(max=2000)])


class LogVisitForm(FlaskForm):
    duration = DurationField(_l("Time worked"), description=_l("For example 1:30, 1,5 h or 90 min."))
    travel = DurationField(_l("Travel (round trip)"), allow_blank=True, allow_zero=True)
    description = StringField(_l("What was done"), validators=[Optional(), Length(max=500)])
