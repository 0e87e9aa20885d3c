"""Business-time calendar and SLA clocks for tickets.

Council clerks judge us by office hours, not wall-clock hours: a ticket opened on Friday at
14:45 with two hours to go is due on Monday morning, not on Friday evening. Everything here is
pure Python (zoneinfo, bisect) so services, the API, the scheduler and reports share one
definition of "business time" without touching Flask or the database.

Definitions (the rules every function here follows):

* **Business time** is real elapsed time (UTC seconds) that falls inside a working interval of
  the office's local calendar: working weekdays, per-weekday intervals (split shifts allowed),
  minus holidays (local dates).
* **DST.** Each local interval is mapped to one UTC interval with the rule "from the first
  instant at which the office's wall clock reads the opening time to the first instant at
  which it reads the closing time". Consequences, chosen on purpose:
  - a bound that falls in the hour skipped in spring (02:00-03:00 in Europe/Madrid) snaps to
    the transition instant (03:00 CEST): the office "opens" as soon as the clock shows a time
    at or after its opening time;
  - a bound that falls in the hour repeated in autumn resolves to its *first* occurrence, so
    an interval spanning the repeated hour lasts one real hour longer, and one spanning the
    skipped hour one real hour shorter, exactly as a person working it would experience;
  - every interval stays one contiguous UTC interval, and adjacent intervals stay adjacent.
  With the default 08:00-15:00 day none of this is visible: the change happens at night.
* **Rounding.** Internally everything is exact to the microsecond. Minutes reported to callers
  are whole business seconds floored to minutes (59 s of business time is 0 minutes), and a
  sum of intervals is floored once, after adding, never per interval.
* ``add_business_minutes(s, m)`` is the *earliest* instant ``t >= s`` such that ``m`` minutes
  of business time lie in ``[s, t)``. So ``m == 0`` returns ``s`` unchanged; for ``m > 0`` a
  start outside business hours begins counting at the next opening, and the result always lies
  inside a working interval or exactly at its closing instant (a ticket whose time runs out at
  15:00 is due at 15:00, not at 08:00 the next working day). For every ``s`` (inside or
  outside business hours) ``business_minutes_between(s, add_business_minutes(s, m)) == m``.

Performance: the calendar lazily builds, per local year, the sorted UTC working intervals and
their cumulative business time, so both directions are a couple of binary searches; nothing
loops minute by minute or day by day on a query.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CLOCK_PAUSED_STATUSES",
    "CLOCK_RUNNING_STATUSES",
    "CLOCK_STOPPED_STATUSES",
    "DEFAULT_SLA_TARGETS",
    "DEFAULT_WARNING_PERCENT",
    "PRIORITIES",
    "TICKET_STATUSES",
    "BusinessCalendar",
    "ClockPhase",
    "ClockState",
    "SlaClock",
    "SlaTarget",
    "TicketSla",
    "evaluate_clock",
    "first_response_intervals",
    "holidays_from_config",
    "parse_intervals",
    "resolution_intervals",
    "sla_targets",
    "ticket_sla",
]

# --------------------------------------------------------------------------------------------
# Domain constants
# --------------------------------------------------------------------------------------------

TICKET_STATUSES: tuple[str, ...] = (
    "new",
    "assigned",
    "in_progress",
    "waiting_council",
    "resolved",
    "closed",
)
# The clock runs while the office owes the council work, pauses while the office waits on the
# council (lessons.md: "business-hours SLAs that pause while waiting on the customer"), and
# stops once the office considers the work done.
CLOCK_RUNNING_STATUSES: frozenset[str] = frozenset({"new", "assigned", "in_progress"})
CLOCK_PAUSED_STATUSES: frozenset[str] = frozenset({"waiting_council"})
CLOCK_STOPPED_STATUSES: frozenset[str] = frozenset({"resolved", "closed"})

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")

DEFAULT_WARNING_PERCENT = 75


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """Business minutes allowed for the first public reply and for resolution."""

    first_response_minutes: int
    resolution_minutes: int

    def __post_init__(self) -> None:
        for name in ("first_response_minutes", "resolution_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer of minutes, got {value!r}")


# Targets in business minutes on the default 7-hour office day (08:00-15:00, 420 minutes).
# They are expressed in whole office days wherever possible because that is how a clerk
# thinks ("by tomorrow", "within the week"):
# - urgent (e-administration or the whole town hall down, a registry deadline at stake):
#   reply within half an hour, fixed within 4 office hours, the same day if opened early;
# - high (one department blocked, a certificate expiring): reply within 2 h, fixed within
#   2 office days (840);
# - normal (one PC or printer failing, a workaround exists): reply the same day (4 h), fixed
#   within a working week (5 x 420 = 2100);
# - low (requests, small changes): reply by the next office day (420), fixed within two
#   working weeks (10 x 420 = 4200), which fits the monthly on-site visit cycle.
# The app overrides any of them through config with sla_targets().
DEFAULT_SLA_TARGETS: Mapping[str, SlaTarget] = MappingProxyType(
    {
        "urgent": SlaTarget(first_response_minutes=30, resolution_minutes=240),
        "high": SlaTarget(first_response_minutes=120, resolution_minutes=840),
        "normal": SlaTarget(first_response_minutes=240, resolution_minutes=2100),
        "low": SlaTarget(first_response_minutes=420, resolution_minutes=4200),
    }
)


def sla_targets(
    overrides: Mapping[str, SlaTarget | Mapping[str, int] | Sequence[int]] | None = None,
    base: Mapping[str, SlaTarget] = DEFAULT_SLA_TARGETS,
) -> dict[str, SlaTarget]:
    """Merge configured targets over the defaults, validating them at start-up.

    Config files are plain data, so each override may be a ``SlaTarget``, a mapping with
    ``first_response`` / ``resolution`` (or the ``*_minutes`` names), or a pair
    ``(first_response, resolution)``. Partial mappings keep the other value from ``base``.
    Unknown priorities raise ``ValueError`` instead of being silently ignored, since a typo in
    config would otherwise leave a priority on the default without anyone noticing.
    """
    merged = dict(base)
    for priority, value in (overrides or {}).items():
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority in SLA targets: {priority!r}")
        current = merged[priority]
        if isinstance(value, SlaTarget):
            merged[priority] = value
        elif isinstance(value, Mapping):
            allowed = {
                "first_response",
                "resolution",
                "first_response_minutes",
                "resolution_minutes",
            }
            unknown = set(value) - allowed
            if unknown:
                raise ValueError(f"unknown SLA target keys for {priority!r}: {sorted(unknown)}")
            first = value.get(
                "first_response",
                value.get("first_response_minutes", current.first_response_minutes),
            )
            resolution = value.get(
                "resolution", value.get("resolution_minutes", current.resolution_minutes)
            )
            merged[priority] = SlaTarget(first, resolution)
        elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
            merged[priority] = SlaTarget(value[0], value[1])
        else:
            raise ValueError(f"cannot read SLA target for {priority!r}: {value!r}")
    return merged


# --------------------------------------------------------------------------------------------
# Instants as integer microseconds since the epoch: exact, and cheap to compare and bisect.
# --------------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_DAY = 86_400 * _US_PER_SECOND
_US_PER_AVG_YEAR = 31_556_952 * _US_PER_SECOND  # mean Gregorian year, only to guess a year
# Far enough for any ticket, and keeps year blocks (and datetime arithmetic) away from the
# datetime.max overflow.
_MIN_YEAR = 1900
_MAX_YEAR = 9000


def _to_us(value: datetime) -> int:
    """Aware datetime to exact UTC microseconds; naive datetimes are refused.

    Naive values are the classic source of one- or two-hour SLA errors (local time stored as
    if it were UTC), so they are an error rather than an assumption.
    """
    if value.tzinfo is None:
        raise ValueError(f"aware datetime required (UTC), got naive {value!r}")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _naive_us(value: datetime) -> int:
    delta = value - _EPOCH.replace(tzinfo=None)
    return (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


def _offset_us(offset: timedelta | None) -> int:
    if offset is None:  # pragma: no cover - zoneinfo always answers
        raise ValueError("time zone returned no UTC offset")
    return (offset.days * 86_400 + offset.seconds) * _US_PER_SECOND + offset.microseconds


# --------------------------------------------------------------------------------------------
# Config parsing helpers
# --------------------------------------------------------------------------------------------

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
    return _validated_day(result)


def _validated_day(intervals: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
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


# --------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------

_DEFAULT_DAY: tuple[tuple[int, int], ...] = ((8 * 60, 15 * 60),)
_DEFAULT_WEEK: Weekly = (_DEFAULT_DAY,) * 5 + ((), ())


class _YearBlock:
    """Working intervals of one local year as sorted UTC microseconds with running totals."""

    __slots__ = ("year", "lo", "hi", "starts", "ends", "cum_before", "cum_end", "total")

    def __init__(self, year: int, lo: int, hi: int, starts: list[int], ends: list[int]) -> None:
        self.year = year
        self.lo = lo
        self.hi = hi
        self.starts = starts
        self.ends = ends
        cum_before: list[int] = []
        cum_end: list[int] = []
        acc = 0
        for start, end in zip(starts, ends, strict=True):
            cum_before.append(acc)
            acc += end - start
            cum_end.append(acc)
        self.cum_before = cum_before
        self.cum_end = cum_end
        self.total = acc

    def position(self, t: int) -> int:
        """Business microseconds from the start of the year block up to instant ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        start = self.starts[i]
        end = self.ends[i]
        return self.cum_before[i] + (t - start if t < end else end - start)


