"""Reading the business calendar's configuration: working hours and holidays.

Config files are plain text ("08:00-14:00, 16:00-18:00", "2026-04-06", "12-25"), so the
calendar (core.calendar) takes its weekly hours and holiday dates from here, validated once at
start-up: a mistake in config fails loudly instead of silently moving every due date.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time

__all__ = ["IntervalSpec", "Weekly", "holidays_from_config", "parse_intervals", "validated_day"]

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_INTERVAL_SPLIT = re.compile(r"\s*[-\u2013]\s*")

IntervalSpec = str | Iterable[str | tuple[str | time | int, str | time | int]]
Weekly = tuple[tuple[tuple[int, int], ...], ...]


def _minute_of_day(value: str | time | int) -> int:
    """Read "HH:MM" (00:00-24:00), a ``time`` or an int of minutes since midnight."""
    if isinstance(value, bool):
        raise ValueError(f"not a time of day: {value!r}")
    if isinstance(value, int):
        minute = value
    elif isinstance(value, time):
        if value.second or value.microsecond:
            raise ValueError(f"working hours are whole minutes, got {value!r}")
        minute = value.hour * 60 + value.minute
    else:
        match = _HHMM.match(value)
        if not match:
            raise ValueError(f"not a HH:MM time: {value!r}")
        hours, minutes = int(match.group(1)), int(match.group(2))
        if minutes >= 60:
            raise ValueError(f"not a HH:MM time: {value!r}")
        minute = hours * 60 + minutes
    if not 0 <= minute <= 1440:
        raise ValueError(f"time of day out of range 00:00-24:00: {value!r}")
    return minute


def parse_intervals(spec: IntervalSpec) -> tuple[tuple[int, int], ...]:
    """Turn config text like ``"08:00-14:00, 16:00-18:00"`` into minute-of-day pairs.

    Also accepts an iterable of ``"HH:MM-HH:MM"`` strings or of ``(start, end)`` pairs. An
    empty spec means "closed". Intervals must be ordered and must not overlap: overlapping
    shifts in config are almost always a typo and would double-count nothing, silently.
    """
    items: list[str | tuple[str | time | int, str | time | int]]
    if isinstance(spec, str):
        items = [part for part in (p.strip() for p in spec.split(",")) if part]
    else:
        items = list(spec)
    result: list[tuple[int, int]] = []
    for item in items:
        if isinstance(item, str):
            parts = _INTERVAL_SPLIT.split(item.strip())
            if len(parts) != 2:
                raise ValueError(f"not a HH:MM-HH:MM interval: {item!r}")
            start, end = _minute_of_day(parts[0]), _minute_of_day(parts[1])
        else:
            first, second = item
            start, end = _minute_of_day(first), _minute_of_day(second)
        result.append((start, end))
    return validated_day(result)


def validated_day(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    day = tuple((int(s), int(e)) for s, e in intervals)
    previous_end = -1
    for start, end in day:
        if not 0 <= start < end <= 1440:
            raise ValueError(f"invalid working interval {start}-{end} (minutes of day)")
        if start < previous_end:
            raise ValueError("working intervals of a day must be ordered and not overlap")
        previous_end = end
    return day


def holidays_from_config(
    dates: Iterable[str | date] = (),
    recurring: Iterable[str] = (),
    years: Iterable[int] = (),
) -> frozenset[date]:
    """Build the holiday set from config: ``"YYYY-MM-DD"`` dates and ``"MM-DD"`` fixed ones.

    Fixed holidays (1 January, 1 May, 11 September, 25 December...) are expanded for each of
    ``years`` so the config does not have to repeat them yearly; movable ones (Easter Monday,
    local festa major) must be listed as dates. ``"02-29"`` is skipped in non-leap years
    rather than raising, because a recurring rule cannot know the year it will meet.
    """
    result: set[date] = set()
    for item in dates:
        if isinstance(item, date):
            result.add(item)
            continue
        try:
            result.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise ValueError(f"holiday is not a YYYY-MM-DD date: {item!r}") from None
    fixed: list[tuple[int, int]] = []
    for item in recurring:
        match = re.fullmatch(r"\s*(\d{2})-(\d{2})\s*", item)
        if not match:
            raise ValueError(f"recurring holiday is not MM-DD: {item!r}")
        month, day = int(match.group(1)), int(match.group(2))
        try:
            date(2000, month, day)  # 2000 is a leap year: accepts 02-29
        except ValueError:
            raise ValueError(f"recurring holiday is not a valid MM-DD: {item!r}") from None
        fixed.append((month, day))
    for year in years:
        for month, day in fixed:
            try:
                result.add(date(year, month, day))
            except ValueError:
                continue  # 29 February outside leap years
    return frozenset(result)

