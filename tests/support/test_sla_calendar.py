"""Business-time calendar and SLA clocks (core/calendar.py, support/tickets/sla.py): pure functions, no app needed.

Instants are written in the office's local wall time (Europe/Madrid) and converted to UTC,
because that is how the rules are stated ("due Monday at 09:30") and how mistakes show.
"""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.calendar import BusinessCalendar, holidays_from_config, parse_intervals
from support.tickets.sla import (
    DEFAULT_SLA_TARGETS,
    ClockPhase,
    ClockState,
    SlaTarget,
    evaluate_clock,
    first_response_intervals,
    resolution_intervals,
    sla_targets,
    ticket_sla,
)

MADRID = ZoneInfo("Europe/Madrid")
CAL = BusinessCalendar()


def at(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    tz: ZoneInfo = MADRID,
) -> datetime:
    """A local wall time in ``tz`` as an aware UTC datetime (what the app stores)."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz).astimezone(UTC)


def local(instant: datetime, tz: ZoneInfo = MADRID) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


# Week of Monday 2 March 2026, well away from DST and holidays.
MON = (2026, 3, 2)
TUE = (2026, 3, 3)
FRI = (2026, 3, 6)
SAT = (2026, 3, 7)
NEXT_MON = (2026, 3, 9)


# --------------------------------------------------------------------------------------------
# Business hours, weekends, holidays
# --------------------------------------------------------------------------------------------


def test_minutes_inside_one_day() -> None:
    start = at(*MON, 9, 0)
    assert CAL.add_business_minutes(start, 60) == at(*MON, 10, 0)
    assert CAL.business_minutes_between(start, at(*MON, 10, 0)) == 60
    assert CAL.add_business_minutes(start, 0) == start


def test_results_are_aware_utc() -> None:
    due = CAL.add_business_minutes(at(*MON, 9, 0), 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 2, 8, 1, tzinfo=UTC)  # CET is UTC+1


def test_time_running_out_at_closing_is_due_at_closing() -> None:
    # Not 08:00 the next day: the office can still meet it at 15:00.
    assert CAL.add_business_minutes(at(*MON, 8, 0), 420) == at(*MON, 15, 0)
    assert CAL.add_business_minutes(at(*MON, 8, 0), 421) == at(*TUE, 8, 1)


def test_spans_the_night() -> None:
    assert CAL.add_business_minutes(at(*MON, 14, 0), 120) == at(*TUE, 9, 0)
    assert CAL.business_minutes_between(at(*MON, 14, 0), at(*TUE, 9, 0)) == 120


def test_skips_the_weekend() -> None:
    assert CAL.add_business_minutes(at(*FRI, 14, 0), 120) == at(*NEXT_MON, 9, 0)
    assert CAL.business_minutes_between(at(*FRI, 14, 0), at(*NEXT_MON, 9, 0)) == 120
    assert CAL.business_minutes_between(at(*SAT, 0, 0), at(*NEXT_MON, 8, 0)) == 0


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(*SAT, 10, 0), at(*NEXT_MON, 8, 30)),
        (at(*MON, 6, 0), at(*MON, 8, 30)),
        (at(*MON, 15, 0), at(*TUE, 8, 30)),  # closing instant is already outside
        (at(*MON, 15, 30), at(*TUE, 8, 30)),
        (at(*FRI, 23, 59), at(*NEXT_MON, 8, 30)),
    ],
)
def test_start_outside_hours_counts_from_next_opening(start: datetime, expected: datetime) -> None:
    assert CAL.add_business_minutes(start, 30) == expected
    assert CAL.business_minutes_between(start, expected) == 30
    assert CAL.add_business_minutes(start, 0) == start  # nothing to elapse: no move


def test_is_business_time_and_next_opening() -> None:
    assert CAL.is_business_time(at(*MON, 8, 0))
    assert CAL.is_business_time(at(*MON, 14, 59, 59))
    assert not CAL.is_business_time(at(*MON, 15, 0))
    assert not CAL.is_business_time(at(*SAT, 10, 0))
    assert CAL.next_opening(at(*SAT, 10, 0)) == at(*NEXT_MON, 8, 0)
    assert CAL.next_opening(at(*MON, 9, 0)) == at(*MON, 9, 0)
    assert CAL.next_opening(at(2026, 12, 31, 16, 0)) == at(2027, 1, 1, 8, 0)


def test_holidays_are_skipped() -> None:
    cal = BusinessCalendar(
        holidays=holidays_from_config(
            ["2026-04-03", "2026-04-06"],  # Good Friday, Easter Monday (Catalonia)
            recurring=["01-01", "05-01", "12-25", "12-26"],
            years=[2026, 2027],
        )
    )
    # Thursday 2 April 14:00 + 2 h: one hour on Thursday, then Tuesday 7 April.
    assert cal.add_business_minutes(at(2026, 4, 2, 14, 0), 120) == at(2026, 4, 7, 9, 0)
    assert cal.business_minutes_between(at(2026, 4, 2, 14, 0), at(2026, 4, 7, 9, 0)) == 120
    # Across the year end: 31 Dec (Thu) 14:00 + 2 h; 1 Jan (Fri) is a holiday.
    assert cal.add_business_minutes(at(2026, 12, 31, 14, 0), 120) == at(2027, 1, 4, 9, 0)


def test_months_of_holidays_and_multi_week_targets() -> None:
    august = [date(2026, 8, 1) + timedelta(days=i) for i in range(31)]
    cal = BusinessCalendar(holidays=frozenset(august))
    # Friday 31 July 14:00 + 40 h: 1 h in July, August closed, then 5 days and 4 h.
    assert cal.add_business_minutes(at(2026, 7, 31, 14, 0), 2400) == at(2026, 9, 8, 12, 0)
    # Normal and low resolution targets from a Monday morning: one and two working weeks.
    assert CAL.add_business_minutes(at(*MON, 8, 0), 2100) == at(*FRI, 15, 0)
    assert CAL.add_business_minutes(at(*MON, 8, 0), 4200) == at(2026, 3, 13, 15, 0)


def test_between_over_years_matches_a_day_count() -> None:
    holidays = holidays_from_config(recurring=["01-01", "12-25"], years=range(2024, 2029))
    cal = BusinessCalendar(holidays=holidays)
    day, end, working_days = date(2025, 1, 1), date(2028, 1, 1), 0
    while day < end:
        working_days += day.weekday() < 5 and day not in holidays
        day += timedelta(days=1)
    assert cal.business_minutes_between(at(2025, 1, 1), at(2028, 1, 1)) == working_days * 420
    assert cal.business_minutes_between(at(2028, 1, 1), at(2025, 1, 1)) == 0


def test_rounding_floors_whole_business_seconds() -> None:
    start = at(*MON, 9, 0)
    assert CAL.business_minutes_between(start, start + timedelta(seconds=59)) == 0
    assert CAL.business_minutes_between(start, start + timedelta(seconds=60)) == 1
    assert (
        CAL.business_minutes_between(start, start + timedelta(seconds=119, microseconds=999_999))
        == 1
    )
    assert CAL.business_seconds_between(start, start + timedelta(seconds=1, microseconds=999)) == 1
    # Sub-minute parts of several intervals add up before flooring.
    half = timedelta(seconds=30)
    running = [(start, start + half), (at(*TUE, 9, 0), at(*TUE, 9, 0) + half)]
    assert CAL.business_minutes_elapsed(running, now=at(*TUE, 12, 0)) == 1
    # A start with seconds keeps them.
    odd = at(*MON, 9, 0, 17, 250)
    assert CAL.add_business_minutes(odd, 10) == at(*MON, 9, 10, 17, 250)


def test_inputs_must_be_aware_but_any_zone_is_fine() -> None:
    with pytest.raises(ValueError, match="aware"):
        CAL.add_business_minutes(datetime(2026, 3, 2, 9, 0), 10)
    with pytest.raises(ValueError, match="aware"):
        CAL.business_minutes_between(datetime(2026, 3, 2, 9, 0), at(*MON, 10, 0))
    madrid_time = datetime(2026, 3, 2, 9, 0, tzinfo=MADRID)
    assert CAL.add_business_minutes(madrid_time, 60) == at(*MON, 10, 0)
    with pytest.raises(ValueError, match="negative"):
        CAL.add_business_minutes(at(*MON, 9, 0), -1)
    with pytest.raises(TypeError):
        CAL.add_business_minutes(at(*MON, 9, 0), 1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# DST in Europe/Madrid (last Sunday of March and of October 2026)
# --------------------------------------------------------------------------------------------


def test_spring_change_friday_to_monday() -> None:
    opened = at(2026, 3, 27, 14, 30)  # Friday, CET (UTC+1)
    assert opened == datetime(2026, 3, 27, 13, 30, tzinfo=UTC)
    due = CAL.add_business_minutes(opened, 120)
    assert due == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)  # Monday 09:30 CEST (UTC+2)
    assert local(due) == datetime(2026, 3, 30, 9, 30)
    assert CAL.business_minutes_between(opened, due) == 120


def test_autumn_change_friday_to_monday() -> None:
    opened = at(2026, 10, 23, 14, 30)  # Friday, CEST (UTC+2)
    assert opened == datetime(2026, 10, 23, 12, 30, tzinfo=UTC)
    due = CAL.add_business_minutes(opened, 120)
    assert due == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)  # Monday 09:30 CET (UTC+1)
    assert local(due) == datetime(2026, 10, 26, 9, 30)
    assert CAL.business_minutes_between(opened, due) == 120


def test_a_24x7_calendar_is_real_elapsed_time_across_both_changes() -> None:
    always = BusinessCalendar.from_config(workdays=range(7), hours="00:00-24:00")
    assert always.business_minutes_between(at(2026, 3, 29), at(2026, 3, 30)) == 23 * 60
    assert always.business_minutes_between(at(2026, 10, 25), at(2026, 10, 26)) == 25 * 60
    start = datetime(2026, 3, 28, 22, 15, tzinfo=UTC)
    assert always.add_business_minutes(start, 600) == start + timedelta(minutes=600)


def test_interval_bounds_in_the_skipped_hour_snap_to_the_transition() -> None:
    # 02:00-03:00 does not exist on 29 March 2026: an office opening at 02:30 opens when the
    # clock jumps to 03:00 CEST (01:00 UTC); one open 02:15-02:45 does not open at all.
    night = BusinessCalendar.from_config(workdays=[6], hours="02:30-04:00")
    assert night.business_minutes_between(at(2026, 3, 29), at(2026, 3, 30)) == 60
    assert night.next_opening(at(2026, 3, 28, 12, 0)) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    gap_only = BusinessCalendar.from_config(workdays=[6], hours="02:15-02:45, 05:00-06:00")
    assert gap_only.business_minutes_between(at(2026, 3, 29), at(2026, 3, 30)) == 60
    assert gap_only.add_business_minutes(at(2026, 3, 29), 1) == at(2026, 3, 29, 5, 1)


def test_interval_bounds_in_the_repeated_hour_take_the_first_occurrence() -> None:
    # 02:00-03:00 happens twice on 25 October 2026: 02:30 is the first (CEST) one, so the
    # shift 02:30-04:00 lasts 2 h 30 min of real time that night.
    night = BusinessCalendar.from_config(workdays=[6], hours="02:30-04:00")
    assert night.business_minutes_between(at(2026, 10, 25), at(2026, 10, 26)) == 150
    assert night.next_opening(at(2026, 10, 24, 12, 0)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # A shift ending at the ambiguous 02:30 ends at its first occurrence.
    early = BusinessCalendar.from_config(workdays=[6], hours="01:00-02:30")
    assert early.business_minutes_between(at(2026, 10, 25), at(2026, 10, 26)) == 90


# --------------------------------------------------------------------------------------------
# Custom calendars and configuration
# --------------------------------------------------------------------------------------------

SPLIT = BusinessCalendar.from_config(
    hours="08:00-14:00, 16:00-18:00",
    weekday_hours={4: "08:00-14:00"},  # short Fridays
    holidays=["2026-03-19"],  # Sant Josep, a local holiday in some councils
)


def test_split_shift_calendar() -> None:
    assert SPLIT.weekly_hours[0] == ((480, 840), (960, 1080))
    assert SPLIT.weekly_hours[4] == ((480, 840),)
    assert SPLIT.add_business_minutes(at(*MON, 13, 30), 60) == at(*MON, 16, 30)
    assert SPLIT.add_business_minutes(at(*MON, 13, 0), 60) == at(*MON, 14, 0)
    assert SPLIT.add_business_minutes(at(*MON, 14, 30), 1) == at(*MON, 16, 1)
    assert SPLIT.add_business_minutes(at(*FRI, 13, 0), 120) == at(*NEXT_MON, 9, 0)
    assert SPLIT.business_minutes_between(at(*MON), at(*TUE)) == 480
    assert SPLIT.business_minutes_between(at(*FRI), at(*SAT)) == 360
    assert SPLIT.business_minutes_between(at(2026, 3, 19), at(2026, 3, 20)) == 0


def test_calendar_in_another_time_zone() -> None:
    buenos_aires = ZoneInfo("America/Argentina/Buenos_Aires")
    cal = BusinessCalendar.from_config(
        timezone="America/Argentina/Buenos_Aires", hours="07:00-13:00"
    )
    start = at(*MON, 12, 0, tz=buenos_aires)
    assert cal.add_business_minutes(start, 120) == at(*TUE, 8, 0, tz=buenos_aires)
    assert at(*TUE, 8, 0, tz=buenos_aires) == datetime(2026, 3, 3, 11, 0, tzinfo=UTC)


def test_calendar_is_a_hashable_value() -> None:
    assert BusinessCalendar() == CAL
    assert hash(BusinessCalendar()) == hash(CAL)
    assert SPLIT != CAL
    with pytest.raises(AttributeError):
        CAL.timezone = "UTC"  # type: ignore[misc]
    copied = pickle.loads(pickle.dumps(SPLIT))  # noqa: S301 - bytes made on the line itself
    assert copied == SPLIT
    assert copied.add_business_minutes(at(*MON, 13, 30), 60) == at(*MON, 16, 30)
    assert copy.deepcopy(SPLIT) == SPLIT


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timezone": "Europe/Nowhere"},
        {"hours": "08:00-07:00"},
        {"hours": "08:00-12:00, 11:00-15:00"},
        {"hours": "8h-15h"},
        {"hours": "08:00-25:00"},
        {"hours": "08:60-15:00"},
        {"workdays": [7]},
        {"workdays": [0, 1], "weekday_hours": {5: "09:00-13:00"}},
        {"workdays": []},
        {"holidays": ["2026-13-01"]},
        {"recurring_holidays": ["2-30"]},
        {"recurring_holidays": ["02-30"]},
    ],
)
def test_bad_configuration_fails_at_start_up(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar.from_config(**kwargs)


def test_config_helpers() -> None:
    assert parse_intervals("08:00-14:00,16:00-18:00") == ((480, 840), (960, 1080))
    assert parse_intervals(["08:00 - 15:00"]) == ((480, 900),)
    assert parse_intervals([("8:00", "24:00")]) == ((480, 1440),)
    assert parse_intervals("") == ()
    feb = holidays_from_config(recurring=["02-29"], years=[2027, 2028])
    assert feb == frozenset({date(2028, 2, 29)})  # skipped in non-leap 2027
    assert holidays_from_config(["2026-09-11", date(2026, 9, 24)]) == {
        date(2026, 9, 11),
        date(2026, 9, 24),
    }
    with pytest.raises(ValueError, match="holidays must be dates"):
        BusinessCalendar(holidays=frozenset({"2026-01-01"}))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Pauses: due_at and elapsed over running intervals
# --------------------------------------------------------------------------------------------


def test_completed_pause_postpones_due() -> None:
    start = at(*MON, 8, 0)
    assert CAL.due_at(start, 240, [], now=at(*MON, 9, 0)) == at(*MON, 12, 0)
    pauses = [(at(*MON, 9, 0), at(*MON, 11, 0))]
    assert CAL.due_at(start, 240, pauses, now=at(*MON, 11, 30)) == at(*MON, 14, 0)
    # A pause over the night only moves the due by its business part.
    overnight = [(at(*MON, 14, 0), at(*TUE, 9, 0))]
    assert CAL.due_at(start, 420, overnight, now=at(*TUE, 10, 0)) == at(*TUE, 10, 0)


def test_open_pause_has_no_due_instant() -> None:
    start = at(*MON, 8, 0)
    assert CAL.due_at(start, 240, [(at(*MON, 9, 0), None)], now=at(*MON, 10, 0)) is None
    # A pause that has not ended by now is still open as of now.
    later_end = [(at(*MON, 9, 0), at(*MON, 13, 0))]
    assert CAL.due_at(start, 240, later_end, now=at(*MON, 10, 0)) is None
    # Resumed at 13:00 with 60 minutes used: 3 hours left, the day ends at 15:00.
    assert CAL.due_at(start, 240, later_end, now=at(*MON, 13, 0)) == at(*TUE, 9, 0)


def test_pause_edge_cases() -> None:
    start = at(*MON, 8, 0)
    # Pauses before the start, after now, empty, or overlapping are handled.
    pauses = [
        (at(*FRI, 9, 0) - timedelta(days=7), at(*MON, 9, 0)),  # began before the start
        (at(*MON, 10, 0), at(*MON, 11, 0)),
        (at(*MON, 10, 30), at(*MON, 11, 30)),  # overlaps the previous one
        (at(*MON, 12, 0), at(*MON, 12, 0)),  # empty
        (at(*TUE, 9, 0), None),  # not yet begun as of now
    ]
    # Running 09:00-10:00 and from 11:30: 60 used by 11:30, 180 more -> 14:30.
    assert CAL.due_at(start, 240, pauses, now=at(*MON, 12, 0)) == at(*MON, 14, 30)
    # Target used up before a pause: still due when it was used up.
    assert CAL.due_at(start, 60, [(at(*MON, 10, 0), None)], now=at(*MON, 11, 0)) == at(*MON, 9, 0)


def test_business_minutes_elapsed_over_running_intervals() -> None:
    running = [(at(*MON, 8, 0), at(*MON, 10, 0)), (at(*TUE, 14, 0), None)]
    assert CAL.business_minutes_elapsed(running, now=at(*TUE, 14, 30)) == 150
    assert CAL.business_minutes_elapsed(running, now=at(*MON, 9, 0)) == 60
    assert CAL.business_minutes_elapsed([], now=at(*MON, 9, 0)) == 0


# --------------------------------------------------------------------------------------------
# Ticket clocks from the status history
# --------------------------------------------------------------------------------------------


def test_new_ticket_has_both_due_instants() -> None:
    created = at(*MON, 8, 0)
    sla = ticket_sla(
        CAL, created_at=created, priority="normal", events=[(created, "new")], now=at(*MON, 9, 0)
    )
    assert sla.first_response.due_at == at(*MON, 12, 0)
    assert sla.resolution.due_at == at(*FRI, 15, 0)
    for clock in (sla.first_response, sla.resolution):
        assert clock.phase is ClockPhase.RUNNING
        assert clock.state is ClockState.OK
        assert clock.elapsed_minutes == 60
        assert clock.breached_at is None
    assert sla.first_response.remaining_minutes == 180
    assert sla.first_response.percent_used == 25.0
    assert sla.contract_fields() == {
        "first_response_due": at(*MON, 12, 0),
        "resolution_due": at(*FRI, 15, 0),
        "first_response_breached": False,
        "resolution_breached": False,
    }


def test_waiting_council_pauses_and_resumes() -> None:
    created = at(*MON, 8, 0)
    events = [
        (created, "new"),
        (at(*MON, 8, 30), "assigned"),
        (at(*MON, 9, 0), "in_progress"),
        (at(*MON, 10, 0), "waiting_council"),
    ]
    replied = at(*MON, 9, 30)
    paused = ticket_sla(
        CAL,
        created_at=created,
        priority="normal",
        events=events,
        now=at(*TUE, 12, 0),
        first_response_at=replied,
    )
    assert paused.resolution.phase is ClockPhase.PAUSED
    assert paused.resolution.due_at is None
    assert paused.resolution.elapsed_minutes == 120
    assert paused.resolution.remaining_minutes == 1980
    assert paused.contract_fields()["resolution_due"] is None
    assert paused.first_response.phase is ClockPhase.STOPPED
    assert paused.first_response.state is ClockState.OK
    assert paused.first_response.elapsed_minutes == 90

    resumed = ticket_sla(
        CAL,
        created_at=created,
        priority="normal",
        events=[*events, (at(2026, 3, 4, 8, 0), "in_progress")],
        now=at(2026, 3, 4, 8, 0),
        first_response_at=replied,
    )
    assert resumed.resolution.phase is ClockPhase.RUNNING
    # Five days from Monday 08:00 would be Friday 15:00; Monday 10:00-15:00 and all Tuesday
    # were paused (720 minutes), so it moves to the next Tuesday 13:00.
    assert resumed.resolution.due_at == at(2026, 3, 10, 13, 0)
    assert resolution_intervals(
        created, [*events, (at(2026, 3, 4, 8, 0), "in_progress")], now=at(2026, 3, 4, 9, 0)
    ) == [
        (created, at(*MON, 10, 0)),
        (at(2026, 3, 4, 8, 0), None),
    ]


def test_first_response_clock_pauses_while_waiting_without_a_reply() -> None:
    created = at(*MON, 8, 0)
    events = [
        (at(*MON, 8, 10), "assigned"),
        (at(*MON, 8, 20), "in_progress"),
        (at(*MON, 8, 40), "waiting_council"),
    ]
    sla = ticket_sla(CAL, created_at=created, priority="urgent", events=events, now=at(*MON, 12, 0))
    assert sla.first_response.phase is ClockPhase.PAUSED
    assert sla.first_response.elapsed_minutes == 40
    assert sla.first_response.state is ClockState.BREACHED  # 30 minutes were used by 08:30
    assert sla.first_response.breached_at == at(*MON, 8, 30)
    assert sla.first_response.due_at == at(*MON, 8, 30)


def test_reopen_restarts_the_resolution_clock_where_it_stopped() -> None:
    created = at(*MON, 8, 0)
    events = [
        (created, "new"),
        (at(*MON, 8, 5), "assigned"),
        (at(*MON, 8, 10), "in_progress"),
        (at(*MON, 9, 0), "resolved"),
    ]
    resolved = ticket_sla(
        CAL, created_at=created, priority="urgent", events=events, now=at(*MON, 18, 0)
    )
    assert resolved.resolution.phase is ClockPhase.STOPPED
    assert resolved.resolution.state is ClockState.OK
    assert resolved.resolution.elapsed_minutes == 60
    assert resolved.resolution.due_at == at(*MON, 12, 0)  # as it stood when it stopped
    # No public reply, but resolving answered the clerk: the response clock stopped then.
    assert resolved.first_response.phase is ClockPhase.STOPPED
    assert resolved.first_response.breached  # 60 > 30 minutes

    reopened = [*events, (at(*TUE, 8, 0), "in_progress")]
    sla = ticket_sla(
        CAL, created_at=created, priority="urgent", events=reopened, now=at(*TUE, 9, 0)
    )
    assert sla.resolution.phase is ClockPhase.RUNNING
    assert sla.resolution.elapsed_minutes == 120
    assert sla.resolution.due_at == at(*TUE, 11, 0)
    # The response clock does not come back to life with the reopen.
    assert sla.first_response.phase is ClockPhase.STOPPED
    assert first_response_intervals(created, reopened, at(*TUE, 9, 0), None) == [
        (created, at(*MON, 9, 0))
    ]


def test_warning_from_75_percent() -> None:
    created = at(*MON, 8, 0)
    target = DEFAULT_SLA_TARGETS["urgent"].resolution_minutes  # 240
    replied = at(*MON, 8, 5)

    def resolution_at(now: datetime):
        return ticket_sla(
            CAL,
            created_at=created,
            priority="urgent",
            events=[],
            now=now,
            first_response_at=replied,
        ).resolution

    assert resolution_at(created + timedelta(minutes=179, seconds=59)).state is ClockState.OK
    warning = resolution_at(created + timedelta(minutes=180))
    assert warning.state is ClockState.WARNING
    assert warning.percent_used == 75.0
    assert warning.remaining_minutes == target - 180
    # Exactly at the due instant it is still in time, at 100 %.
    at_due = resolution_at(at(*MON, 12, 0))
    assert at_due.state is ClockState.WARNING
    assert at_due.percent_used == 100.0
    # The first-response clock was answered in time: stopped and ok.
    sla = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*MON, 11, 0),
        first_response_at=at(*MON, 8, 28),
    )
    assert sla.first_response.state is ClockState.OK
    assert sla.first_response.percent_used == pytest.approx(93.3)
    # A custom threshold.
    custom = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*MON, 10, 0),
        warning_percent=50,
        first_response_at=replied,
    )
    assert custom.resolution.state is ClockState.WARNING


def test_breach_instant() -> None:
    created = at(*FRI, 14, 0)  # urgent: 4 business hours, so due Monday 11:00
    sla_weekend = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*SAT, 12, 0),
        first_response_at=at(*FRI, 14, 20),
    )
    assert sla_weekend.resolution.due_at == at(*NEXT_MON, 11, 0)
    assert not sla_weekend.resolution.breached

    on_time = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*NEXT_MON, 11, 0),
        first_response_at=at(*FRI, 14, 20),
    )
    assert not on_time.resolution.breached
    late = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*NEXT_MON, 11, 0) + timedelta(microseconds=1),
        first_response_at=at(*FRI, 14, 20),
    )
    assert late.resolution.state is ClockState.BREACHED
    assert late.resolution.breached_at == at(*NEXT_MON, 11, 0)
    assert late.resolution.due_at == at(*NEXT_MON, 11, 0)
    assert late.contract_fields()["resolution_breached"] is True


def test_due_at_closing_is_breached_once_the_office_has_closed() -> None:
    # Due at 15:00 sharp; at 16:00 no business time has passed since, but it is overdue.
    created = at(*MON, 11, 0)
    sla = ticket_sla(
        CAL,
        created_at=created,
        priority="urgent",
        events=[],
        now=at(*MON, 16, 0),
        first_response_at=at(*MON, 11, 10),
    )
    assert sla.resolution.due_at == at(*MON, 15, 0)
    assert sla.resolution.state is ClockState.BREACHED
    assert sla.resolution.elapsed_minutes == 240
    assert sla.resolution.remaining_minutes == 0


def test_first_response_reply_exactly_at_due_is_in_time() -> None:
    created = at(*MON, 8, 0)
    for reply, breached in ((at(*MON, 8, 30), False), (at(*MON, 8, 30, 1), True)):
        sla = ticket_sla(
            CAL,
            created_at=created,
            priority="urgent",
            events=[],
            now=at(*MON, 10, 0),
            first_response_at=reply,
        )
        assert sla.first_response.phase is ClockPhase.STOPPED
        assert sla.first_response.breached is breached
        assert sla.first_response.due_at == at(*MON, 8, 30)


def test_history_is_read_as_of_now() -> None:
    created = at(*MON, 8, 0)
    events = [(at(*MON, 9, 0), "in_progress"), (at(*MON, 10, 0), "resolved")]
    # Events (and a reply) after now have not happened yet.
    sla = ticket_sla(
        CAL,
        created_at=created,
        priority="normal",
        events=events,
        now=at(*MON, 9, 30),
        first_response_at=at(*MON, 9, 45),
    )
    assert sla.resolution.phase is ClockPhase.RUNNING
    assert sla.first_response.phase is ClockPhase.RUNNING
    # Events out of order are sorted; an event stamped before creation counts at creation.
    shuffled = [(at(*MON, 10, 0), "resolved"), (at(*MON, 7, 0), "assigned")]
    sla = ticket_sla(
        CAL, created_at=created, priority="normal", events=shuffled, now=at(*MON, 12, 0)
    )
    assert sla.resolution.elapsed_minutes == 120


def test_invalid_ticket_inputs() -> None:
    created = at(*MON, 8, 0)
    with pytest.raises(ValueError, match="status"):
        ticket_sla(
            CAL, created_at=created, priority="normal", events=[(created, "open")], now=created
        )
    with pytest.raises(ValueError, match="priority"):
        ticket_sla(CAL, created_at=created, priority="critical", events=[], now=created)


def test_evaluate_clock_from_intervals() -> None:
    running = [(at(*MON, 8, 0), at(*MON, 9, 0))]
    paused = evaluate_clock(CAL, 120, running, now=at(*MON, 10, 0))
    assert (paused.phase, paused.due_at, paused.elapsed_minutes) == (ClockPhase.PAUSED, None, 60)
    stopped = evaluate_clock(CAL, 120, running, now=at(*MON, 10, 0), stopped=True)
    assert (stopped.phase, stopped.due_at) == (ClockPhase.STOPPED, at(*MON, 10, 0))
    never = evaluate_clock(CAL, 120, [], now=at(*MON, 10, 0), stopped=True, origin=at(*MON, 8, 0))
    assert never.due_at == at(*MON, 10, 0)
    with pytest.raises(ValueError):
        evaluate_clock(CAL, 0, running, now=at(*MON, 10, 0))


def test_sla_targets_from_config() -> None:
    targets = sla_targets({"urgent": {"first_response": 15}, "low": (480, 8400)})
    assert targets["urgent"] == SlaTarget(15, 240)
    assert targets["low"] == SlaTarget(480, 8400)
    assert targets["normal"] == DEFAULT_SLA_TARGETS["normal"]
    assert sla_targets() == dict(DEFAULT_SLA_TARGETS)
    with pytest.raises(ValueError):
        sla_targets({"critical": (1, 2)})
    with pytest.raises(ValueError):
        sla_targets({"urgent": {"resolution": 0}})
    with pytest.raises(ValueError):
        sla_targets({"urgent": {"resolve": 10}})
    with pytest.raises(ValueError):
        sla_targets({"urgent": (1.5, 60)})
    with pytest.raises(TypeError):
        DEFAULT_SLA_TARGETS["urgent"] = SlaTarget(1, 1)  # type: ignore[index]
    sla = ticket_sla(
        CAL,
        created_at=at(*MON, 8, 0),
        priority="urgent",
        events=[],
        now=at(*MON, 8, 0),
        targets=targets,
    )
    assert sla.first_response.due_at == at(*MON, 8, 15)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

HOLIDAYS = holidays_from_config(
    ["2026-04-03", "2026-04-06", "2026-06-24"],
    recurring=[
        "01-01",
        "01-06",
        "05-01",
        "08-15",
        "09-11",
        "10-12",
        "11-01",
        "12-08",
        "12-25",
        "12-26",
    ],
    years=range(2025, 2028),
)
CALENDARS = {
    "default": CAL,
    "holidays": BusinessCalendar(holidays=HOLIDAYS),
    "split": BusinessCalendar.from_config(
        hours="08:00-14:00, 16:00-18:00", weekday_hours={4: "08:00-14:00"}, holidays=HOLIDAYS
    ),
}

# 2025-2027 covers six DST changes, two year ends and every holiday above.
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
)
minute_instants = instants.map(lambda d: d.replace(second=0, microsecond=0))
calendars = st.sampled_from(sorted(CALENDARS))
minutes = st.integers(min_value=0, max_value=20_000)


@given(name=calendars, start=instants, m=minutes)
def test_between_inverts_add_for_every_start(name: str, start: datetime, m: int) -> None:
    # Holds inside and outside business hours: outside, both count from the next opening.
    cal = CALENDARS[name]
    assert cal.business_minutes_between(start, cal.add_business_minutes(start, m)) == m


@given(name=calendars, start=instants, end=instants)
def test_add_of_between_never_overshoots(name: str, start: datetime, end: datetime) -> None:
    cal = CALENDARS[name]
    assume(end >= start)
    back = cal.add_business_minutes(start, cal.business_minutes_between(start, end))
    assert start <= back <= end


@given(name=calendars, start=instants, m1=minutes, m2=minutes)
def test_add_is_strictly_monotonic_and_additive(
    name: str, start: datetime, m1: int, m2: int
) -> None:
    cal = CALENDARS[name]
    low, high = sorted((m1, m2))
    assume(low != high)
    assert cal.add_business_minutes(start, low) < cal.add_business_minutes(start, high)
    step = cal.add_business_minutes(cal.add_business_minutes(start, low), high - low)
    assert step == cal.add_business_minutes(start, high)


@given(name=calendars, start=instants, m=st.integers(min_value=1, max_value=20_000))
def test_due_is_inside_working_time_or_at_a_closing(name: str, start: datetime, m: int) -> None:
    cal = CALENDARS[name]
    due = cal.add_business_minutes(start, m)
    wall = local(due)
    assert wall.date() not in cal.holidays
    seconds = wall.hour * 3600 + wall.minute * 60 + wall.second + wall.microsecond / 1e6
    intervals = cal.weekly_hours[wall.weekday()]
    assert any(s * 60 < seconds <= e * 60 for s, e in intervals), (wall, intervals)
    # Just before the due instant the office is open.
    assert cal.is_business_time(due - timedelta(microseconds=1))


def _oracle_minutes(cal: BusinessCalendar, a: datetime, b: datetime) -> int:
    """Business minutes counted minute by minute from the local wall clock: slow but obvious."""
    count, t = 0, a
    while t < b:
        wall = local(t)
        minute = wall.hour * 60 + wall.minute
        if wall.date() not in cal.holidays and any(
            s <= minute < e for s, e in cal.weekly_hours[wall.weekday()]
        ):
            count += 1
        t += timedelta(minutes=1)
    return count


@settings(max_examples=40, deadline=None)
@given(name=calendars, a=minute_instants, span=st.integers(min_value=0, max_value=4 * 1440))
def test_between_matches_a_minute_by_minute_oracle(name: str, a: datetime, span: int) -> None:
    cal = CALENDARS[name]
    b = a + timedelta(minutes=span)
    assert cal.business_minutes_between(a, b) == _oracle_minutes(cal, a, b)


ALWAYS = BusinessCalendar.from_config(workdays=range(7), hours="00:00-24:00")


@given(start=instants, m=minutes)
def test_a_24x7_calendar_is_plain_utc_arithmetic(start: datetime, m: int) -> None:
    # Midnight-to-midnight intervals through both DST changes add up to real elapsed time.
    assert ALWAYS.add_business_minutes(start, m) == start + timedelta(minutes=m)
    assert ALWAYS.business_minutes_between(start, start + timedelta(minutes=m)) == m


pause_lists = st.lists(st.tuples(st.integers(0, 30 * 1440), st.integers(1, 5 * 1440)), max_size=4)


@given(
    name=calendars,
    start=instants,
    target=st.integers(1, 5000),
    raw=pause_lists,
    extra=st.tuples(st.integers(0, 30 * 1440), st.integers(1, 5 * 1440)),
)
def test_pauses_only_ever_postpone(
    name: str,
    start: datetime,
    target: int,
    raw: list[tuple[int, int]],
    extra: tuple[int, int],
) -> None:
    cal = CALENDARS[name]

    def spans(items: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
        return [(start + timedelta(minutes=o), start + timedelta(minutes=o + d)) for o, d in items]

    now = start + timedelta(days=400)  # every pause is over
    unpaused = cal.due_at(start, target, [], now)
    paused = cal.due_at(start, target, spans(raw), now)
    more = cal.due_at(start, target, spans([*raw, extra]), now)
    assert unpaused is not None and paused is not None and more is not None
    assert unpaused <= paused <= more
    elapsed_plain = cal.business_minutes_elapsed([(start, None)], now)
    running = resolution_intervals(
        start,
        [
            ev
            for o, d in raw
            for ev in (
                (start + timedelta(minutes=o), "waiting_council"),
                (start + timedelta(minutes=o + d), "in_progress"),
            )
        ],
        now,
    )
    assert cal.business_minutes_elapsed(running, now) <= elapsed_plain


@given(
    name=calendars,
    created=instants,
    offsets=st.lists(st.integers(1, 3000), max_size=6),
    statuses=st.lists(st.sampled_from(["in_progress", "waiting_council", "resolved"]), max_size=6),
    look=st.integers(0, 6000),
    priority=st.sampled_from(["low", "normal", "high", "urgent"]),
)
def test_ticket_clock_invariants(
    name: str,
    created: datetime,
    offsets: list[int],
    statuses: list[str],
    look: int,
    priority: str,
) -> None:
    cal = CALENDARS[name]
    events, t = [], created
    for offset, status in zip(offsets, statuses, strict=False):
        t += timedelta(minutes=offset)
        events.append((t, status))
    now = created + timedelta(minutes=look)
    sla = ticket_sla(cal, created_at=created, priority=priority, events=events, now=now)
    for clock in (sla.first_response, sla.resolution):
        assert clock.elapsed_minutes + clock.remaining_minutes >= clock.target_minutes
        if clock.state is not ClockState.BREACHED:
            assert clock.elapsed_minutes <= clock.target_minutes
            assert clock.breached_at is None
        else:
            assert clock.breached_at is not None and clock.breached_at <= now
            assert clock.due_at == clock.breached_at
        if clock.phase is ClockPhase.PAUSED and clock.elapsed_minutes < clock.target_minutes:
            assert clock.due_at is None
        else:
            assert clock.due_at is not None
    # The response clock never runs longer than the resolution clock.
    assert sla.first_response.elapsed_minutes <= sla.resolution.elapsed_minutes
