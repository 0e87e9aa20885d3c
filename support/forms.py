from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from core.durations import DurationError, DurationErrorCode, parse_duration
from core.i18n import duration_filter

MODE_CHOICES = (("onsite", _l("On site")), ("remote", _l("Remote")))


def duration_message(exc: DurationError):
    """parse_duration's error codes, as a sentence in the user's language."""
    if exc.code == DurationErrorCode.EMPTY:
        return _l("Enter the time, e.g. 1:30, 1,5 h or 90 min.")
    if exc.code == DurationErrorCode.NOT_POSITIVE:
        return _l("The time must be more than zero.")
    if exc.code == DurationErrorCode.TOO_LONG:
        return _l("At most %(max)s.", max=duration_filter(exc.max_minutes))
    return _l("Write the time as 1:30, 1,5 h, 1.5 h or 90 min.")


class DurationField(StringField):
    """Free text as technicians type it ("1:30", "1,5", "1.5 h", "90 min") → `minutes`.

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


class _WorkForm(FlaskForm):
    """Time worked, on site or remote (`mode`, `travel`)."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.mode.data == "remote" and self.travel.errors:
            # Remote work has no travel: whatever the (hidden) travel box holds is ignored.
            self.travel.errors = []
            self.travel.minutes = 0
            valid = not any(f.errors for f in self) and not self.form_errors
        return valid


class EntryForm(_WorkForm):
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

    def __init__(self, *args, council_choices=(), technicians=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.council_id.choices = council_choices
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


# --- tickets ----------------------------------------------------------------------------------

def _attachment_field():
    """An optional file; its type and size are checked by the service, from its content."""
    from flask_wtf.file import FileField

    from support.attachments import ACCEPT

    return FileField(_l("Attach a file (optional)"), render_kw={"accept": ACCEPT},
                     description=_l("A screenshot, a PDF, a document or a mail, up to 10 MB."))


class ClerkTicketForm(FlaskForm):
    """Asking for help, in a clerk's words: what happened, how urgent, on which equipment."""

    title = StringField(_l("What happened?"), validators=[
        DataRequired(message=_l("Say in a few words what happened.")), Length(max=200)],
        description=_l("In a few words, e.g. \"The Registry printer does not print\"."))
    description = TextAreaField(_l("Tell us more"), validators=[Optional(), Length(max=20000)],
                                description=_l("What you were doing, what you saw on screen, since when."))
    priority = RadioField(_l("How urgent is it?"), default="normal",
                          validators=[InputRequired(message=_l("Choose how urgent it is."))])
    category = SelectField(_l("What is it about?"), default="other")
    asset_id = SelectField(_l("Which equipment?"), coerce=int, default=0, validators=[Optional()],
                           description=_l("If it is about one machine or certificate of the council."))
    attachment = _attachment_field()
    related_ticket_id = HiddenField()

    def __init__(self, *args, urgency=(), categories=(), assets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.priority.choices = list(urgency)
        self.category.choices = list(categories)
        self.asset_id.choices = [(0, _l("None, or I do not know"))] + list(assets)


class StaffTicketForm(FlaskForm):
    """A ticket the office opens (a phone call, a mail, a visit), for a council."""

    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Say in a few words what happened.")),
                                                 Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
    requester_id = SelectField(_l("On behalf of"), coerce=int, default=0, validators=[Optional()])
    channel = SelectField(_l("Came in by"), default="phone")
    priority = SelectField(_l("Priority"), default="normal")
    category = SelectField(_l("Category"), default="other")
    asset_id = SelectField(_l("Equipment"), coerce=int, default=0, validators=[Optional()])
    attachment = _attachment_field()

    def __init__(self, *args, requesters=(), channels=(), priorities=(), categories=(), assets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.requester_id.choices = [(0, "—")] + list(requesters)
        self.channel.choices = list(channels)
        self.priority.choices = list(priorities)
        self.category.choices = list(categories)
        self.asset_id.choices = [(0, "—")] + list(assets)


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(message=_l("Write your reply.")),
                                                       Length(max=20000)])
    internal = BooleanField(_l("Internal note (the council does not see it)"))
    attachment = _attachment_field()

    def __init__(self, *args, staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not staff:
            del self.internal


class TicketStatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])


class TicketUpdateForm(FlaskForm):
    assignee_id = SelectField(_l("Assigned to"), coerce=int, validators=[Optional()])
    priority = SelectField(_l("Priority"))
    category = SelectField(_l("Category"))

    def __init__(self, *args, staff=(), priorities=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = [(0, _l("Nobody"))] + list(staff)
        self.priority.choices = list(priorities)
        self.category.choices = list(categories)


class TicketTimeForm(_WorkForm):
    """Time worked on a ticket, logged straight into the hours ledger."""

    duration = DurationField(_l("Time worked"), description=_l("For example 45 min, 1:30 or 1,5 h."))
    mode = RadioField(_l("Where"), choices=MODE_CHOICES, default="remote",
                      validators=[InputRequired(message=_l("Choose on site or remote."))])
    travel = DurationField(_l("Travel (round trip)"), allow_blank=True, allow_zero=True,
                           description=_l("On site only. Recorded, never counted against the allowance."))
    date = DateField(_l("Date"), validators=[InputRequired(message=_l("Enter the date (YYYY-MM-DD)."))])
    description = TextAreaField(_l("What was done"), validators=[
        DataRequired(message=_l("Say briefly what was done.")), Length(max=2000)])


class RatingForm(FlaskForm):
    score = RadioField(_l("How did we do?"), coerce=int, choices=[(n, str(n)) for n in range(1, 6)],
                       validators=[InputRequired(message=_l("Choose from 1 to 5."))])
    comment = TextAreaField(_l("Anything you want to tell us? (optional)"), validators=[Optional(), Length(max=2000)])
