"""Forms of the health pages. Rules live in remote.check_config, remote.ssh_settings and
remote.hostkey_approval; these only parse what a browser can send malformed, and never show a
stored secret back (the key fields are write-only)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.inputs import ascii_int, is_ascii_digits
from remote import texts


class SshSettingsForm(FlaskForm):
    host = StringField(_l("Host name or IP address"), validators=[DataRequired(), Length(max=255)])
    port = IntegerField(_l("Port"), default=22, validators=[Optional(), NumberRange(min=1, max=65535)])
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)],
                           description=_l("A monitoring account with /bin/sh as its shell, not root."))
    private_key = TextAreaField(_l("Private key"), validators=[Optional(), Length(max=16_384)],
                                description=_l("Paste it to replace the stored one; leave empty to keep it. "
                                               "It is stored encrypted and never shown again."))
    passphrase = PasswordField(_l("Key passphrase"), validators=[Optional(), Length(max=1024)])
    generate_key = BooleanField(_l("Generate a new key pair for me (when no key is stored)"), default=True)
    enabled = BooleanField(_l("Run the SSH checks of this asset"), default=True)

    def values(self) -> dict:
        return {"host": self.host.data, "port": self.port.data or 22, "username": self.username.data,
                "private_key": self.private_key.data or "", "passphrase": self.passphrase.data or None,
                "generate_key": self.generate_key.data, "enabled": self.enabled.data}


class CheckForm(FlaskForm):
    kind = SelectField(_l("Check"), validators=[DataRequired()])
    mount = StringField(texts.param_labels()["mount"], default="/", validators=[Optional(), Length(max=1024)])
    window = SelectField(texts.param_labels()["window"], default="5",
                         choices=[("1", "1"), ("5", "5"), ("15", "15")])
    unit = StringField(texts.param_labels()["unit"], validators=[Optional(), Length(max=256)],
                       description=_l("For example nginx.service or smbd.service."))
    path = StringField(texts.param_labels()["path"], validators=[Optional(), Length(max=1024)],
                       description=_l("Where the backups land, such as /srv/backups."))
    interval_minutes = IntegerField(_l("Every (minutes)"), default=5,
                                    validators=[Optional(), NumberRange(min=1, max=1440)])
    warning = FloatField(_l("Warning at"), validators=[Optional()])
    critical = FloatField(_l("Critical at"), validators=[Optional()])

    PARAMS = {"disk": ("mount",), "load": ("window",), "systemd_unit": ("unit",), "backup_freshness": ("path",)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(k, label) for k, label in texts.catalogue_labels().items()]

    def values(self) -> dict:
        kind = self.kind.data
        params = {}
        for name in self.PARAMS.get(kind, ()):
            value = getattr(self, name).data
            params[name] = ascii_int(value) if name == "window" and is_ascii_digits(value) else value
        minutes = self.interval_minutes.data
        return {"kind": kind, "params": params, "warning": self.warning.data, "critical": self.critical.data,
                "interval_seconds": minutes * 60 if minutes else None}


class CheckEditForm(FlaskForm):
    warning = FloatField(_l("Warning at"), validators=[Optional()])
    critical = FloatField(_l("Critical at"), validators=[Optional()])
    interval_minutes = IntegerField(_l("Every (minutes)"), validators=[Optional(), NumberRange(min=1, max=1440)])
    severity = SelectField(texts.param_labels()["severity"], validators=[Optional()],
                           choices=[("critical", _l("Critical: it should always be on (servers, network)")),
                                    ("warning", _l("Warning: it may be switched off (PCs at night)"))])
    enabled = BooleanField(_l("Check turned on"))

    def values(self, check) -> dict:
        values = {"warning": self.warning.data, "critical": self.critical.data, "enabled": self.enabled.data}
        if check.source == "ssh" and check.kind != "host_key" and self.interval_minutes.data:
            values["interval_seconds"] = self.interval_minutes.data * 60
        if check.kind == "offline":
            values["severity"] = self.severity.data
        return values


class HostKeyDecisionForm(FlaskForm):
    confirm = BooleanField(_l("I compared this fingerprint with the one the machine itself shows "
                              "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)"))