@dataclass(frozen=True)
class BusinessCalendar:
    """When the office works: time zone, weekly hours and holidays (local dates).

    ``weekly_hours`` has seven entries, Monday first, each a tuple of ``(start, end)`` minutes
    since local midnight (``end`` may be 1440 for "until midnight"). Use ``from_config`` to
    build one from "HH:MM" strings. Instances are immutable, hashable and thread-safe; they
    cache derived per-year tables, so build one per configuration and reuse it.
    """

    timezone: str = "Europe/Madrid"
    weekly_hours: Weekly = _DEFAULT_WEEK
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _blocks: dict[int, _YearBlock] = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {self.timezone!r}") from None
        week = tuple(_validated_day(day) for day in self.weekly_hours)
        if len(week) != 7:
            raise ValueError("weekly_hours needs exactly seven days, Monday first")
        if not any(week):
            # Without any working time a due date would never arrive; fail at start-up.
            raise ValueError("the calendar has no working hours at all")
        holidays = frozenset(self.holidays)
        if any(not isinstance(d, date) or isinstance(d, datetime) for d in holidays):
            raise ValueError("holidays must be dates (use holidays_from_config for strings)")
        object.__setattr__(self, "weekly_hours", week)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_blocks", {})
        object.__setattr__(self, "_lock", threading.Lock())

    def __reduce__(self) -> tuple[type[BusinessCalendar], tuple[str, Weekly, frozenset[date]]]:
        # The lock and caches cannot be pickled or deep-copied; a copy rebuilds its own, so
        # calendars can travel in scheduler job arguments or be copied into app config.
        return (type(self), (self.timezone, self.weekly_hours, self.holidays))

    @classmethod
    def from_config(
        cls,
        *,
        timezone: str = "Europe/Madrid",
        workdays: Iterable[int] = (0, 1, 2, 3, 4),
        hours: IntervalSpec = "08:00-15:00",
        weekday_hours: Mapping[int, IntervalSpec] | None = None,
        holidays: Iterable[str | date] = (),
        recurring_holidays: Iterable[str] = (),
        holiday_years: Iterable[int] = (),
    ) -> BusinessCalendar:
        """Build a calendar from config values (weekday 0 is Monday).

        ``hours`` applies to every working weekday; ``weekday_hours`` replaces it on given
        weekdays (a Friday ending at 14:00, a split shift on Thursdays). A ``weekday_hours``
        key that is not a working weekday is an error, not a silent no-op, because the intent
        of such a config is unclear.
        """
        days = set(workdays)
        if not days <= set(range(7)):
            raise ValueError(f"workdays must be 0 (Monday) to 6 (Sunday): {sorted(days)}")
        default = parse_intervals(hours)
        special = {int(k): parse_intervals(v) for k, v in (weekday_hours or {}).items()}
        stray = set(special) - days
        if stray:
            raise ValueError(f"weekday_hours given for non-working weekdays: {sorted(stray)}")
        week = tuple(special.get(d, default) if d in days else () for d in range(7))
        return cls(
            timezone=timezone,
            weekly_hours=week,
            holidays=holidays_from_config(holidays, recurring_holidays, holiday_years),
        )

    # -- local wall time to UTC -------------------------------------------------------------

    def _wall_to_us(self, day: date, minute: int) -> int:
        """Earliest UTC instant at which the local wall clock reads ``day`` + ``minute``.

        See the module docstring: ambiguous (repeated) times take their first occurrence and
        nonexistent (skipped) times snap to the transition instant.
        """
        zone = self._zone
        naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
        base = _naive_us(naive)
        first = base - _offset_us(naive.replace(tzinfo=zone).utcoffset())
        second = base - _offset_us(naive.replace(tzinfo=zone, fold=1).utcoffset())
        if first == second:
            return first
        if self._reads(first, naive) and self._reads(second, naive):
            return min(first, second)
        # Skipped wall time: the transition lies between the two candidates; find it by
        # bisection on whole seconds (zoneinfo does not expose transitions, and this runs only
        # for bounds inside a DST gap, once per year table).
        lo, hi = min(first, second) // _US_PER_SECOND, max(first, second) // _US_PER_SECOND
        offset_lo = _from_us(lo * _US_PER_SECOND).astimezone(zone).utcoffset()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _from_us(mid * _US_PER_SECOND).astimezone(zone).utcoffset() == offset_lo:
                lo = mid
            else:
                hi = mid
        return hi * _US_PER_SECOND

    def _reads(self, us: int, naive: datetime) -> bool:
        return _from_us(us).astimezone(self._zone).replace(tzinfo=None) == naive

    # -- year tables ------------------------------------------------------------------------

    def _block(self, year: int) -> _YearBlock:
        block = self._blocks.get(year)
        if block is not None:
            return block
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            raise ValueError(f"instant outside the supported years {_MIN_YEAR}-{_MAX_YEAR}")
        with self._lock:
            block = self._blocks.get(year)
            if block is None:
                block = self._build_block(year)
                self._blocks[year] = block
        return block

    def _build_block(self, year: int) -> _YearBlock:
        starts: list[int] = []
        ends: list[int] = []
        day = date(year, 1, 1)
        one_day = timedelta(days=1)
        week = self.weekly_hours
        holidays = self.holidays
        while day.year == year:
            if day not in holidays:
                for start_minute, end_minute in week[day.weekday()]:
                    start = self._wall_to_us(day, start_minute)
                    end = self._wall_to_us(day, end_minute)
                    # Wall time to UTC is monotonic under the module's DST rule, so the
                    # tables come out ordered; an interval wholly inside a DST gap vanishes.
                    if end > start:
                        starts.append(start)
                        ends.append(end)
            day += one_day
        lo = self._wall_to_us(date(year, 1, 1), 0)
        hi = self._wall_to_us(date(year + 1, 1, 1), 0)
        return _YearBlock(year, lo, hi, starts, ends)

    def _block_of(self, t: int) -> _YearBlock:
        block = self._block(1970 + t // _US_PER_AVG_YEAR)
        while t < block.lo:
            block = self._block(block.year - 1)
        while t >= block.hi:
            block = self._block(block.year + 1)
        return block

    # -- exact core, in microseconds --------------------------------------------------------

    def _between_us(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        block_a = self._block_of(a)
        block_b = self._block_of(b)
        if block_a.year == block_b.year:
            return block_b.position(b) - block_a.position(a)
        total = block_a.total - block_a.position(a)
        for year in range(block_a.year + 1, block_b.year):
            total += self._block(year).total
        return total + block_b.position(b)

    def _add_us(self, start: int, amount: int) -> int:
        if amount < 0:
            raise ValueError("cannot add a negative amount of business time")
        if amount == 0:
            return start
        block = self._block_of(start)
        target = block.position(start) + amount
        while target > block.total:
            target -= block.total
            block = self._block(block.year + 1)
        j = bisect_left(block.cum_end, target)
        return block.starts[j] + (target - block.cum_before[j])

    # -- public API -------------------------------------------------------------------------

    def is_business_time(self, instant: datetime) -> bool:
        """True if ``instant`` lies inside a working interval (opening included, close not)."""
        t = _to_us(instant)
        block = self._block_of(t)
        i = bisect_right(block.starts, t) - 1
        return i >= 0 and t < block.ends[i]

    def next_opening(self, instant: datetime) -> datetime:
        """The first business instant at or after ``instant`` (itself if already open)."""
        t = _to_us(instant)
        block = self._block_of(t)
        while True:
            i = bisect_right(block.starts, t) - 1
            if i >= 0 and t < block.ends[i]:
                return _from_us(t)
            if i + 1 < len(block.starts):
                return _from_us(block.starts[i + 1])
            block = self._block(block.year + 1)
            t = block.lo

    def add_business_minutes(self, start: datetime, minutes: int) -> datetime:
        """The instant at which ``minutes`` of business time have elapsed after ``start``.

        Defined as the earliest ``t >= start`` with ``minutes`` of business time in
        ``[start, t)``: counting begins at the next opening when ``start`` is outside
        business hours, and the result may be exactly a closing instant. Returns aware UTC.
        """
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise TypeError(f"minutes must be an int, got {minutes!r}")
        return _from_us(self._add_us(_to_us(start), minutes * _US_PER_MINUTE))

    def business_seconds_between(self, a: datetime, b: datetime) -> int:
        """Whole business seconds in ``[a, b)`` (floored); 0 when ``b <= a``."""
        return self._between_us(_to_us(a), _to_us(b)) // _US_PER_SECOND

    def business_minutes_between(self, a: datetime, b: datetime) -> int:
        """Business minutes in ``[a, b)``, floored (59 s count as 0); 0 when ``b <= a``."""
        return self._between_us(_to_us(a), _to_us(b)) // _US_PER_MINUTE

    def business_minutes_elapsed(
        self, running: Iterable[tuple[datetime, datetime | None]], now: datetime
    ) -> int:
        """Business minutes over the intervals a clock was running, up to ``now``.

        An interval whose end is ``None`` (or later than ``now``) runs until ``now``; parts
        after ``now`` are ignored. The sum is floored once, so many short intervals are not
        each rounded down. Overlapping intervals would be counted twice: pass disjoint ones
        (the helpers in this module always produce disjoint ones).
        """
        now_us = _to_us(now)
        total = 0
        for start, end in running:
            s = _to_us(start)
            e = now_us if end is None else min(_to_us(end), now_us)
            total += self._between_us(s, e)
        return total // _US_PER_MINUTE

    def due_at(
        self,
        start: datetime,
        target_minutes: int,
        pauses: Iterable[tuple[datetime, datetime | None]],
        now: datetime,
    ) -> datetime | None:
        """When a clock started at ``start`` with ``target_minutes`` is due, given its pauses.

        Pauses are wall-clock periods during which the clock stands still (overlaps are
        merged; pauses, or parts of them, before ``start`` or after ``now`` are ignored).
        Returns ``None`` while a pause is ongoing at ``now``: the due instant depends on when
        the council answers. A target used up before a pause is still due when it was used up.
        """
        running = _running_from_pauses(_to_us(start), pauses, _to_us(now))
        clock = _evaluate(
            self,
            target_minutes,
            running,
            _to_us(now),
            _to_us(start),
            False,
            DEFAULT_WARNING_PERCENT,
        )
        return clock.due_at


def _running_from_pauses(
    start: int, pauses: Iterable[tuple[datetime, datetime | None]], now: int
) -> list[tuple[int, int | None]]:
    """Complement of the pauses from ``start`` on, as running intervals (last may be open)."""
    spans: list[tuple[int, int | None]] = []
    for p_start, p_end in pauses:
        s = max(_to_us(p_start), start)
        e = None if p_end is None else _to_us(p_end)
        if s > now or (e is not None and e <= s):
            continue
        if e is not None and e > now:
            e = None  # still paused at now
        spans.append((s, e))
    spans.sort(key=lambda span: span[0])
    running: list[tuple[int, int | None]] = []
    cursor: int | None = start
    for s, e in spans:
        if cursor is None:
            break  # an open pause swallows everything after it
        if s > cursor:
            running.append((cursor, s))
        if e is None:
            cursor = None
        else:
            cursor = max(cursor, e)
    if cursor is not None:
        running.append((cursor, None))
    return running


# --------------------------------------------------------------------------------------------
# SLA clocks
# --------------------------------------------------------------------------------------------


class ClockState(StrEnum):
    """How an SLA clock stands against its target (the colour in the ticket list)."""

    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"


class ClockPhase(StrEnum):
    """Whether the clock is counting now."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SlaClock:
    """One SLA clock (first response or resolution) evaluated at an instant.

    ``elapsed_minutes`` is floored and ``remaining_minutes = max(0, target - elapsed)``, so
    the two add up to the target on screen. ``percent_used`` is exact, rounded to 0.1.
    ``due_at``: once the target is used up, the instant it was (the breach instant if the
    clock ran on); before that, while running, when it will be used up; while paused ``None``
    (it depends on when the council answers); once stopped, the due instant as it stood when
    the clock stopped. ``state`` is ``breached`` when the clock ran
    past the due instant (finishing exactly at it is in time), ``warning`` from
    ``warning_percent`` of the target on while running or paused, otherwise ``ok``; a clock
    stopped in time is ``ok`` whatever its percentage, since it no longer needs attention.
    """

    target_minutes: int
    elapsed_minutes: int
    remaining_minutes: int
    percent_used: float
    state: ClockState
    phase: ClockPhase
    due_at: datetime | None
    breached_at: datetime | None

    @property
    def breached(self) -> bool:
        """Convenience for the API's ``*_breached`` flags."""
        return self.state is _BREACHED


# Enum member lookups are slow on Python 3.11 (a descriptor call each time) and _evaluate
# runs for every ticket in every list page, so it uses these module-level aliases.
_RUNNING, _PAUSED, _STOPPED = ClockPhase.RUNNING, ClockPhase.PAUSED, ClockPhase.STOPPED
_OK, _WARNING, _BREACHED = ClockState.OK, ClockState.WARNING, ClockState.BREACHED


def _evaluate(
    calendar: BusinessCalendar,
    target_minutes: int,
    running: Sequence[tuple[int, int | None]],
    now: int,
    origin: int,
    stopped: bool,
    warning_percent: float,
) -> SlaClock:
    if isinstance(target_minutes, bool) or not isinstance(target_minutes, int):
        raise TypeError(f"target_minutes must be an int, got {target_minutes!r}")
    if target_minutes <= 0:
        raise ValueError("target_minutes must be positive")
    if not 0 < warning_percent <= 100:
        raise ValueError("warning_percent must be in (0, 100]")
    target = target_minutes * _US_PER_MINUTE
    elapsed = 0
    reached_at: int | None = None
    last_running: int | None = None  # latest instant at which the clock was running
    open_now = False
    for start, end in running:
        if start > now:
            continue
        if end is None or end > now:
            stop = now
            open_now = True
        else:
            stop = end
        if stop < start:
            continue
        last_running = stop if last_running is None else max(last_running, stop)
        chunk = calendar._between_us(start, stop)
        if reached_at is None and elapsed + chunk >= target:
            reached_at = calendar._add_us(start, target - elapsed)
        elapsed += chunk
    if open_now:
        phase = _RUNNING
    elif stopped:
        phase = _STOPPED
    else:
        phase = _PAUSED
    breached = reached_at is not None and last_running is not None and reached_at < last_running
    due: int | None
    if reached_at is not None:
        due = reached_at
    elif phase is _RUNNING:
        due = calendar._add_us(now, target - elapsed)
    elif phase is _STOPPED:
        due = calendar._add_us(
            last_running if last_running is not None else origin, target - elapsed
        )
    else:
        due = None
    if breached:
        state = _BREACHED
    elif phase is not _STOPPED and elapsed * 100 >= warning_percent * target:
        state = _WARNING
    else:
        state = _OK
    elapsed_minutes = elapsed // _US_PER_MINUTE
    return SlaClock(
        target_minutes=target_minutes,
        elapsed_minutes=elapsed_minutes,
        remaining_minutes=max(0, target_minutes - elapsed_minutes),
        percent_used=round(elapsed * 100 / target, 1),
        state=state,
        phase=phase,
        due_at=None if due is None else _from_us(due),
        breached_at=_from_us(reached_at) if breached and reached_at is not None else None,
    )


def evaluate_clock(
    calendar: BusinessCalendar,
    target_minutes: int,
    running: Iterable[tuple[datetime, datetime | None]],
    now: datetime,
    *,
    stopped: bool = False,
    origin: datetime | None = None,
    warning_percent: float = DEFAULT_WARNING_PERCENT,
) -> SlaClock:
    """Evaluate a clock from the wall-clock intervals during which it ran.

    ``running`` must be disjoint and ordered; an interval ending in ``None`` (or after
    ``now``) means the clock is running now. Otherwise the clock is paused, or stopped if
    ``stopped`` is true. ``origin`` (the start of the clock) is only used for a clock that
    never ran; it defaults to the first interval's start.
    """
    intervals = [(_to_us(s), None if e is None else _to_us(e)) for s, e in running]
    if origin is not None:
        origin_us = _to_us(origin)
    elif intervals:
        origin_us = intervals[0][0]
    else:
        origin_us = _to_us(now)
    return _evaluate(
        calendar, target_minutes, intervals, _to_us(now), origin_us, stopped, warning_percent
    )


# --------------------------------------------------------------------------------------------
# Ticket status history to clock intervals
# --------------------------------------------------------------------------------------------

StatusEvents = Iterable[tuple[datetime, str]]
_Parsed = list[tuple[int, str]]


def _parse_events(created: int, events: StatusEvents) -> _Parsed:
    """Validate, convert and order the status history once per evaluation.

    Events stamped before ``created`` count as happening at creation (clock skew between
    the app and the database should not produce negative intervals). The sort is stable, so
    events sharing an instant keep the order the caller gave.
    """
    parsed: _Parsed = []
    for at, status in events:
        if status not in TICKET_STATUSES:
            raise ValueError(f"unknown ticket status: {status!r}")
        parsed.append((max(_to_us(at), created), status))
    parsed.sort(key=lambda event: event[0])
    return parsed


def _status_walk(
    created: int, parsed: _Parsed, now: int, cut: int | None
) -> tuple[list[tuple[int, int | None]], str, int | None]:
    """Running intervals of a clock driven by status changes, up to ``now``.

    Returns the intervals, the status at the end of the walk and the instant of the first
    stop (resolved/closed), if any. With ``cut`` the clock stops for good at ``cut``
    (first-response clock). Events after ``now`` are ignored, so a clock can be evaluated
    "as of" any instant.
    """
    intervals: list[tuple[int, int | None]] = []
    status = "new"
    run_start: int | None = created
    first_stop: int | None = None
    limit = now if cut is None else min(now, cut)
    for at, new_status in parsed:
        if at > limit:
            break
        status = new_status
        if status in CLOCK_RUNNING_STATUSES:
            if run_start is None:
                run_start = at
        elif run_start is not None:
            intervals.append((run_start, at))
            run_start = None
        if first_stop is None and status in CLOCK_STOPPED_STATUSES:
            first_stop = at
    if run_start is not None:
        if cut is not None and cut <= now:
            if cut > run_start:
                intervals.append((run_start, cut))
        else:
            intervals.append((run_start, None))
    return intervals, status, first_stop


def _first_response_cut(
    created: int, now: int, replied: int | None, first_stop: int | None
) -> int | None:
    """When the first-response clock stopped for good (as of ``now``), if it has."""
    candidates = [t for t in (replied, first_stop) if t is not None and t <= now]
    return max(min(candidates), created) if candidates else None


def _as_datetimes(
    intervals: list[tuple[int, int | None]],
) -> list[tuple[datetime, datetime | None]]:
    return [(_from_us(s), None if e is None else _from_us(e)) for s, e in intervals]


def resolution_intervals(
    created_at: datetime, events: StatusEvents, now: datetime
) -> list[tuple[datetime, datetime | None]]:
    """Wall-clock intervals during which the resolution clock ran (last one ``None`` if open).

    The clock runs in new/assigned/in_progress, pauses in waiting_council and stops in
    resolved/closed; a reopen (resolved -> in_progress) starts it again where it left off.
    """
    created = _to_us(created_at)
    intervals, _, _ = _status_walk(created, _parse_events(created, events), _to_us(now), None)
    return _as_datetimes(intervals)


def first_response_intervals(
    created_at: datetime,
    events: StatusEvents,
    now: datetime,
    first_response_at: datetime | None,
) -> list[tuple[datetime, datetime | None]]:
    """Intervals of the first-response clock: like resolution, but it stops for good.

    It stops at the first public staff reply or, failing one, at the first resolved/closed
    status: resolving a ticket answers the clerk, and a reopen must not revive a response
    clock that was already satisfied.
    """
    created = _to_us(created_at)
    now_us = _to_us(now)
    parsed = _parse_events(created, events)
    _, _, first_stop = _status_walk(created, parsed, now_us, None)
    replied = None if first_response_at is None else _to_us(first_response_at)
    cut = _first_response_cut(created, now_us, replied, first_stop)
    intervals, _, _ = _status_walk(created, parsed, now_us, cut)
    return _as_datetimes(intervals)


@dataclass(frozen=True, slots=True)
class TicketSla:
    """Both SLA clocks of a ticket at one instant."""

    first_response: SlaClock
    resolution: SlaClock

    def contract_fields(self) -> dict[str, datetime | bool | None]:
        """The ``sla`` object of the API contract (datetimes; the API layer serialises them).

        A due instant is ``None`` while its clock is paused.
        """
        return {
            "first_response_due": self.first_response.due_at,
            "resolution_due": self.resolution.due_at,
            "first_response_breached": self.first_response.breached,
            "resolution_breached": self.resolution.breached,
        }


def ticket_sla(
    calendar: BusinessCalendar,
    *,
    created_at: datetime,
    priority: str,
    events: StatusEvents,
    now: datetime,
    first_response_at: datetime | None = None,
    targets: Mapping[str, SlaTarget] = DEFAULT_SLA_TARGETS,
    warning_percent: float = DEFAULT_WARNING_PERCENT,
) -> TicketSla:
    """Evaluate a ticket's first-response and resolution clocks as of ``now``.

    ``events`` is the status history as ``(timestamp, status)`` pairs in any order (the
    creation event may be included or not: a ticket is ``new`` at ``created_at``).
    ``first_response_at`` is the instant of the first public staff reply, if any. Everything
    after ``now`` is ignored, so the same call answers "as of" questions for reports.
    """
    if priority not in targets:
        raise ValueError(f"no SLA target for priority {priority!r}")
    target = targets[priority]
    created = _to_us(created_at)
    now_us = _to_us(now)
    parsed = _parse_events(created, events)

    res_intervals, res_status, first_stop = _status_walk(created, parsed, now_us, None)
    resolution = _evaluate(
        calendar,
        target.resolution_minutes,
        res_intervals,
        now_us,
        created,
        res_status in CLOCK_STOPPED_STATUSES,
        warning_percent,
    )
    replied = None if first_response_at is None else _to_us(first_response_at)
    cut = _first_response_cut(created, now_us, replied, first_stop)
    fr_intervals, _, _ = _status_walk(created, parsed, now_us, cut)
    first_response = _evaluate(
        calendar,
        target.first_response_minutes,
        fr_intervals,
        now_us,
        created,
        cut is not None,
        warning_percent,
    )
    return TicketSla(first_response=first_response, resolution=resolution)
