"""What every human-facing CSV and XLSX export shares: sheet names Excel accepts, and durations
as people read them next to the numbers spreadsheets add up.

Durations are integer minutes everywhere else; a column of minutes ("135") is read by nobody,
so exports give the duration as h:mm text ("2:15") and, where a column is summed, decimal hours
as a number (2.25), written with as many decimals as the value needs (up to four: 10 minutes
is 0.1667 h; rounding to one decimal would make 2 h 15 min read "2.3").
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_decimal

SHEET_MAX = 31  # Excel refuses longer sheet names; openpyxl only warns
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Words a cut title must not end on ("Tickets by category and", "Incidències per categoria i").
_DANGLING = frozenset({
    "and", "or", "of", "by", "per", "for", "the", "a", "in", "to", "with",
    "i", "o", "de", "del", "dels", "la", "les", "el", "els", "amb", "en",
    "y", "e", "u", "los", "las", "con", "por", "para",
})


def _fit(title: str, limit: int) -> str:
    """`title` within `limit` characters, cut after a whole word (and not after a word that
    leaves the rest hanging); a single word longer than the limit is the only thing cut."""
    if len(title) <= limit:
        return title
    words = title.split()
    kept: list[str] = []
    for word in words:
        if len(" ".join([*kept, word])) > limit:
            break
        kept.append(word)
    while len(kept) > 1 and kept[-1].lower().strip(",;") in _DANGLING:
        kept.pop()
    if not kept:
        return title[:limit].rstrip()
    return " ".join(kept).rstrip(",;:-–")


def sheet_title(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts, unique in the workbook (`taken` holds the lower-cased names
    already used and gets this one): forbidden characters replaced, at most 31 characters cut
    on a word boundary, a number added when two titles would be equal."""
    clean = re.sub(r"\s+", " ", _SHEET_FORBIDDEN.sub(" ", str(title))).strip().strip("'").strip() or "Sheet"
    candidate = _fit(clean, SHEET_MAX)
    n = 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate = _fit(clean, SHEET_MAX - len(suffix)) + suffix
        n += 1
    taken.add(candidate.lower())
    return candidate


def hm(minutes: int | None) -> str:
    """135 → "2:15", 5 → "0:05", -90 → "-1:30"; None → ""."""
    if minutes is None:
        return ""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(int(minutes)), 60)
    return f"{sign}{hours}:{rest:02d}"


def decimal_hours(minutes: int | None) -> Decimal | None:
    """Minutes as hours, to four decimals at most, trailing zeros dropped (135 → 2.25)."""
    if minutes is None:
        return None
    value = (Decimal(int(minutes)) / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return value.normalize() if value != value.to_integral() else value.quantize(Decimal(1))


def decimal_hours_text(minutes: int | None, locale: str) -> str:
    """Decimal hours for a CSV cell in the reader's locale: "2,25" in ca/es, "2.25" in en,
    without digit grouping (a spreadsheet reads "1.234,5" as text in some locales)."""
    value = decimal_hours(minutes)
    if value is None:
        return ""
    return format_decimal(value, format="0.####", locale=locale.replace("-", "_"))
