"""SLA clocks for tickets: first response and resolution, in business time.

Pure Python, on the office's business calendar (core.calendar, which defines business time,
its DST rule and its rounding): the services, the API, the scheduler and reports evaluate a
ticket's clocks the same way, without touching Flask or the database. What is stored on each
ticket, and refreshed from here, is support.tickets.sla_state.

A clock runs while the office owes the council work, pauses while the office waits on the
council and stops once the work is done; ``ticket_sla`` walks a ticket's status history into
the intervals each clock ran and evaluates both against the priority's targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

# The clocks count in the calendar's exact units (integer UTC microseconds).
from core.business_time import _US_PER_MINUTE, BusinessCalendar, _from_us, _to_us

__all__ = [
    "CLOCK_PAUSED_STATUSES",
    "CLOCK_RUNNING_STATUSES",
    "CLOCK_STOPPED_STATUSES",
    "DEFAULT_SLA_TARGETS",
    "DEFAULT_WARNING_PERCENT",
    "PRIORITIES",
    "TICKET_STATUSES",
    "ClockPhase",
    "ClockState",
    "SlaClock",
    "SlaTarget",
    "TicketSla",
    "evaluate_clock",
    "first_response_intervals",
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
    elapsed, reached_at, last_running, open_now = calendar._run_us(running, now, target)
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
