"""Numbers as people read them: shares that never claim 100 % or 0 % falsely, and numbers typed
in the reader's locale.

A manager who reads "100 % on time" for 1,350 of 1,353 tickets, or a clerk who reads "0 %
left" with eleven minutes to spare, has been told something false by rounding. A share is
therefore shown with the pattern's decimals unless that rounding lands on one of the round
figures people act on (0 %, 100 %, -100 %) while the value is not exactly that figure; then
one more decimal at a time is shown, up to three, and past that the value is cut towards the
truth ("99,999 %", never "100,000 %").
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation

from babel import Locale
from babel.numbers import NumberFormatError, format_percent, parse_decimal

__all__ = ["format_share", "parse_number"]

# Figures a reader takes at face value; a rounding that produces one of them must be exact.
_LANDMARKS = (Decimal(0), Decimal(100), Decimal(-100))
_EXTRA_DECIMALS = 3


def _pattern_decimals(pattern: str) -> tuple[int, int]:
    """(minimum, maximum) decimals of a Babel percent pattern such as ``#,##0.0#`` ."""
    fraction = pattern.split(".", 1)[1] if "." in pattern else ""
    fraction = re.sub(r"[^0#].*", "", fraction)
    return fraction.count("0"), len(fraction)


def format_share(ratio, locale: str | Locale, pattern: str = "#,##0 %") -> str:
    """``ratio`` (0.998 for 99.8 %) as a percentage with the decimals of ``pattern`` (a Babel
    percent pattern such as ``#,##0.# %``; only its decimals are read: grouping and the space
    before the sign are always the same).

    The pattern's decimals are kept unless rounding would show 0 %, 100 % or -100 % for a value
    that is not exactly that; see the module docstring.
    """
    value = Decimal(str(ratio)) * 100
    least, most = _pattern_decimals(pattern)
    shown = value.quantize(Decimal(1).scaleb(-most), rounding=ROUND_HALF_UP)
    decimals = most
    while shown in _LANDMARKS and shown != value and decimals < most + _EXTRA_DECIMALS:
        decimals += 1
        shown = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if shown in _LANDMARKS and shown != value:
        # Still a landmark: cut towards the value so that the figure stays on its true side.
        toward_value = ROUND_FLOOR if value < shown else ROUND_CEILING
        shown = value.quantize(Decimal(1).scaleb(-decimals), rounding=toward_value)
    if decimals > most:
        least = decimals  # the extra decimals are the point: show them even when zero
    fraction = "." + "0" * least + "#" * (decimals - least) if decimals else ""
    return format_percent(shown / 100, f"#,##0{fraction} %", locale=locale)


def parse_number(text: str, locale: str | Locale) -> Decimal | None:
    """A number typed as the locale writes it ("1.150" in ca/es, "1,150" in en), or ``None``.

    Babel's parser is strict about grouping (it refuses "1.15.0"); a plain number without
    separators is accepted in every locale. Spaces (including no-break ones) are ignored.
    """
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", text or "")
    if not cleaned:
        return None
    if re.fullmatch(r"\d+", cleaned):
        return Decimal(cleaned)
    try:
        return parse_decimal(cleaned, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        return None
