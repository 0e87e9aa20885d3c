"""Mail intake's forms: accepting a held message into a council, and a mailbox."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class AcceptForm(FlaskForm):
    council_id = SelectField(_l("Council"), coerce=int, validators=[InputRequired(message=_l("Choose a council."))])


class MailboxForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    host = StringField(_l("IMAP server"), validators=[DataRequired(), Length(max=253)])
    port = IntegerField(_l("Port"), default=993, validators=[InputRequired(), NumberRange(1, 65535)])
    security = SelectField(_l("Security"), choices=[("ssl", _l("TLS (port 993)")), ("starttls", _l("STARTTLS")),
                                                    ("none", _l("None (loopback only)"))])
    folder = StringField(_l("Folder to read"), default="INBOX", validators=[Optional(), Length(max=200)])
    processed_folder = StringField(_l("Move processed mail to"), validators=[Optional(), Length(max=200)],
                                   description=_l("Leave empty to leave it where it is."))
    username = StringField(_l("User"), validators=[DataRequired(), Length(max=254)])
    auth = SelectField(_l("Sign-in"), choices=[("password", _l("Password")),
                                               ("xoauth2", _l("OAuth 2 (Microsoft 365, Gmail)"))])
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=500)],
                             description=_l("Leave empty to keep the stored one."))
    oauth_token_url = StringField(_l("OAuth token endpoint"), validators=[Optional(), Length(max=500)])
    oauth_client_id = StringField(_l("OAuth client id"), validators=[Optional(), Length(max=300)])
    oauth_client_secret = PasswordField(_l("OAuth client secret"), validators=[Optional(), Length(max=500)],
                                        description=_l("Leave empty to keep the stored one."))
    oauth_scope = StringField(_l("OAuth scope"), validators=[Optional(), Length(max=500)])
    refresh_token = PasswordField(_l("OAuth refresh token"), validators=[Optional(), Length(max=4000)],
                                  description=_l("Leave empty to keep the stored one."))
    active = BooleanField(_l("Read this mailbox"), default=True)
