from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, Regexp

from agreements.months import MONTH_PATTERN


class PublicationForm(FlaskForm):
    """Switch a council's transparency page on or off (the button says which)."""

    enabled = RadioField(_l("Transparency page"), choices=[("1", _l("Publish")), ("0", _l("Do not publish"))],
                         validators=[DataRequired()])


class GenerateForm(FlaskForm):
    """Generate (and archive) a month's reports now, without mailing them."""

    month = StringField(_l("Month"), validators=[
        DataRequired(), Regexp(MONTH_PATTERN, message=_l("Give a month as YYYY-MM."))])


class DeliverForm(FlaskForm):
    """Run the monthly delivery of a month now: generate, archive and mail (once)."""

    month = StringField(_l("Month"), validators=[
        DataRequired(), Regexp(MONTH_PATTERN, message=_l("Give a month as YYYY-MM."))])
