"""Tickets' forms: asking for help (a clerk's words), opening one for a council (the office),
replying, moving, rating, and logging time on a ticket."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from support.hours.forms import MODE_CHOICES, DurationField, WorkForm
from support.tickets.attachments import ACCEPT


def _attachment_field():
    """An optional file; its type and size are checked by the service, from its content."""
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
    service_id = SelectField(_l("Which of our services?"), coerce=int, default=0, validators=[Optional()],
                             description=_l("If it is about one of the council's services, choose it."))
    # Left empty, the category is the service's (or "other"): set by the server, no script needed.
    category = SelectField(_l("What is it about?"), default="")
    asset_id = SelectField(_l("Which equipment?"), coerce=int, default=0, validators=[Optional()],
                           description=_l("If it is about one machine or certificate of the council."))
    attachment = _attachment_field()
    related_ticket_id = HiddenField()

    def __init__(self, *args, urgency=(), categories=(), assets=(), services=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.priority.choices = list(urgency)
        self.category.choices = [("", _l("I am not sure"))] + list(categories)
        self.asset_id.choices = [(0, _l("None, or I do not know"))] + list(assets)
        self.service_id.choices = [(0, _l("None, or I do not know"))] + list(services)


class StaffTicketForm(FlaskForm):
    """A ticket the office opens (a phone call, a mail, a visit), for a council."""

    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Say in a few words what happened.")),
                                                 Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20000)])
    requester_id = SelectField(_l("On behalf of"), coerce=int, default=0, validators=[Optional()])
    channel = SelectField(_l("Came in by"), default="phone")
    priority = SelectField(_l("Priority"), default="normal")
    service_id = SelectField(_l("Service"), coerce=int, default=0, validators=[Optional()],
                             description=_l("Fills the category and the team of the service."))
    category = SelectField(_l("Category"), default="")
    asset_id = SelectField(_l("Equipment"), coerce=int, default=0, validators=[Optional()])
    attachment = _attachment_field()

    def __init__(self, *args, requesters=(), channels=(), priorities=(), categories=(), assets=(), services=(),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.requester_id.choices = [(0, "—")] + list(requesters)
        self.channel.choices = list(channels)
        self.priority.choices = list(priorities)
        self.category.choices = [("", _l("The service's, else “other”"))] + list(categories)
        self.asset_id.choices = [(0, "—")] + list(assets)
        self.service_id.choices = [(0, "—")] + list(services)


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


class TicketTimeForm(WorkForm):
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
