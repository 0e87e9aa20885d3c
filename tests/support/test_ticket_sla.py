"""The SLA of tickets on the office's business calendar, as stored for the queue: business
hours, holidays, the pause while waiting for the council, a change of daylight saving time,
targets from configuration, and the job that turns warnings and breaches on (once)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.calendar import office_calendar
from core.models import Notification
from support.tickets import queue, services, sla_state
from support.tickets.models import Ticket, TicketSlaBreach

pytestmark = pytest.mark.usefixtures("english")

MADRID = ZoneInfo("Europe/Madrid")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MADRID).astimezone(dt.UTC)


def test_due_times_count_office_hours_only(app, db, world, open_ticket):
    # Friday 6 March 2026, 14:45: a quarter of an hour left today.
    ticket = open_ticket(now=local(2026, 3, 6, 14, 45), priority="normal")
    assert ticket.first_response_due_at == local(2026, 3, 9, 11, 45)  # 15 min Friday + 3 h 45 min Monday
    assert ticket.resolution_due_at == local(2026, 3, 13, 14, 45)  # five office days of 7 hours
    assert (ticket.sla_state, ticket.queue_at) == ("ok", ticket.first_response_due_at)
    # The warning share (75 % of 240 min = 180 min) comes first: Monday 08:00 + 165 min.
    assert ticket.sla_next_at == local(2026, 3, 9, 10, 45)


def test_holidays_are_not_office_time(app, db, world, open_ticket):
    app.config["OFFICE_HOLIDAYS"] = ("2026-03-09",)  # the Monday: a local feast
    try:
        ticket = open_ticket(now=local(2026, 3, 6, 14, 45), priority="normal")
        assert ticket.first_response_due_at == local(2026, 3, 10, 11, 45)
        # The fixed Catalan holidays are known without configuration: 11 September 2026 is a Friday.
        national_day = open_ticket(now=local(2026, 9, 10, 14, 0), priority="high")
        assert national_day.first_response_due_at == local(2026, 9, 14, 9, 0)
    finally:
        app.config["OFFICE_HOLIDAYS"] = ()


def test_the_clock_pauses_while_waiting_for_the_council(app, db, world, open_ticket, api_for):
    t0 = local(2026, 3, 2, 9, 0)  # Monday
    ticket = open_ticket(now=t0, priority="normal")
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician, now=t0)
    services.add_comment(ticket, "Which PC is it?", internal=False, actor=world.technician,
                         now=t0 + dt.timedelta(minutes=30))
    services.change_ticket(ticket, {"status": "waiting_council"}, actor=world.technician,
                           now=t0 + dt.timedelta(hours=1))
    assert (ticket.sla_state, ticket.resolution_due_at, ticket.sla_next_at) == ("paused", None, None)
    assert ticket.queue_at == queue.queue_stand_in("paused", ticket.id)
    assert queue.QUEUE_PAUSED < ticket.queue_at < queue.QUEUE_DONE
    sla = api_for(world.technician).get(f"/api/v1/tickets/{ticket.id}").json["sla"]
    # The first reply came in time (its due stays as it stood); the solution's due is unknown
    # until the council answers.
    assert dt.datetime.fromisoformat(sla.pop("first_response_due")) == local(2026, 3, 2, 13, 0)
    assert sla == {"resolution_due": None, "first_response_breached": False, "resolution_breached": False}
    # The council answers two office days later (Wednesday 10:00): the 2100 minutes resume
    # with the 60 already used, so the solution is due 2040 office minutes after Wednesday 10:00.
    services.add_comment(ticket, "The one at the entrance.", internal=False, actor=world.clerk_a,
                         now=local(2026, 3, 4, 10, 0))
    assert ticket.status == "in_progress" and ticket.sla_state == "ok"
    assert ticket.resolution_due_at == office_calendar().add_business_minutes(local(2026, 3, 4, 10, 0), 2040)
    assert ticket.resolution_due_at == local(2026, 3, 11, 9, 0)


def test_a_change_of_daylight_saving_time(app, db, world, open_ticket):
    # Friday 27 March 2026 14:00 CET (UTC+1); on Sunday the clocks go to CEST (UTC+2).
    ticket = open_ticket(now=dt.datetime(2026, 3, 27, 13, 0, tzinfo=dt.UTC), priority="urgent")
    assert ticket.first_response_due_at == dt.datetime(2026, 3, 27, 13, 30, tzinfo=dt.UTC)
    # One hour on Friday, three on Monday from 08:00 CEST: 11:00 local, 09:00 UTC.
    assert ticket.resolution_due_at == dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC)
    assert ticket.resolution_due_at.astimezone(MADRID).hour == 11


def test_targets_come_from_configuration(app, db, world, open_ticket):
    app.config["SLA_TARGETS"] = {"normal": {"first_response": 60}, "low": [120, 840]}
    try:
        t0 = local(2026, 3, 2, 9, 0)
        normal = open_ticket(now=t0, priority="normal")
        low = open_ticket(now=t0, priority="low")
        assert normal.first_response_due_at == local(2026, 3, 2, 10, 0)
        assert normal.resolution_due_at == local(2026, 3, 9, 9, 0)  # the default 2100 min kept
        assert (low.first_response_due_at, low.resolution_due_at) == (local(2026, 3, 2, 11, 0), local(2026, 3, 4, 9, 0))
        # A priority change recomputes from the start with the new targets.
        services.change_ticket(low, {"priority": "urgent"}, actor=world.technician, now=t0 + dt.timedelta(minutes=5))
        assert low.first_response_due_at == local(2026, 3, 2, 9, 30)
    finally:
        app.config["SLA_TARGETS"] = {}


def test_the_job_warns_then_marks_and_announces_a_breach_once(app, db, world, open_ticket):
    t0 = local(2026, 3, 2, 9, 0)
    urgent = open_ticket(now=t0, priority="urgent")
    calm = open_ticket(now=t0, priority="low")
    services.change_ticket(urgent, {"assignee_id": world.technician.id}, actor=world.manager, now=t0)
    assert urgent.sla_next_at == local(2026, 3, 2, 9, 23)  # 75 % of 30 minutes, rounded up

    assert sla_state.refresh_due_slas(local(2026, 3, 2, 9, 10)) == {"refreshed": 0, "breaches": 0}
    assert sla_state.refresh_due_slas(local(2026, 3, 2, 9, 24)) == {"refreshed": 1, "breaches": 0}
    db.session.expire_all()
    urgent = db.session.get(Ticket, urgent.id)
    assert urgent.sla_state == "warning" and urgent.sla_next_at == local(2026, 3, 2, 9, 30, 1)

    from support.tickets.jobs import check_sla

    assert check_sla(local(2026, 3, 2, 9, 31)) == {"refreshed": 1, "breaches": 1}
    assert check_sla(local(2026, 3, 2, 9, 32)) == {"refreshed": 0, "breaches": 0}
    db.session.expire_all()
    urgent = db.session.get(Ticket, urgent.id)
    assert (urgent.sla_state, urgent.first_response_breached, urgent.resolution_breached) == ("breached", True, False)
    # The queue finds it by its stored state, in SQL.
    found = db.session.scalars(queue.ticket_query(queue.TicketFilters(sla="breached"),
                                                     include_internal=True)).all()
    assert [t.id for t in found] == [urgent.id]
    assert db.session.get(Ticket, calm.id).sla_state == "ok"
    # Once, to the assignee and the managers; a change that re-evaluates the ticket repeats nothing.
    services.change_ticket(urgent, {"status": "in_progress"}, actor=world.technician, now=local(2026, 3, 2, 9, 40))
    notes = db.session.scalars(select(Notification).where(Notification.kind == "support.ticket_breach")).all()
    assert sorted(n.user_id for n in notes) == sorted([world.technician.id, world.manager.id])
    assert db.session.scalar(select(func.count()).select_from(TicketSlaBreach)) == 1
    from core.notify import render_title

    assert render_title("support.ticket_breach", notes[0].params) == f"{urgent.reference} is past its first-response time"
    # The resolution breach later is its own announcement.
    assert check_sla(local(2026, 3, 2, 13, 1))["breaches"] == 1
    assert sorted(db.session.scalars(select(TicketSlaBreach.kind))) == ["first_response", "resolution"]


def test_solved_in_time_stops_the_clock(app, db, world, open_ticket, move):
    t0 = local(2026, 3, 2, 9, 0)
    ticket = open_ticket(now=t0, priority="high")
    move(ticket, "assigned", "in_progress", now=t0 + dt.timedelta(minutes=10))
    move(ticket, "resolved", now=t0 + dt.timedelta(hours=2))
    assert (ticket.sla_state, ticket.sla_next_at) == ("stopped", None)
    assert ticket.queue_at == queue.queue_stand_in("stopped", ticket.id) and ticket.queue_at > queue.QUEUE_DONE
    assert not ticket.first_response_breached and not ticket.resolution_breached
    # Reopened: the resolution clock runs again from where it stopped.
    move(ticket, "in_progress", now=local(2026, 3, 3, 9, 0))
    assert ticket.sla_state == "ok"
    assert ticket.resolution_due_at == office_calendar().add_business_minutes(local(2026, 3, 3, 9, 0), 840 - 120)
