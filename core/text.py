"""One rule for text people write: no control characters, no invisible formatting ones.

Bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), zero-width characters,
the byte-order mark and the other format characters (Unicode category Cf) make a text read
differently from what it is: "invoice\u202efdp.exe.txt" shows as "invoicetxt.exe.pdf".
Control characters (Cc) break pages, exports, PDFs and mail headers. Council names and agent
input refused both first; ticket titles, comments, asset fields, time-entry descriptions and
attachment names use this module too, through the services (`text_problem`) and the forms
(`CleanText`), so the API and the pages answer alike.
"""

from __future__ import annotations

import unicodedata

from flask_babel import lazy_gettext as _l

__all__ = ["CleanText", "has_hidden_characters", "text_problem"]

# Line and paragraph separators (Zl, Zp) end lines that nobody sees end.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset("\n\r\t")


def has_hidden_characters(value: str, *, multiline: bool = False) -> bool:
    """True when `value` holds a control or invisible formatting character (tabs and line
    breaks are allowed in multi-line text)."""
    allowed = _MULTILINE_ALLOWED if multiline else frozenset()
    return any(unicodedata.category(c) in _REFUSED_CATEGORIES and c not in allowed for c in value)


def text_problem(value, *, multiline: bool = False):
    """The message to show for `value`, or None when it is acceptable text."""
    if isinstance(value, str) and has_hidden_characters(value, multiline=multiline):
        return _l("Contains control or invisible characters (such as a right-to-left override).")
    return None


class CleanText:
    """WTForms validator: the same rule as `text_problem`, next to the field."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline
        self.field_flags = {}

    def __call__(self, form, field):
        from wtforms.validators import ValidationError

        problem = text_problem(field.data, multiline=self.multiline)
        if problem is not None:
            raise ValidationError(str(problem))
