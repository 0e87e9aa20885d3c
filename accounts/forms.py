from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from accounts.models import LANGUAGE_CHOICES


def role_choices():
    return [("admin", _l("Administrator")), ("manager", _l("Manager")),
            ("technician", _l("Technician")), ("clerk", _l("Council clerk"))]


def language_choices(blank: bool = True):
    from core.i18n import LANGUAGE_NAMES

    choices = [(code, LANGUAGE_NAMES[code]) for code in LANGUAGE_CHOICES]
    return ([("", _l("Browser language"))] if blank else []) + choices


class ConfirmForm(FlaskForm):
    """A bare form for POST buttons: it carries the CSRF token and nothing else."""


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class CodeForm(FlaskForm):
    """The second step: a code from the authenticator app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none",
                                  "spellcheck": "false"})


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The passwords do not match."))])
    revoke_tokens = BooleanField(_l("Also revoke my API tokens"), default=False, description=_l(
        "If you think someone else knows your password. Scripts using them will stop working."))


class ElsewhereForm(FlaskForm):
    revoke_tokens = BooleanField(_l("Also revoke my API tokens"), default=True, description=_l(
        "Leave it ticked if a token may have been copied too; untick it to keep your scripts working."))


class PasswordAgainForm(FlaskForm):
    """A sensitive change: the password is asked again."""

    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=200)],
                             render_kw={"autocomplete": "current-password"})


class TwoFactorDisableForm(PasswordAgainForm):
    code = StringField(_l("Code from your app, or a recovery code"), validators=[DataRequired(), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "autocapitalize": "none",
                                  "spellcheck": "false"})


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    preferred_language = SelectField(_l("Language"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.preferred_language.choices = language_choices()


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(message=_l("Enter a valid email address.")), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    council_id = SelectField(_l("Council (clerks only)"), coerce=lambda v: int(v) if v else None,
                             validators=[Optional()])
    preferred_language = SelectField(_l("Language"), validators=[Optional()])
    password = PasswordField(_l("New password"), validators=[Optional(), Length(max=200)],
                             description=_l("Leave empty to keep the current password."))

    def __init__(self, *args, councils=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = role_choices()
        self.council_id.choices = [("", "—")] + [(c.id, c.name) for c in councils]
        self.preferred_language.choices = language_choices()


class NewUserForm(UserForm):
    password = PasswordField(_l("Initial password"), validators=[
        DataRequired(message=_l("Set an initial password.")), Length(max=200)])


def expiry_choices():
    return [("30", _l("30 days")), ("90", _l("90 days")), ("365", _l("1 year")),
            ("date", _l("On a date I choose"))]


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=80)],
                       description=_l("Say what will use it, e.g. \"inventory script\"."))
    expires = SelectField(_l("Expires in"), choices=expiry_choices, default="365")
    expires_on = DateField(_l("Expiry date"), validators=[Optional()],
                           description=_l("Only with \"On a date I choose\"."))
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=200)],
                             description=_l("Asked again: a token acts as you."),
                             render_kw={"autocomplete": "current-password"})


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    # Choices in the reader's words (set by the view from core.audit_labels); a code that is
    # not among them (an old action, a link) still filters.
    object_type = SelectField(_l("Object type"), validators=[Optional(), Length(max=40)], validate_choice=False)
    actor = StringField(_l("Who"), validators=[Optional(), Length(max=254)])
    action = SelectField(_l("Action"), validators=[Optional(), Length(max=40)], validate_choice=False)
