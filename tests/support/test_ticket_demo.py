"""`flask seed-demo`'s tickets: about 110 a month over 18 months, behind the hours ledger (an
entry on a ticket is of the ticket's council and not before it was opened), with their history,
replies, internal notes, ratings and some SLA breaches; numbered without gaps, with counters
that carry on from there, findable by search, and about the council's own equipment."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from inventory.models import Asset
from support.hours.models import TimeEntry
from support.tickets import queue, services
from support.tickets.models import (
    Ticket,
    TicketChange,
    TicketComment,
    TicketCounter,
    TicketRating,
    TicketSearch,
    TicketSlaBreach,
)

TODAY = dt.date(2026, 3, 18)
MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.slow
def test_demo_tickets(app, db):
    from agreements.months import add_months
    from core import demo

    demo.run(today=TODAY)
    tickets = db.session.scalars(select(Ticket).where(Ticket.channel != "monitoring")).all()
    # About 110 a month across the comarca, over the 18 months.
    per_month = Counter(t.created_at.astimezone(MADRID).date().replace(day=1) for t in tickets)
    months = [add_months(TODAY.replace(day=1), -i) for i in range(1, 17)]
    full = [per_month[m] for m in months]
    assert all(80 <= n <= 150 for n in full), full
    assert 95 <= sum(full) / len(full) <= 130, full
    assert min(per_month) >= add_months(TODAY.replace(day=1), -18)
    assert max(t.created_at for t in tickets) <= dt.datetime.combine(TODAY, dt.time(23, 59), MADRID)

    # Behind the hours: most entries answer a ticket of the same council, opened before the work.
    linked = db.session.execute(select(TimeEntry.date, TimeEntry.council_id, Ticket.council_id, Ticket.created_at)
                                .join(Ticket, Ticket.id == TimeEntry.ticket_id)).all()
    entries = db.session.scalar(select(func.count()).select_from(TimeEntry)
                                .where(TimeEntry.corrects_entry_id.is_(None)))
    assert len(linked) >= 0.75 * entries
    for day, entry_council, ticket_council, opened in linked:
        assert entry_council == ticket_council
        assert opened.astimezone(MADRID).date() <= day

    # Every state, with its history; every reference consecutive per council and year.
    statuses = Counter(t.status for t in tickets)
    assert statuses["closed"] > 0.8 * len(tickets)
    assert {"new", "in_progress", "resolved"} <= set(statuses)
    numbers: dict[tuple[int, int], list[int]] = {}
    for t in tickets:
        numbers.setdefault((t.council_id, t.year), []).append(t.number)
        assert t.reference.endswith(f"-{t.year}-{t.number:04d}")
    for key, found in numbers.items():
        assert sorted(found) == list(range(1, len(found) + 1)), key
    counters = {(c.council_id, c.year): c.last for c in db.session.scalars(select(TicketCounter))}
    assert all(counters[key] >= len(found) for key, found in numbers.items())
    first_changes = db.session.execute(select(TicketChange.ticket_id, func.min(TicketChange.id))
                                       .group_by(TicketChange.ticket_id)).all()
    assert len(first_changes) >= len(tickets)

    # Conversations with internal notes; ratings on solved tickets only, mostly good.
    assert db.session.scalar(select(func.count()).select_from(TicketComment).where(TicketComment.internal)) > 100
    ratings = db.session.execute(select(TicketRating.score, Ticket.status)
                                 .join(Ticket, Ticket.id == TicketRating.ticket_id)).all()
    assert len(ratings) > 0.4 * len(tickets)
    assert {status for _s, status in ratings} <= {"resolved", "closed"}
    scores = Counter(score for score, _status in ratings)
    assert set(scores) == {1, 2, 3, 4, 5} and scores[5] > scores[3] > scores[1]

    # Some late: each breach recorded once and flagged on its ticket.
    breaches = db.session.execute(select(TicketSlaBreach.kind, Ticket.first_response_breached,
                                         Ticket.resolution_breached)
                                  .join(Ticket, Ticket.id == TicketSlaBreach.ticket_id)).all()
    assert 0.02 * len(tickets) < len(breaches) < 0.2 * len(tickets)
    for kind, first, resolution in breaches:
        assert first if kind == "first_response" else resolution
    assert {kind for kind, *_flags in breaches} == {"first_response", "resolution"}

    # About the council's own equipment, often.
    on_assets = db.session.execute(select(Ticket.council_id, Asset.council_id)
                                   .join(Asset, Asset.id == Ticket.asset_id)).all()
    assert len(on_assets) > 0.3 * len(tickets)
    assert all(a == b for a, b in on_assets)

    # Searchable, and new tickets carry on the numbering.
    assert db.session.scalar(select(func.count()).select_from(TicketSearch)) == len(tickets) + (
        db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.channel == "monitoring")))
    found = db.session.scalars(queue.ticket_query(queue.TicketFilters(q="impressora"),
                                                     include_internal=False)).all()
    titled = [t for t in tickets if "impressora" in t.title.lower()]
    assert titled and {t.id for t in titled} <= {t.id for t in found}
    council = tickets[0].council
    new = services.create_ticket(council, {"title": "After the demo"}, actor=None)
    year = services.office_year(new.created_at)
    assert new.number == counters.get((council.id, year), 0) + 1
