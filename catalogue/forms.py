from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from catalogue import evidence, services


class ServiceForm(FlaskForm):
    """A service of the catalogue. Format rules (code, web address) are the service's, whose
    errors come back next to the fields."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=16)],
                       description=_l("Short and unique, e.g. ETRAM. It cannot change later."))
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    name_ca = StringField(_l("Name in Catalan"), validators=[Optional(), Length(max=120)])
    name_es = StringField(_l("Name in Spanish"), validators=[Optional(), Length(max=120)])
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    provider = SelectField(_l("Provider"))
    category = SelectField(_l("Category"))
    documentation_url = StringField(_l("Documentation"), validators=[Optional(), Length(max=500)],
                                    description=_l("A web address (https://...)."))
    ticket_category = SelectField(_l("Category of its requests"), validators=[Optional()],
                                  description=_l("What a request about this service is filed under."))
    default_team_id = SelectField(_l("Team of its requests"), coerce=int, default=0, validators=[Optional()],
                                  description=_l("The team a request about this service goes to."))
    active = BooleanField(_l("Offered to councils"), default=True)

    def __init__(self, *args, providers=(), categories=(), ticket_categories=(), teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.provider.choices = list(providers)
        self.category.choices = list(categories)
        self.ticket_category.choices = [("", _l("None"))] + list(ticket_categories)
        self.default_team_id.choices = [(0, _l("By its category"))] + list(teams)


class SubscribeForm(FlaskForm):
    councils = SelectMultipleField(_l("Councils"), coerce=int, validators=[DataRequired()])
    wave = SelectField(_l("Wave"))
    planned_on = DateField(_l("Planned for"), validators=[Optional()])
    technician_id = SelectField(_l("Responsible technician"), coerce=int, validators=[Optional()])

    def __init__(self, *args, councils=(), waves=(), technicians=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.councils.choices = list(councils)
        self.wave.choices = list(waves)
        self.technician_id.choices = [(0, _l("Nobody yet"))] + list(technicians)


class WaveMoveForm(FlaskForm):
    reason = StringField(_l("Why"), validators=[Optional(), Length(max=services.LIMITS["reason"])],
                         description=_l("Kept in each council's history."))


class WaveTargetForm(FlaskForm):
    target_on = DateField(_l("Target date"), validators=[Optional()])


class SubscriptionForm(FlaskForm):
    status = SelectField(_l("Status"))
    wave = SelectField(_l("Wave"))
    planned_on = DateField(_l("Planned for"), validators=[Optional()])
    live_on = DateField(_l("Live since"), validators=[Optional()])
    technician_id = SelectField(_l("Responsible technician"), coerce=int, validators=[Optional()])
    contact = StringField(_l("Council contact"), validators=[Optional(), Length(max=200)])
    evidence_url = StringField(_l("Evidence (link)"), validators=[Optional(), Length(max=500)])
    # Not named like the record's column: `obj=` would fill it with the stored file's name.
    evidence_upload = FileField(_l("Evidence (file)"), render_kw={"accept": evidence.ACCEPT},
                                description=_l("A PDF, an image or an office document, up to 10 MB. "
                                               "It replaces the file kept so far."))
    evidence_remove = BooleanField(_l("Remove the evidence file"))
    next_review_on = DateField(_l("Next review"), validators=[Optional()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])
    reason = StringField(_l("Why (for a status change)"), validators=[Optional(), Length(max=1000)])


class MatrixImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    apply = BooleanField(_l("Apply (unticked: only check)"))
