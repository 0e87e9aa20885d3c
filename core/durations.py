"""Durations as technicians type them, and as people read them (integer minutes inside).

Technicians log time from a phone on site, in Catalan, Spanish or English, and type whatever
their keyboard makes easy: "1:30", "1,5 h", "1.5 h", "1h30", "90 min". Storage and the API
only know integer minutes (docs/api-contract.md), so this module is the single place where
free text becomes minutes and minutes become text.

Parsing rules (chosen to be predictable rather than clever):

* a bare number, with no unit, is **refused** (code ``no_unit``): it used to be minutes for
  an integer and hours for a decimal, and "1" saved one minute on billing figures when the
  technician meant an hour (docs/lessons.md, "Daily use"). Saying the unit costs two
  keystrokes; a wrong month of billing costs far more. Zero ("0") is the one exception the
  forms allow where zero makes sense (travel), since it has no unit to mistake;
* ``H:MM`` is hours and minutes ("0:45", "1:30"; minutes must be two digits below 60);
* an hour unit (h, hs, hr, hrs, hora, horas, hores, hour, hours) makes the number hours,
  a minute unit (m, min, mins, minut, minuts, minuto, minutos, minute, minutes, ') minutes;
* hours and minutes combine: "1 h 30", "1h30", "1 h 30 min", "1 hora y 30 minutos",
  "1 hora i 30 minuts", "1 hour and 30 minutes"; the hours are then whole and the minutes
  below 60, since "1 h 75" is far more likely a typo than 2 h 15 min;
* case, spaces (including no-break spaces) and a trailing dot on a unit ("min.") are ignored;
* fractional minutes are rounded to the nearest minute, halves up ("1,33 h" -> 80);
* errors carry a stable ``code`` (``empty``, ``invalid``, ``no_unit``, ``not_positive``, ``too_long``) that
  forms and the API translate; they never carry user text.

Formatting uses the same compact style in ca, es and en ("1 h 30 min", "45 min", "2 h") with
a no-break space between a number and its unit, so a line break never strands "h" on its
own line, and a normal space between the hour and minute groups. Numbers use the locale's
digits and separators through Babel.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from babel import Locale
from babel.numbers import format_decimal, get_minus_sign_symbol

__all__ = [
    "DEFAULT_MAX_MINUTES",
    "NBSP",
    "DurationError",
    "DurationErrorCode",
    "format_duration",
    "format_hours",
    "parse_duration",
]

NBSP = "\u00a0"
DEFAULT_MAX_MINUTES = 1440  # the contract's limit for a time entry: one day

# Anything longer than this is not a duration someone typed; refusing early also keeps huge
# digit strings away from int().
_MAX_INPUT_LENGTH = 40


class DurationErrorCode(StrEnum):
    """Why a duration was refused; stable strings that the UI maps to translated messages."""

    EMPTY = "empty"
    INVALID = "invalid"
    NO_UNIT = "no_unit"
    NOT_POSITIVE = "not_positive"
    TOO_LONG = "too_long"


class DurationError(ValueError):
    """A duration that cannot be accepted; ``code`` says why, ``max_minutes`` the limit."""

    def __init__(self, code: DurationErrorCode, max_minutes: int | None = None) -> None:
        self.code = code
        self.max_minutes = max_minutes
        super().__init__(code.value)


_NUMBER = r"(?:\d+(?:[.,]\d+)?|[.,]\d+)"
_HOUR_UNIT = r"(?:hours|hour|hores|horas|hora|hrs|hr|hs|h)\.?"
_MINUTE_UNIT = r"(?:(?:minutes|minute|minutos|minuto|minuts|minut|mins|min|m)\.?|')"
_JOINER = r"(?:\s*(?:,|\+|y|i|and)\s*|\s*)"

_CLOCK = re.compile(rf"(\d+):(\d{{2}})(?:\s*{_HOUR_UNIT})?")
_HOURS_AND_MINUTES = re.compile(rf"(\d+)\s*{_HOUR_UNIT}{_JOINER}(\d+)\s*(?:{_MINUTE_UNIT})?")
_HOURS = re.compile(rf"({_NUMBER})\s*{_HOUR_UNIT}")
_MINUTES = re.compile(rf"({_NUMBER})\s*{_MINUTE_UNIT}")
_BARE_INTEGER = re.compile(r"\d+")
_BARE_DECIMAL = re.compile(r"\d*[.,]\d+")

# Characters phones and word processors substitute for the ASCII ones we parse.
_TRANSLATE = str.maketrans(
    {
        "\u2019": "'",  # right single quotation mark, iOS "smart" apostrophe
        "\u2032": "'",  # prime, the proper minute sign
        "\u00b4": "'",  # acute accent, next to the apostrophe on Spanish keyboards
        "`": "'",
        "\u2212": "-",  # minus sign
        "\u2013": "-",  # en dash
    }
)


def _normalise(text: str) -> str:
    # Substitute first: NFKC would decompose the acute accent into a space and a combining
    # mark. NFKC then folds no-break and other exotic spaces and full-width digits to ASCII.
    cleaned = unicodedata.normalize("NFKC", text.translate(_TRANSLATE)).strip().lower()
    return re.sub(r"\s+", " ", cleaned)


def _decimal(number: str) -> Decimal:
    return Decimal(number.replace(",", "."))


def _round_minutes(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _parse_magnitude(text: str) -> int | None:
    """Minutes for a sign-less duration, or ``None`` if the text matches no accepted form.

    A bare number raises ``no_unit`` (see the module docstring)."""
    match = _CLOCK.fullmatch(text)
    if match:
        minutes = int(match.group(2))
        return None if minutes >= 60 else int(match.group(1)) * 60 + minutes
    match = _HOURS_AND_MINUTES.fullmatch(text)
    if match:
        minutes = int(match.group(2))
        return None if minutes >= 60 else int(match.group(1)) * 60 + minutes
    match = _HOURS.fullmatch(text)
    if match:
        return _round_minutes(_decimal(match.group(1)) * 60)
    match = _MINUTES.fullmatch(text)
    if match:
        return _round_minutes(_decimal(match.group(1)))
    if _BARE_INTEGER.fullmatch(text) or _BARE_DECIMAL.fullmatch(text):
        if _decimal(text) == 0:
            return 0  # zero has no unit to mistake: it is refused as not positive
        raise DurationError(DurationErrorCode.NO_UNIT)
    return None


def parse_duration(text: str | None, max_minutes: int = DEFAULT_MAX_MINUTES) -> int:
    """Minutes for a duration typed by a person; raises ``DurationError`` with a code.

    Checks run in this order: ``empty`` (nothing but spaces), ``invalid`` (no accepted
    form), ``no_unit`` (a bare number: "1" hour or minute?), ``not_positive`` (zero, a minus sign, or under half a minute), ``too_long``
    (above ``max_minutes``). See the module docstring for the accepted forms.
    """
    if max_minutes < 1:
        raise ValueError("max_minutes must be at least 1")
    if text is None or not text.strip():
        raise DurationError(DurationErrorCode.EMPTY, max_minutes)
    cleaned = _normalise(text)
    if not cleaned:
        raise DurationError(DurationErrorCode.EMPTY, max_minutes)
    if len(cleaned) > _MAX_INPUT_LENGTH:
        raise DurationError(DurationErrorCode.INVALID, max_minutes)
    negative = cleaned.startswith("-")
    try:
        magnitude = _parse_magnitude(cleaned[1:].lstrip() if negative else cleaned)
    except DurationError as exc:
        # A minus sign is wrong whatever the unit: say that, not "add a unit".
        code = DurationErrorCode.NOT_POSITIVE if negative else exc.code
        raise DurationError(code, max_minutes) from None
    if magnitude is None:
        raise DurationError(DurationErrorCode.INVALID, max_minutes)
    if negative or magnitude <= 0:
        raise DurationError(DurationErrorCode.NOT_POSITIVE, max_minutes)
    if magnitude > max_minutes:
        raise DurationError(DurationErrorCode.TOO_LONG, max_minutes)
    return magnitude


def _locale(locale: str | Locale) -> Locale:
    if isinstance(locale, Locale):
        return locale
    # Accept both "es_AR" (gettext style) and "es-AR" (HTTP style).
    return Locale.parse(locale.replace("-", "_"))


def format_duration(minutes: int, locale: str | Locale) -> str:
    """``"1 h 30 min"``, ``"45 min"``, ``"2 h"``, ``"0 min"``, ``"-1 h 30 min"``.

    The unit symbols are the same in ca, es and en (CLDR's short symbols, which everyone in
    the office reads); a no-break space joins each number to its unit, a plain space separates
    the groups, and the locale's minus sign and digit grouping are used. The result parses
    back to the same minutes with ``parse_duration`` for 1 to 1440 minutes.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TypeError(f"minutes must be an int, got {minutes!r}")
    loc = _locale(locale)
    sign = get_minus_sign_symbol(loc) if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    parts = []
    if hours:
        parts.append(f"{format_decimal(hours, format='#,##0', locale=loc)}{NBSP}h")
    if rest or not hours:
        parts.append(f"{rest}{NBSP}min")
    return sign + " ".join(parts)


