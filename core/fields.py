"""Form fields that read numbers the way the reader writes them.

WTForms' IntegerField and DecimalField read Python literals: "1.150", which the app itself
shows for 1,150 inhabitants in Catalan and Spanish, came back refused twice ("not a valid
integer" and "required"). These fields parse with the page's locale through Babel, show
their value the same way, and give one message that says what to type.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.validators import StopValidation
from wtforms.widgets import TextInput

from core.i18n import locale_code
from core.numbers import parse_number


class LocaleNumberField(Field):
    """A number typed in the page's locale: "1.150" in ca/es, "1,150" in en, or plain "1150"."""

    widget = TextInput()
    places: int | None = None  # None: whole numbers only
    invalid_message = _l("Enter a whole number, for example %(example)s.")

    def __init__(self, label=None, validators=None, **kwargs):
        render_kw = kwargs.setdefault("render_kw", {})
        render_kw.setdefault("inputmode", "numeric" if self.places is None else "decimal")
        super().__init__(label, validators, **kwargs)
        self._typed = None
        self._invalid = False

    def _value(self):
        if self._typed is not None:
            return self._typed  # what was typed comes back as typed, valid or not
        if self.data is None:
            return ""
        pattern = "#,##0" if self.places is None else "#,##0." + "#" * self.places
        return format_decimal(self.data, pattern, locale=locale_code())

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        self._typed = valuelist[0]
        if not self._typed.strip():
            self.data = None
            return
        number = parse_number(self._typed, locale_code())
        if number is None or (self.places is None and number != number.to_integral_value()):
            self.data = None
            self._invalid = True
            return
        self.data = int(number) if self.places is None else round(number, self.places)

    def pre_validate(self, form):
        if self._invalid:
            # One message, not one per validator: the range checks have nothing to check.
            example = format_decimal(1150 if self.places is None else Decimal("12.5"), locale=locale_code())
            raise StopValidation(str(self.invalid_message) % {"example": example})


class LocaleIntegerField(LocaleNumberField):
    pass


class LocaleDecimalField(LocaleNumberField):
    places = 2
    invalid_message = _l("Enter a number, for example %(example)s.")
