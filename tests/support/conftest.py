"""Fixtures of the hours tests: agreements and time entries made through the services.

Dates are taken relative to the office's today: `year` is last year, whose months have all
ended (they can be closed) and are open until a test closes them, whatever day the suite runs.
"""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture
def today(app):
    from agreements.months import office_today

    return office_today()


@pytest.fixture
def year(today) -> int:
    return today.year - 1


@pytest.fixture
def make_agreement(world, year):
    """make_agreement(council=A, first=(year, 1), last=(year + 1, 12), onsite=240, remote=None, ...)."""
    from agreements import services
    from agreements.months import month_end

    def make(council=None, first=None, last=None, onsite=240, remote=None, rollover="none", signed_on=None):
        first = first or (year, 1)
        last = last or (year + 1, 12)
        return services.create_agreement(council or world.council_a, {
            "starts_on": dt.date(*first, 1), "ends_on": month_end(dt.date(*last, 1)),
            "onsite_minutes_month": onsite, "remote_minutes_month": remote, "rollover": rollover,
            "signed_on": signed_on or dt.date(year - 1, 12, 1)}, actor=None)

    return make


@pytest.fixture
def log_time(world):
    """log_time(day, minutes, mode="onsite", council=A, technician=world.technician, travel=0)."""
    from support.hours import services

    def log(day, minutes, mode="onsite", council=None, technician=None, travel=0, description="Work"):
        return services.create_entry(council or world.council_a, {
            "date": day, "minutes": minutes, "mode": mode, "travel_minutes": travel,
            "description": description}, actor=technician or world.technician)

    return log


@pytest.fixture
def close(world):
    from agreements import services

    def close_month(month: dt.date, council=None):
        return services.close_month(council or world.council_a, month, actor=world.manager)

    return close_month


def _i18n():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("hours_i18n", Path(__file__).with_name("hours_i18n.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def hours_i18n():
    return _i18n()


@pytest.fixture(scope="session")
def hours_catalogs(tmp_path_factory, hours_i18n):
    return hours_i18n.build_catalogs(tmp_path_factory.mktemp("hours-translations"))


@pytest.fixture
def translated_app(app, make_app, hours_catalogs):
    """An app (on the test database) whose catalogs include the hours' pending entries."""
    from extensions import babel, db

    # Flask-Babel caches translations per process, keyed by locale: empty it for this app, and
    # again afterwards for the next tests' apps.
    babel.domain_instance.cache.clear()
    translated = make_app(BABEL_TRANSLATION_DIRECTORIES=str(hours_catalogs))
    yield translated
    babel.domain_instance.cache.clear()
    db.session.rollback()  # make_app's cleanup TRUNCATEs on PostgreSQL: hold no transaction


def login(app, user):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client


@pytest.fixture
def login_to():
    return login


# --- tickets --------------------------------------------------------------------------------

@pytest.fixture
def open_ticket(world):
    """open_ticket(council=A, actor=that council's clerk, now=None, files=(), **values) → a Ticket."""
    from support.tickets import services

    def create(council=None, actor=None, now=None, files=(), **values):
        council = council or world.council_a
        if actor is None:
            actor = world.clerk_a if council.id == world.council_a.id else world.clerk_b
        values.setdefault("title", "The Registry printer does not print")
        values.setdefault("description", "Nothing comes out and the orange light blinks.")
        return services.create_ticket(council, values, actor=actor, now=now, files=files)

    return create


@pytest.fixture
def move(world):
    """move(ticket, *statuses, actor=technician, now=None): walk a ticket through statuses."""
    from support.tickets import services

    def walk(ticket, *statuses, actor=None, now=None):
        for status in statuses:
            ticket = services.change_ticket(ticket, {"status": status}, actor=actor or world.technician, now=now)
        return ticket

    return walk
