from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp

from agreements.models import CODE_PATTERN, SLUG_PATTERN


class CouncilForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    slug = StringField(_l("Short name in addresses (slug)"), validators=[
        Optional(), Length(max=80),
        Regexp(SLUG_PATTERN, message=_l("Lowercase letters, digits and hyphens only."))],
        description=_l("Leave empty to derive it from the name. It cannot change later."))
    code = StringField(_l("Code"), validators=[
        Optional(), Regexp(CODE_PATTERN, message=_l("2 to 8 characters, letters A–Z and digits."))],
        description=_l("Prefix of ticket references, e.g. MURA-2026-0001. Leave empty to derive it. "
                       "It cannot change later."),
        filters=[lambda v: v.upper().strip() if isinstance(v, str) else v])
    comarca = StringField(_l("Comarca"), validators=[Optional(), Length(max=80)])
    population = IntegerField(_l("Population"), validators=[
        InputRequired(message=_l("Enter the number of inhabitants (0 or more).")), NumberRange(min=0)])
    population_year = IntegerField(_l("Population figure of year"), validators=[Optional(), NumberRange(1800, 2200)])
    area_km2 = DecimalField(_l("Area (km²)"), places=2, validators=[Optional(), NumberRange(min=0)])
    contact_email = EmailField(_l("Contact email"), validators=[Optional(), Email(message=_l("Enter a valid email address.")), Length(max=254)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500)])
    language = SelectField(_l("Language of reports and mail"), choices=[("ca", "Català"), ("es", "Español"), ("en", "English")])
    timezone = StringField(_l("Time zone"), default="Europe/Madrid", validators=[DataRequired(), Length(max=64)])
    active = BooleanField(_l("Active (served by the office)"), default=True)


class BandRowForm(FlaskForm):
    class Meta:
        csrf = False  # the enclosing form carries the token

    min_population = IntegerField(_l("From (inhabitants)"), validators=[InputRequired(), NumberRange(min=0)])
    max_population = IntegerField(_l("To (inhabitants)"), validators=[Optional(), NumberRange(min=0)])
    remote_minutes_month = IntegerField(_l("Remote minutes a month"), validators=[InputRequired(), NumberRange(min=0, max=44640)])
    onsite_default_minutes_month = IntegerField(_l("Default on-site minutes a month"), validators=[InputRequired(), NumberRange(min=90, max=1680)])


class BandsForm(FlaskForm):
    bands = FieldList(FormField(BandRowForm), min_entries=1, max_entries=20)
