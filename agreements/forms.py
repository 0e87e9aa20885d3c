from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    FormField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from agreements.models import CODE_PATTERN, SLUG_PATTERN
from agreements.months import format_month, parse_month
from core import timezones
from core.fields import LocaleDecimalField, LocaleIntegerField
from support.hours.forms import DurationField


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
    population = LocaleIntegerField(_l("Population"), validators=[
        InputRequired(message=_l("Enter the number of inhabitants (0 or more).")), NumberRange(min=0)])
    population_year = IntegerField(_l("Population figure of year"), validators=[Optional(), NumberRange(1800, 2200)])
    area_km2 = LocaleDecimalField(_l("Area (km²)"), validators=[Optional(), NumberRange(min=0)])
    contact_email = EmailField(_l("Contact email"), validators=[Optional(), Email(message=_l("Enter a valid email address.")), Length(max=254)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500)])
    language = SelectField(_l("Language of reports and mail"), choices=[("ca", "Català"), ("es", "Español"), ("en", "English")])
    timezone = SelectField(_l("Time zone"), default="Europe/Madrid", validators=[DataRequired()])
    active = BooleanField(_l("Active (served by the office)"), default=True)
    travel_minutes = IntegerField(_l("Travel time from the office (minutes, one way)"), default=0,
                                  validators=[Optional(), NumberRange(0, 600)],
                                  description=_l("Shown on the technicians' day plan before each visit."))
    mail_domains = StringField(_l("Mail domains"), validators=[Optional(), Length(max=1000)],
                               description=_l("Mail from addresses of these domains opens tickets of this council, "
                                              "e.g. mura.cat. Separate several with commas."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.mail_domains.data, list):
            self.mail_domains.data = ", ".join(self.mail_domains.data)
        # A select of real zones, checked on the server like any select (an old stored alias
        # stays selectable for that council only).
        self.timezone.choices = timezones.choices(getattr(kwargs.get("obj"), "timezone", None))


class BandRowForm(FlaskForm):
    class Meta:
        csrf = False  # the enclosing form carries the token

    min_population = IntegerField(_l("From (inhabitants)"), validators=[InputRequired(), NumberRange(min=0)])
    max_population = IntegerField(_l("To (inhabitants)"), validators=[Optional(), NumberRange(min=0)])
    remote_minutes_month = IntegerField(_l("Remote minutes a month"), validators=[InputRequired(), NumberRange(min=0, max=44640)])
    onsite_default_minutes_month = IntegerField(_l("Default on-site minutes a month"), validators=[InputRequired(), NumberRange(min=90, max=1680)])


class BandsForm(FlaskForm):
    bands = FieldList(FormField(BandRowForm), min_entries=1, max_entries=20)


class MonthField(StringField):
    """A month as YYYY-MM (`<input type="month">`, which browsers without it show as text)."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {}).update({"type": "month", "placeholder": "YYYY-MM",
                                                   "pattern": "[0-9]{4}-[0-9]{2}", "inputmode": "numeric"})
        super().__init__(label, validators, **kwargs)
        self.month = None

    def _value(self):
        if isinstance(self.data, dt.date):
            return format_month(self.data)
        return super()._value()

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.month = parse_month(self.data)

    def process_data(self, value):
        super().process_data(format_month(value) if isinstance(value, dt.date) else value)
        self.month = value if isinstance(value, dt.date) else parse_month(value)

    def pre_validate(self, form):
        if self.month is None:
            raise ValidationError(str(_l("Enter a month as YYYY-MM, e.g. 2026-01.")))


class AgreementForm(FlaskForm):
    first_month = MonthField(_l("First month"))
    last_month = MonthField(_l("Last month"))
    onsite = DurationField(_l("On-site hours a month"), max_minutes=1680, allow_blank=True,
                           description=_l("Between 1.5 and 28 h, e.g. 8 h or 7:30. Empty: the population band's "
                                          "default."))
    remote = DurationField(_l("Remote hours a month"), max_minutes=44640, allow_blank=True, allow_zero=True,
                           description=_l("Empty: from the population band, stored now so that later changes of "
                                          "population do not alter the agreement."))
    rollover = SelectField(_l("Unused hours"), choices=[
        ("none", _l("Are not carried over")),
        ("next_month", _l("Carry over to the next month")),
    ], default="none")
    status = RadioField(_l("Status"), choices=[("draft", _l("Draft (not signed yet)")), ("active", _l("Signed"))],
                        default="active", validators=[InputRequired()])
    signed_on = DateField(_l("Signing date"), validators=[Optional()],
                          description=_l("Empty for a signed agreement: today."))
    document_ref = StringField(_l("Document reference"), validators=[Optional(), Length(max=120)],
                               description=_l("The file or record number of the signed agreement."))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])
