"""Business time: when an office works, and business time between two instants.

Council clerks judge us by office hours, not wall-clock hours: a ticket opened on Friday at
14:45 with two hours to go is due on Monday morning, not on Friday evening. Shared by the
hours forecast (business days of a month), the tickets' SLA clocks (support.tickets.sla) and
reports, so they all use one definition of "business time". `BusinessCalendar` is pure Python
(zoneinfo, bisect), without Flask or the database; core.calendar builds the office's own from
its configuration, its country's public holidays and the local ones admins add in the app.

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

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.calendar_config import IntervalSpec, Weekly, holidays_from_config, parse_intervals, validated_day

__all__ = ["BusinessCalendar", "holidays_from_config", "parse_intervals"]

# --------------------------------------------------------------------------------------------
# Instants as integer microseconds since the epoch: exact, and cheap to compare and bisect.
# The SLA clocks (support.tickets.sla) count in the same units.
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
        week = tuple(validated_day(day) for day in self.weekly_hours)
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
        now_us = _to_us(now)
        running = _running_from_pauses(_to_us(start), pauses, now_us)
        if isinstance(target_minutes, bool) or not isinstance(target_minutes, int):
            raise TypeError(f"target_minutes must be an int, got {target_minutes!r}")
        if target_minutes <= 0:
            raise ValueError("target_minutes must be positive")
        target = target_minutes * _US_PER_MINUTE
        elapsed, reached_at, _last_running, open_now = self._run_us(running, now_us, target)
        if reached_at is not None:
            return _from_us(reached_at)
        if open_now:
            return _from_us(self._add_us(now_us, target - elapsed))
        return None

    def _run_us(
        self, running: Sequence[tuple[int, int | None]], now: int, target: int
    ) -> tuple[int, int | None, int | None, bool]:
        """Business time a clock used over the intervals it ran (microseconds), up to ``now``.

        Returns the business time elapsed, the instant the ``target`` was used up (if it
        was), the last instant the clock ran, and whether it is running at ``now`` (an
        interval ending in ``None`` or after ``now``). Intervals starting after ``now`` are
        ignored. Shared by ``due_at`` and the SLA clocks (support.tickets.sla).
        """
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
            chunk = self._between_us(start, stop)
            if reached_at is None and elapsed + chunk >= target:
                reached_at = self._add_us(start, target - elapsed)
            elapsed += chunk
        return elapsed, reached_at, last_running, open_now


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