def format_hours(minutes: int, locale: str | Locale, decimals: int | None = 1) -> str:
    """Minutes as decimal hours for reports: ``"1,5 h"`` in ca/es, ``"1.5 h"`` in en.

    ``decimals=None`` shows as many decimals as the value needs, up to two: ``"2,25 h"`` for
    135 minutes, ``"3 h"`` for 180, ``"1,67 h"`` for 100 (beside a duration, where a rounded
    "2,3 h" would contradict the "2 h 15 min" next to it).

    The value is rounded half up to ``decimals`` places before Babel formats it (Babel alone
    rounds half to even, which makes 3 minutes "0,0 h" but 9 minutes "0,2 h"), and Babel
    applies the locale's decimal and grouping separators: Babel 2.18 groups four-digit numbers
    in ca and es too ("1.234,5 h"), ignoring CLDR's minimum-grouping-digits rule for Spanish.
    A negative result that rounds to zero is shown as zero, never "-0,0 h".
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TypeError(f"minutes must be an int, got {minutes!r}")
    needed = decimals is None
    if needed:
        decimals = 2
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise ValueError("decimals must be an int from 0 to 6")
    quantum = Decimal(1).scaleb(-decimals)
    value = (Decimal(minutes) / 60).quantize(quantum, rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)
    digit = "#" if needed else "0"
    pattern = "#,##0" + ("." + digit * decimals if decimals else "")
    return f"{format_decimal(value, format=pattern, locale=_locale(locale))}{NBSP}h"
