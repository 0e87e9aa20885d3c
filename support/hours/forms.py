"""The hours ledger's forms: logging time (made for a phone on site) and correcting a closed
month, with the duration field every time form shares."""

from __future__ import annotations

from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from core.durations import DurationError, DurationErrorCode, parse_duration
from core.errors import DomainError
from core.i18n import duration_filter
from core.ui import apply_errors

MODE_CHOICES = (("onsite", _l("On site")), ("remote", _l("Remote")))


def duration_message(exc: DurationError):
    """parse_duration's error codes, as a sentence in the user's language."""
    if exc.code == DurationErrorCode.EMPTY:
        return _l("Enter the time, e.g. 1:30, 1,5 h or 90 min.")
    if exc.code == DurationErrorCode.NOT_POSITIVE:
        return _l("The time must be more than zero.")
    if exc.code == DurationErrorCode.NO_UNIT:
        return _l("Say the unit: write 1 h, 60 min or 1:00.")
    if exc.code == DurationErrorCode.TOO_LONG:
        return _l("At most %(max)s.", max=duration_filter(exc.max_minutes))
    return _l("Write the time as 1:30, 1,5 h, 1.5 h or 90 min.")


class DurationField(StringField):
    """Free text as technicians type it ("1:30", "1,5 h", "90 min") → `minutes`; a bare number
    is refused (core.durations: "1" is an hour or a minute?).

    Blank gives None when the field is optional (`allow_blank`), and "0" gives 0 where zero
    makes sense (`allow_zero`): parse_duration itself only knows positive durations.
    """

    def __init__(self, label=None, validators=None, *, max_minutes: int = 1440, allow_blank: bool = False,
                 allow_zero: bool = False, **kwargs):
        kwargs.setdefault("render_kw", {}).update({"autocomplete": "off", "inputmode": "text",
                                                   "autocapitalize": "off", "spellcheck": "false"})
        super().__init__(label, validators, **kwargs)
        if not allow_blank:
            self.flags.required = True
        self.max_minutes = max_minutes
        self.allow_blank = allow_blank
        self.allow_zero = allow_zero
        self.minutes: int | None = None

    def pre_validate(self, form):
        self.minutes = None
        text = (self.data or "").strip()
        if not text and self.allow_blank:
            return
        if self.allow_zero and text in ("0", "0:00", "0 min", "0 h"):
            self.minutes = 0
            return
        try:
            self.minutes = parse_duration(text, self.max_minutes)
        except DurationError as exc:
            # StopValidation would hide the message behind "required"; a plain error shows it.
            raise ValidationError(str(duration_message(exc))) from None


class WorkForm(FlaskForm):
    """Time worked, on site or remote (`mode`, `travel`)."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.mode.data == "remote" and self.travel.errors:
            # Remote work has no travel: whatever the (hidden) travel box holds is ignored.
            self.travel.errors = []
            self.travel.minutes = 0
            valid = not any(f.errors for f in self) and not self.form_errors
        return valid


class EntryForm(WorkForm):
    """Logging hours, made for a phone on site: few fields, big targets, today by default."""

    council_id = SelectField(_l("Council"), coerce=int, validators=[InputRequired(message=_l("Choose a council."))])
    date = DateField(_l("Date"), validators=[InputRequired(message=_l("Enter the date (YYYY-MM-DD)."))])
    duration = DurationField(_l("Time worked"), description=_l("For example 1:30, 1,5 h or 90 min."))
    mode = RadioField(_l("Where"), choices=MODE_CHOICES, default="onsite",
                      validators=[InputRequired(message=_l("Choose on site or remote."))])
    travel = DurationField(_l("Travel (round trip)"), allow_blank=True, allow_zero=True,
                           description=_l("On site only. Recorded, never counted against the allowance."))
    description = TextAreaField(_l("What was done"), validators=[
        DataRequired(message=_l("Say briefly what was done.")), Length(max=2000)])
    technician_id = SelectField(_l("Technician"), coerce=int, validators=[Optional()])
    service_id = SelectField(_l("Service"), coerce=int, default=0, validators=[Optional()],
                             description=_l("If the work was for one of the catalogue's services (hours per service)."))

    def __init__(self, *args, council_choices=(), technicians=None, services=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.council_id.choices = council_choices
        self.service_id.choices = [(0, _l("None"))] + list(services)
        if technicians is None:
            del self.technician_id
        else:
            self.technician_id.choices = [(u.id, u.name) for u in technicians]


class CorrectionForm(FlaskForm):
    direction = RadioField(_l("Change"), choices=(("add", _l("Add time")), ("remove", _l("Take time away"))),
                           default="remove", validators=[InputRequired(message=_l("Choose whether to add or take away."))])
    duration = DurationField(_l("Time"), allow_blank=True, allow_zero=True,
                             description=_l("Leave empty to correct only the travel."))
    travel = DurationField(_l("Travel"), allow_blank=True, allow_zero=True)
    date = DateField(_l("Date of the correction"), validators=[InputRequired(message=_l("Enter the date (YYYY-MM-DD)."))],
                     description=_l("In an open month: the closed month keeps its figures."))
    description = TextAreaField(_l("What is corrected, and why"), validators=[
        DataRequired(message=_l("Say what is being corrected and why.")), Length(max=2000)])


# Service field → form field, so that a domain error shows next to the right input.
_ENTRY_FORM_FIELDS = {"minutes": "duration", "travel_minutes": "travel", "council_id": "council_id",
                      "date": "date", "mode": "mode", "description": "description", "technician_id": "technician_id",
                      "service_id": "service_id"}


def apply_entry_errors(form, exc: DomainError) -> None:
    """Put a time entry's domain error on the form, each field's message next to its input."""
    apply_errors(form, SimpleNamespace(
        message=exc.message, fields={_ENTRY_FORM_FIELDS.get(k, k): v for k, v in exc.fields.items()}))
