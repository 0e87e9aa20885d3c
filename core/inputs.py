"""Shared rules for values that arrive as text from outside: digits, dates, query strings.

Each rule exists because its absence was a 500 (issue 14): `str.isdigit()` accepts "²" and
"٣", which `int()` then refuses; a date at year 1 or 9999 with an offset overflows when it is
converted to UTC or moved by a day; a query key named like one of `url_for`'s own arguments
(`endpoint`, `_method`, `slug` on a page whose path has a slug) breaks the building of the
page's next link. Everything here is pure: no request, no database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

__all__ = ["EARLIEST_YEAR", "LATEST_YEAR", "BoundedAwareDatetime", "Day", "ascii_int", "date_in_range", "id_arg",
           "is_ascii_digits", "parse_day", "url_args"]

# No agreement, ticket or check lies outside these years, and arithmetic at their edges
# (a day more, a zone offset) stays far from datetime's limits of years 1 and 9999.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200

_DIGITS = re.compile(r"[0-9]+\Z")
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")

# Keywords of `url_for` itself, which a query string must never set.
_URL_FOR_KEYWORDS = frozenset({"endpoint", "values"})


def is_ascii_digits(text) -> bool:
    """True for a non-empty run of the ASCII digits 0-9 only ("²" and "٣" are not)."""
    return isinstance(text, str) and _DIGITS.match(text) is not None


def ascii_int(text, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """The integer written in ASCII digits, within [minimum, maximum]; None for anything else.

    Long runs are refused before conversion: Python limits int() of huge strings anyway, and
    no identifier here is longer than 18 digits."""
    if not is_ascii_digits(text) or len(text) > 18:
        return None
    value = int(text)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        return None
    return value


def id_arg(args: Mapping[str, str], name: str) -> int | None:
    """An id from a query string or form (`?council=12`): None when absent, not ASCII digits or
    past the 32-bit ids of both databases (Werkzeug's `type=int` takes "²" and 10**20 alike)."""
    return ascii_int(args.get(name), minimum=1, maximum=2**31 - 1)


def date_in_range(value: dt.date | dt.datetime) -> bool:
    """Whether the year of `value` (as written, before any zone conversion) lies in 1900-2200."""
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def parse_day(text) -> dt.date | None:
    """'2026-03-17' → that date, within 1900-2200; None for anything else."""
    if not isinstance(text, str):
        return None
    match = _DAY.match(text.strip())
    if not match:
        return None
    try:
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return day if date_in_range(day) else None


def _check_range(value: dt.datetime) -> dt.datetime:
    if not date_in_range(value):
        raise ValueError(f"must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


# A timestamp with an offset, refused (422) outside 1900-2200 before anything converts it.
BoundedAwareDatetime = Annotated[AwareDatetime, AfterValidator(_check_range)]


def _day_text(value):
    # Pydantic's lax date also takes "0" or "1700000000" (Unix times) and "2027-1-4"; a day in
    # a query string or body is written YYYY-MM-DD, nothing else. (Any year: the services
    # clamp a range to what they can compute, and the contract names no bounds.)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    match = _DAY.match(value.strip()) if isinstance(value, str) else None
    if match:
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise ValueError("must be a date written YYYY-MM-DD")


# A calendar day written YYYY-MM-DD, refused (422) in any other form.
Day = Annotated[dt.date, BeforeValidator(_day_text)]


def url_args(args: Mapping[str, str], allowed: Iterable[str] | None = None, *,
             path_args: Iterable[str] = ()) -> dict[str, str]:
    """Query arguments safe to pass on to `url_for`.

    With `allowed`, only those keys are kept (the filters a page knows); in every case keys
    that `url_for` would read as its own (`endpoint`, `values`, anything starting with "_")
    or as one of the target's path arguments (`path_args`) are dropped.
    """
    keep = None if allowed is None else set(allowed)
    blocked = set(path_args)
    out = {}
    for key, value in args.items():
        if keep is not None and key not in keep:
            continue
        if key in _URL_FOR_KEYWORDS or key.startswith("_") or key in blocked:
            continue
        out[key] = value
    return out
