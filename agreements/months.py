"""Months as the hours ledger counts them: a month is its first day (a `date`), written YYYY-MM.

Agreements run over whole months, usage is per month, closes are per month: every module
that speaks of a month uses these helpers, so "the month of a date" has one definition.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from flask import current_app

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# What parse_month accepts, years 1900–2200, so that the OpenAPI document says it too.
MONTH_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])$"


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month_start(month), 1) - dt.timedelta(days=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every month from `first` to `last`, both included (empty when last < first)."""
    out = []
    month = month_start(first)
    last = month_start(last)
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def parse_month(text: str | None) -> dt.date | None:
    """'2026-03' → date(2026, 3, 1); None for anything else. Years 1900–2200 only: no agreement
    lies outside them, and month arithmetic near year 9999 would overflow."""
    if not isinstance(text, str):
        return None
    match = _MONTH.match(text.strip())
    if not match or not 1900 <= int(match.group(1)) <= 2200:
        return None
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def format_month(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def office_today() -> dt.date:
    """Today in the office's time zone: months begin and end at the office's midnight."""
    return dt.datetime.now(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).date()
