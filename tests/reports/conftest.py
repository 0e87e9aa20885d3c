"""Fixtures of the reports tests: a seeded office (agreements with and without carry-over,
a predecessor agreement, a closed month with a correction, tickets with known SLA outcomes,
ratings and health roll-ups), and reference figures computed with raw SQL.

The data is written mostly with plain ORM inserts (the services that write it are tested
elsewhere; here they would only make the suite slower), deterministic (one seeded RNG) and
relative to the office's today, so the tests hold whatever day they run.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import pytest


@dataclass
class Dataset:
    today: dt.date
    year: int  # last year: every month of it has ended
    councils: dict = field(default_factory=dict)  # name -> Council
    agreements: dict = field(default_factory=dict)  # name -> Agreement
    closed: list = field(default_factory=list)  # (council_id, month)
    correction: object = None
    tickets: int = 0


def _month_end(day: dt.date) -> dt.date:
    from agreements.months import month_end

    return month_end(day)


@pytest.fixture
def dataset(app, db, world) -> Dataset:
    from agreements import councils
    from agreements import services as agreements
    from agreements.months import add_months, month_start, months_between, office_today
    from core.db import UTC
    from inventory import services as inventory
    from remote.models import Check, Rollup
    from support.hours import services as hours
    from support.hours.models import TimeEntry
    from support.tickets.models import CATEGORIES, CHANNELS, Ticket, TicketRating

    rng = random.Random(7)
    today = office_today()
    this_month = month_start(today)
    year = today.year - 1
    data = Dataset(today=today, year=year)

    castellgali = councils.create_council(
        {"name": "Castellgalí", "population": 2000, "comarca": "Bages", "language": "es",
         "contact_email": "ajuntament@castellgali.example.cat"}, actor=None)
    moia = councils.create_council(
        {"name": "L'Estany", "population": 400, "comarca": "Moianès", "language": "ca",
         "contact_email": "ajuntament@lestany.example.cat"}, actor=None)
    data.councils = {"a": world.council_a, "b": world.council_b, "c": castellgali, "d": moia}

    def agreement(council, first, last, onsite, rollover, remote=None):
        return agreements.create_agreement(council, {
            "starts_on": first, "ends_on": _month_end(last), "onsite_minutes_month": onsite,
            "remote_minutes_month": remote, "rollover": rollover, "signed_on": first - dt.timedelta(days=20),
            "document_ref": f"CONV-{council.code}-{first.year}"}, actor=None)

    data.agreements["a_prev"] = agreement(world.council_a, dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 1), 180,
                                          "none")
    data.agreements["a"] = agreement(world.council_a, dt.date(year, 1, 1), dt.date(year + 2, 12, 1), 240,
                                     "next_month")
    data.agreements["b"] = agreement(world.council_b, dt.date(year, 1, 1), dt.date(year + 2, 12, 1), 180, "none")
    data.agreements["c"] = agreement(castellgali, dt.date(year, 7, 1), dt.date(year + 2, 12, 1), 360, "next_month",
                                     remote=240)
    data.agreements["d"] = agreement(moia, dt.date(year, 1, 1), dt.date(year + 2, 12, 1), 120, "none")

    tech = world.technician
    entries = []
    for key, council in data.councils.items():
        covering = [a for k, a in data.agreements.items() if k.startswith(key)]
        for month in months_between(dt.date(year - 1, 1, 1), this_month):
            if not any(a.first_month <= month <= a.last_month for a in covering):
                continue
            last_day = today.day if month == this_month else _month_end(month).day
            # Some months busy, some idle: the excess and the carry both happen.
            for _ in range(rng.choice((0, 1, 2, 3, 4, 6))):
                mode = rng.choice(("onsite", "onsite", "remote"))
                entries.append(TimeEntry(
                    council_id=council.id, technician_id=tech.id, date=month.replace(day=rng.randint(1, last_day)),
                    month=month, minutes=rng.choice((15, 30, 45, 60, 90, 120, 180)), mode=mode,
                    description="Feina feta a l'ajuntament", travel_minutes=rng.choice((20, 40)) if mode == "onsite"
                    else 0, created_by_id=tech.id))
    db.session.add_all(entries)
    db.session.commit()

    # A closed month of last year, and a correction of one of its entries in an open month.
    march = dt.date(year, 3, 1)
    original = hours.create_entry(world.council_a, {"date": dt.date(year, 3, 10), "minutes": 120, "mode": "onsite",
                                                    "description": "Servidor", "travel_minutes": 30}, actor=tech)
    agreements.close_month(world.council_a, march, actor=world.manager)
    data.closed.append((world.council_a.id, march))
    data.correction = hours.create_correction(original, {"minutes": -45, "travel_minutes": -10,
                                                         "description": "Duplicated visit",
                                                         "date": dt.date(year, 5, 12)}, actor=world.manager)

    # Tickets with known outcomes, spread over last year and this one (times in UTC).
    tickets = []
    numbers: dict = {}
    start = dt.datetime(year, 1, 1, 9, tzinfo=UTC)
    end = dt.datetime.combine(today, dt.time(6), tzinfo=UTC)
    span = (end - start).total_seconds()
    for i in range(260):
        council = rng.choice(list(data.councils.values()))
        created = start + dt.timedelta(seconds=rng.random() * span)
        answered = created + dt.timedelta(minutes=rng.choice((5, 20, 45, 90, 300))) if rng.random() < 0.9 else None
        resolved = None
        if rng.random() < 0.8:
            resolved = created + dt.timedelta(minutes=rng.choice((30, 120, 600, 1500, 4000, 9000)))
            if resolved >= end:
                resolved = None
        status = rng.choice(("resolved", "closed")) if resolved else rng.choice(("new", "assigned", "in_progress"))
        n = numbers[(council.id, created.year)] = numbers.get((council.id, created.year), 0) + 1
        tickets.append(Ticket(
            council_id=council.id, reference=f"{council.code}-{created.year}-{n:04d}", year=created.year, number=n,
            title=f"Incidència {i}", description="No imprimeix", status=status, priority=rng.choice(("normal", "high")),
            category=rng.choice(CATEGORIES), channel=rng.choice(CHANNELS), requester_id=world.clerk_a.id
            if council.id == world.council_a.id else None, created_at=created, updated_at=created,
            first_response_at=answered, resolved_at=resolved, closed_at=resolved if status == "closed" else None,
            first_response_breached=(answered is None and rng.random() < 0.5) or (answered is not None
                                                                                  and rng.random() < 0.15),
            resolution_breached=rng.random() < 0.2, sla_state="stopped" if resolved else "ok",
            queue_at=dt.datetime(9999, 12, 31, tzinfo=UTC) if resolved else created + dt.timedelta(hours=8)))
    db.session.add_all(tickets)
    db.session.flush()
    for t in tickets:
        if t.resolved_at is not None and rng.random() < 0.5:
            db.session.add(TicketRating(ticket_id=t.id, council_id=t.council_id, score=rng.choice((2, 3, 4, 5, 5)),
                                        comment="", rated_by_id=None,
                                        created_at=t.resolved_at + dt.timedelta(hours=rng.choice((1, 30, 200)))))
    data.tickets = len(tickets)

    # Health roll-ups: one check per council, a day per row.
    for council in data.councils.values():
        asset = inventory.create_asset(council, {"kind": "server", "name": f"Servidor {council.code}"}, actor=None)
        check = Check(council_id=council.id, asset_id=asset.id, source="ssh", kind="reachability",
                      key=f"ssh:reach:{asset.id}", params={}, state="ok")
        db.session.add(check)
        db.session.flush()
        day = dt.date(year, 11, 1)
        while day < today:
            critical = rng.choice((0, 0, 0, 0, 15, 120))
            db.session.add(Rollup(council_id=council.id, check_id=check.id, asset_id=asset.id, day=day, samples=288,
                                  minutes_ok=1440 - critical - 10, minutes_warning=10, minutes_critical=critical,
                                  minutes_unknown=0))
            day += dt.timedelta(days=1)
    db.session.commit()
    assert add_months(this_month, -1) >= dt.date(year, 12, 1)
    return data


def _load(name: str):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"reports_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference():
    """Raw SQL figures (tests/reports/reference.py)."""
    return _load("reference")
