"""Tickets through their life: references, the contract's moves and nothing else, the history,
replies that move the work on, reopening within 15 days and the job that closes after them,
ratings, time logged from the ticket into the hours ledger."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from support.hours import services as hours
from support.tickets import jobs, ratings, services
from support.tickets.models import TICKET_STATUSES, Ticket, TicketChange, TicketCounter

pytestmark = pytest.mark.usefixtures("english")

UTC = dt.UTC


def test_references_count_per_council_and_office_year(app, db, world, open_ticket):
    a1, a2 = open_ticket(), open_ticket()
    b1 = open_ticket(council=world.council_b)
    year = services.office_year(a1.created_at)
    assert [a1.reference, a2.reference] == [f"MURA-{year}-0001", f"MURA-{year}-0002"]
    assert b1.reference == f"{world.council_b.code}-{year}-0001"
    # The year is the office's: 23:30 UTC on 31 December is already New Year in Madrid.
    late = open_ticket(now=dt.datetime(2030, 12, 31, 23, 30, tzinfo=UTC))
    assert late.reference == "MURA-2031-0001" and late.year == 2031
    early = open_ticket(now=dt.datetime(2030, 12, 31, 22, 30, tzinfo=UTC))
    assert early.reference == "MURA-2030-0001"


def test_a_rolled_back_ticket_gives_its_number_back(app, db, world, open_ticket):
    first = open_ticket()
    council = world.council_a
    services.create_ticket(council, {"title": "Rolled back"}, actor=world.clerk_a, commit=False)
    db.session.rollback()
    second = open_ticket()
    assert second.number == first.number + 1
    assert db.session.scalar(select(TicketCounter.last).where(TicketCounter.council_id == council.id)) == second.number


def test_only_the_contracts_moves(app, db, world, open_ticket):
    allowed = {("new", "assigned"), ("assigned", "in_progress"), ("in_progress", "waiting_council"),
               ("in_progress", "resolved"), ("waiting_council", "in_progress"), ("waiting_council", "resolved"),
               ("resolved", "closed"), ("resolved", "in_progress")}
    paths = {"new": (), "assigned": ("assigned",), "in_progress": ("assigned", "in_progress"),
             "waiting_council": ("assigned", "in_progress", "waiting_council"),
             "resolved": ("assigned", "in_progress", "resolved"), "closed": ("assigned", "in_progress", "resolved", "closed")}
    for source in TICKET_STATUSES:
        for target in TICKET_STATUSES:
            if source == target:
                continue
            ticket = open_ticket()
            for step in paths[source]:
                services.change_ticket(ticket, {"status": step}, actor=world.technician)
            if (source, target) in allowed:
                services.change_ticket(ticket, {"status": target}, actor=world.technician)
                assert ticket.status == target
            else:
                with pytest.raises(Conflict) as exc:
                    services.change_ticket(ticket, {"status": target}, actor=world.technician)
                assert exc.value.code == "invalid_transition" and set(exc.value.fields) == {"status"}
                db.session.rollback()
                assert db.session.get(Ticket, ticket.id).status == source


def test_assigning_a_new_ticket_moves_it_to_assigned_and_everything_is_in_the_history(app, db, world, open_ticket):
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ticket = open_ticket(now=t0)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.manager,
                           now=t0 + dt.timedelta(minutes=5))
    assert (ticket.status, ticket.assignee_id) == ("assigned", world.technician.id)
    services.change_ticket(ticket, {"priority": "high", "category": "network", "status": "in_progress"},
                           actor=world.technician, now=t0 + dt.timedelta(minutes=9))
    history = db.session.execute(select(TicketChange.field, TicketChange.old_value, TicketChange.new_value,
                                        TicketChange.actor_id, TicketChange.at)
                                 .where(TicketChange.ticket_id == ticket.id).order_by(TicketChange.id)).all()
    assert [(f, o, n, a) for f, o, n, a, _at in history] == [
        ("status", None, "new", world.clerk_a.id),
        ("assignee", None, str(world.technician.id), world.manager.id),
        ("status", "new", "assigned", world.manager.id),
        ("status", "assigned", "in_progress", world.technician.id),
        ("priority", "normal", "high", world.technician.id),
        ("category", "other", "network", world.technician.id),
    ]
    assert [at for *_rest, at in history] == [t0, *[t0 + dt.timedelta(minutes=5)] * 2, *[t0 + dt.timedelta(minutes=9)] * 3]
    # Only office staff can be assignees.
    with pytest.raises(ValidationFailed) as exc:
        services.change_ticket(ticket, {"assignee_id": world.clerk_a.id}, actor=world.manager)
    assert set(exc.value.fields) == {"assignee_id"}


def test_clerks_only_answer_a_solved_ticket(app, db, world, open_ticket, move):
    ticket = open_ticket()
    for values in ({"status": "assigned"}, {"priority": "urgent"}, {"assignee_id": world.technician.id}):
        with pytest.raises(PermissionDenied):
            services.change_ticket(ticket, values, actor=world.clerk_a)
        db.session.rollback()
    move(ticket, "assigned", "in_progress", "resolved")
    services.change_ticket(ticket, {"status": "in_progress"}, actor=world.clerk_a)  # "it still happens"
    assert ticket.status == "in_progress" and ticket.resolved_at is None
    move(ticket, "resolved")
    services.change_ticket(ticket, {"status": "closed"}, actor=world.clerk_a)  # "yes, it works"
    assert ticket.status == "closed" and ticket.closed_at is not None
    # Another council's clerk does not even see it.
    from core.scope import council_scope

    with council_scope(world.council_b.id), pytest.raises(NotFound):
        services.get_ticket(ticket.id)


def test_replies_move_the_work_on(app, db, world, open_ticket, move):
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ticket = open_ticket(now=t0)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician, now=t0)
    note = services.add_comment(ticket, "Printer model is old.", internal=True, actor=world.technician,
                                now=t0 + dt.timedelta(minutes=1))
    assert ticket.first_response_at is None and ticket.status == "assigned" and note.internal
    services.add_comment(ticket, "We are on it.", internal=False, actor=world.technician,
                         now=t0 + dt.timedelta(minutes=10))
    assert ticket.first_response_at == t0 + dt.timedelta(minutes=10) and ticket.status == "in_progress"
    move(ticket, "waiting_council")
    services.add_comment(ticket, "It is the one at the entrance.", internal=False, actor=world.clerk_a)
    assert ticket.status == "in_progress"
    # Clerks cannot write internal notes.
    with pytest.raises(PermissionDenied):
        services.add_comment(ticket, "secret", internal=True, actor=world.clerk_a)
    with pytest.raises(ValidationFailed) as exc:
        services.add_comment(ticket, "   ", internal=False, actor=world.technician)
    assert set(exc.value.fields) == {"body"}
    # A closed ticket takes no more replies from the council: they open a new one.
    move(ticket, "resolved", "closed")
    with pytest.raises(Conflict) as exc:
        services.add_comment(ticket, "It happens again", internal=False, actor=world.clerk_a)
    assert exc.value.code == "ticket_closed"


def test_resolved_tickets_close_after_fifteen_days(app, db, world, open_ticket, move):
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    old, recent = open_ticket(now=t0), open_ticket(now=t0)
    for ticket in (old, recent):
        move(ticket, "assigned", "in_progress", now=t0)
    move(old, "resolved", now=t0 + dt.timedelta(hours=1))
    move(recent, "resolved", now=t0 + dt.timedelta(days=10))
    assert jobs.close_resolved(t0 + dt.timedelta(days=15)) == 0
    assert jobs.close_resolved(t0 + dt.timedelta(days=15, hours=1)) == 1
    db.session.expire_all()
    assert db.session.get(Ticket, old.id).status == "closed"
    assert db.session.get(Ticket, recent.id).status == "resolved"
    last = db.session.scalars(select(TicketChange).where(TicketChange.ticket_id == old.id)
                              .order_by(TicketChange.id.desc())).first()
    assert (last.field, last.new_value, last.actor_id) == ("status", "closed", None)
    # The reopen window starts again from a new resolution.
    recent = db.session.get(Ticket, recent.id)
    move(recent, "in_progress", "resolved", now=t0 + dt.timedelta(days=14))
    assert jobs.close_resolved(t0 + dt.timedelta(days=26)) == 0
    assert jobs.close_resolved(t0 + dt.timedelta(days=29, hours=1)) == 1


def test_ratings_once_on_solved_tickets_by_the_council(app, db, world, open_ticket, move):
    ticket = open_ticket()
    with pytest.raises(Conflict) as exc:
        ratings.rate_ticket(ticket, 5, "", actor=world.clerk_a)
    assert exc.value.code == "not_resolved"
    move(ticket, "assigned", "in_progress", "resolved")
    with pytest.raises(PermissionDenied):
        ratings.rate_ticket(ticket, 5, "", actor=world.technician)
    with pytest.raises(ValidationFailed) as exc:
        ratings.rate_ticket(ticket, 6, "", actor=world.clerk_a)
    assert set(exc.value.fields) == {"score"}
    rating = ratings.rate_ticket(ticket, 4, "Quick, thanks", actor=world.clerk_a)
    assert (rating.score, rating.comment, rating.rated_by_id) == (4, "Quick, thanks", world.clerk_a.id)
    with pytest.raises(Conflict) as exc:
        ratings.rate_ticket(ticket, 5, "", actor=world.clerk_a)
    assert exc.value.code == "already_rated"


def test_time_from_the_ticket_goes_into_the_hours_ledger(app, db, world, open_ticket, make_agreement, today):
    from support.hours.models import TimeEntry

    make_agreement(first=(today.year - 1, 1), last=(today.year + 1, 12))
    ticket = open_ticket()
    entry = services.log_ticket_time(ticket, {"date": today, "minutes": 45, "mode": "remote",
                                              "description": "Driver reinstalled"}, actor=world.technician)
    assert (entry.ticket_id, entry.council_id, entry.minutes) == (ticket.id, world.council_a.id, 45)
    services.log_ticket_time(ticket, {"date": today, "minutes": 30, "mode": "onsite", "travel_minutes": 40,
                                      "description": "Visit"}, actor=world.technician)
    assert services.time_totals([ticket.id]) == {ticket.id: 75}
    assert [e.minutes for e in services.time_entries_of(ticket)] == [45, 30]
    # The hours service refuses a ticket of another council, or one that does not exist.
    other = open_ticket(council=world.council_b)
    for ticket_id, message in ((other.id, "another council"), (2**31 - 1, "Unknown ticket")):
        with pytest.raises(ValidationFailed) as exc:
            hours.create_entry(world.council_a, {"date": today, "minutes": 10, "mode": "remote",
                                                 "ticket_id": ticket_id}, actor=world.technician)
        assert message in str(exc.value.fields["ticket_id"])
    # Moving an entry to another council must not leave it on a ticket of the first one.
    make_agreement(council=world.council_b, first=(today.year - 1, 1), last=(today.year + 1, 12))
    with pytest.raises(ValidationFailed) as exc:
        hours.update_entry(entry, {"council_id": world.council_b.id}, actor=world.technician)
    assert set(exc.value.fields) == {"ticket_id"}
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(TimeEntry).where(TimeEntry.ticket_id == ticket.id)) == 2


def test_equipment_must_be_the_councils(app, db, world, open_ticket):
    from inventory import services as inventory

    ours = inventory.create_asset(world.council_a, {"kind": "printer", "name": "Registry printer"}, actor=None)
    theirs = inventory.create_asset(world.council_b, {"kind": "printer", "name": "Their printer"}, actor=None)
    ticket = open_ticket(asset_id=ours.id)
    assert ticket.asset_id == ours.id
    assert [t.id for t in inventory.tickets_of(ours)] == [ticket.id]
    with pytest.raises(ValidationFailed) as exc:
        open_ticket(asset_id=theirs.id, actor=world.technician)
    assert set(exc.value.fields) == {"asset_id"}
    db.session.rollback()
    # For a clerk, the other council's asset simply does not exist.
    from core.scope import council_scope

    with council_scope(world.council_a.id), pytest.raises(ValidationFailed) as exc:
        open_ticket(asset_id=theirs.id)
    assert "Unknown" in str(exc.value.fields["asset_id"])
