from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from inventory import labels, services
from inventory.models import KINDS, MEDIA, STATUSES


class AssetForm(FlaskForm):
    """Every field of an asset; the template shows those of the kind (inventory.labels.KIND_FIELDS).

    Field-level rules (tag format, IP address, date order, uniqueness) live in the service,
    whose errors come back next to the fields; the validators here only catch what the
    browser can send malformed.
    """

    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    tag = StringField(_l("Tag"), validators=[Optional(), Length(max=40)],
                      description=_l("Unique in the council, e.g. MURA-PC-004. The next free one is suggested."))
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)],
                       description=_l("What people call it, e.g. \"Reception PC\" or \"Mayor's signature certificate\"."))
    status = SelectField(_l("Status"), validators=[DataRequired()])
    manufacturer = StringField(_l("Manufacturer"), validators=[Optional(), Length(max=120)])
    model = StringField(_l("Model"), validators=[Optional(), Length(max=120)])
    serial = StringField(_l("Serial number"), validators=[Optional(), Length(max=120)])
    hostname = StringField(_l("Host name"), validators=[Optional(), Length(max=253)])
    ip_address = StringField(_l("IP address"), validators=[Optional(), Length(max=45)])
    os = StringField(_l("Operating system"), validators=[Optional(), Length(max=120)])
    holder = StringField(_l("Holder"), validators=[Optional(), Length(max=200)])
    issuer = StringField(_l("Issuer"), validators=[Optional(), Length(max=120)])
    media = SelectField(_l("Medium"), validators=[Optional()])
    seats = IntegerField(_l("Seats"), validators=[Optional(), NumberRange(min=0, max=services.MAX_SEATS)])
    purchased_on = DateField(_l("Purchased on"), validators=[Optional()])
    warranty_until = DateField(_l("Warranty until"), validators=[Optional()])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)],
                           description=_l("Where it is: building and room."))
    assigned_to = StringField(_l("Assigned to"), validators=[Optional(), Length(max=120)],
                              description=_l("The person who uses it or answers for it."))
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=5000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(k, labels.kind_labels()[k]) for k in KINDS]
        self.status.choices = [(s, labels.status_labels()[s]) for s in STATUSES]
        self.media.choices = [("", "—")] + [(m, labels.media_labels()[m]) for m in MEDIA]

    def values(self, *, creating: bool) -> dict:
        values = {name: getattr(self, name).data for name in services.EDITABLE_FIELDS}
        values["media"] = values["media"] or None
        if creating and not (values["tag"] or "").strip():
            values["tag"] = None  # the service suggests one
        return values

    def relabel(self, kind: str | None) -> None:
        """Labels read as the kind means them (a domain's "issuer" is its registrar)."""
        for name, label in labels.field_labels(kind).items():
            field = getattr(self, name, None)
            if field is not None and name in services.EDITABLE_FIELDS:
                field.label.text = label


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), validators=[DataRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = [(s, labels.status_labels()[s]) for s in STATUSES]


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired(message=_l("Choose a CSV file."))])


class ImportConfirmForm(FlaskForm):
    upload = HiddenField(validators=[DataRequired()])
