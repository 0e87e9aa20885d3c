"""Teams' and absences' forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, Optional


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes: usable on a phone, unlike a multiple select."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class TeamForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the team a name.")), Length(max=80)])
    assignment = SelectField(_l("Assignment of new tickets"), default="none")
    member_ids = CheckboxesField(_l("Members"), coerce=int, validators=[Optional()],
                                 description=_l("Round robin goes through the members in this order."))
    categories = CheckboxesField(_l("Categories"), validators=[Optional()],
                                 description=_l("New tickets of these categories go to this team."))

    def __init__(self, *args, users=(), categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.assignment.choices = [("none", _l("By hand")), ("round_robin", _l("Round robin")),
                                   ("least_open", _l("Fewest open tickets"))]
        self.member_ids.choices = [(u.id, u.name) for u in users]
        self.categories.choices = list(categories)


class AbsenceForm(FlaskForm):
    user_id = SelectField(_l("Who"), coerce=int, validators=[Optional()])
    starts_on = DateField(_l("First day"), validators=[DataRequired(message=_l("Must be a date (YYYY-MM-DD)."))])
    ends_on = DateField(_l("Last day"), validators=[DataRequired(message=_l("Must be a date (YYYY-MM-DD)."))])
