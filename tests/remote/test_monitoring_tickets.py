"""Alerts become tickets: the real handler (support.tickets.monitoring) behind remote.alerts.

A critical check opens one `monitoring` ticket per asset and check; repeats comment on it;
recovery comments, and resolves it only if no person has touched it; a redelivered event
does nothing twice.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _server(world, name="File server"):
    from inventory import services as inventory
    from remote import check_config as services

    asset = inventory.create_asset(world.council_a, {"kind": "server", "name": name}, actor=None)
    return services.create_ssh_check(asset, {"kind": "disk", "params": {"mount": "/srv"}}, actor=None)


def _feed(db, check, state, at, value):
    from remote import alerts
    from remote import state_machine as services
    from remote.state_machine import Observation

    check = db.session.get(type(check), check.id)
    services.apply_result(check, Observation(state, value, "%", "disk_use", {"mount": "/srv", "percent": value}), at)
    db.session.commit()
    alerts.dispatch_if_pending()
    db.session.expire_all()


def _tickets(db):
    from core.scope import unrestricted
    from support.tickets.models import Ticket

    with unrestricted():
        return db.session.scalars(select(Ticket).order_by(Ticket.id)).all()


def _comments(db, ticket):
    from core.scope import unrestricted
    from support.tickets.models import TicketComment

    with unrestricted():
        return db.session.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket.id)
                                  .order_by(TicketComment.id)).all()


def test_critical_opens_one_ticket_repeats_comment_recovery_resolves_it(app, db, world):
    check = _server(world)
    _feed(db, check, "ok", T0, 50)
    assert _tickets(db) == []

    _feed(db, check, "critical", T0 + dt.timedelta(minutes=5), 93)
    [ticket] = _tickets(db)
    assert ticket.channel == "monitoring" and ticket.council_id == world.council_a.id
    assert ticket.asset_id == check.asset_id and ticket.status == "new" and ticket.priority == "high"
    assert "/srv" in ticket.description and ticket.requester_id is None

    # Still critical within the day: the alert counts it, nobody gets another ticket.
    _feed(db, check, "critical", T0 + dt.timedelta(minutes=10), 95)
    assert len(_tickets(db)) == 1 and _comments(db, ticket) == []
    # A day later it is worth a comment on the same ticket.
    _feed(db, check, "critical", T0 + dt.timedelta(hours=24, minutes=6), 96)
    assert len(_tickets(db)) == 1
    assert len(_comments(db, ticket)) == 1 and not _comments(db, ticket)[0].internal

    _feed(db, check, "ok", T0 + dt.timedelta(hours=27), 40)
    [ticket] = _tickets(db)
    assert ticket.status == "resolved" and ticket.open_monitoring_key is None
    assert len(_comments(db, ticket)) == 3  # still critical, back to normal, solved by itself

    # A new episode after the recovery is a new problem: a new ticket; the solved one stays so.
    _feed(db, check, "critical", T0 + dt.timedelta(hours=30), 97)
    old, new = _tickets(db)
    assert old.status == "resolved" and new.status == "new" and new.asset_id == old.asset_id


def test_resolved_by_a_person_while_still_critical_is_reopened(app, db, world):
    from support.tickets import services

    check = _server(world)
    _feed(db, check, "critical", T0, 93)
    [ticket] = _tickets(db)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician,
                           now=T0 + dt.timedelta(minutes=10))
    services.change_ticket(ticket, {"status": "in_progress"}, actor=world.technician, now=T0 + dt.timedelta(minutes=11))
    services.change_ticket(ticket, {"status": "resolved"}, actor=world.technician, now=T0 + dt.timedelta(minutes=12))
    _feed(db, check, "critical", T0 + dt.timedelta(hours=24, minutes=6), 96)
    [ticket] = _tickets(db)
    assert ticket.status == "in_progress" and ticket.open_monitoring_key is not None


def test_a_ticket_a_technician_took_is_not_resolved_by_the_recovery(app, db, world):
    from support.tickets import services

    check = _server(world)
    _feed(db, check, "critical", T0, 93)
    [ticket] = _tickets(db)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician,
                           now=T0 + dt.timedelta(minutes=20))
    _feed(db, check, "ok", T0 + dt.timedelta(hours=1), 40)
    [ticket] = _tickets(db)
    assert ticket.status == "assigned" and ticket.assignee_id == world.technician.id
    last = _comments(db, ticket)[-1]
    assert last.author_id is None and last.body.startswith(("Back to normal", "Torna a la normalitat"))


def test_one_open_ticket_per_asset_and_check(app, db, world):
    first, second = _server(world, "Server A"), _server(world, "Server B")
    for check in (first, second):
        _feed(db, check, "critical", T0, 93)
    tickets = _tickets(db)
    assert len(tickets) == 2 and {t.asset_id for t in tickets} == {first.asset_id, second.asset_id}
    assert len({t.open_monitoring_key for t in tickets}) == 2


def test_a_redelivered_event_does_nothing_twice(app, db, world):
    from core.scope import unrestricted
    from remote.alerts import AlertEventRow, _event
    from support.tickets import monitoring
    from support.tickets.models import TicketComment

    check = _server(world)
    _feed(db, check, "critical", T0, 93)
    with unrestricted():
        row = db.session.scalars(select(AlertEventRow).order_by(AlertEventRow.id)).first()
        event = _event(row)
        before = db.session.scalar(select(func.count()).select_from(TicketComment))
    monitoring.handle_alert(event)
    monitoring.handle_alert(event)
    assert len(_tickets(db)) == 1
    with unrestricted():
        assert db.session.scalar(select(func.count()).select_from(TicketComment)) == before


def test_the_ticket_speaks_the_councils_language(app, db, world):
    from agreements.models import Council

    for language, title in (("en", "Monitoring: Disk /srv on File server"),
                            ("ca", "Monitoratge: Disc /srv a File server")):
        council = db.session.get(Council, world.council_a.id)
        council.language = language
        db.session.commit()
        check = _server(world) if language == "en" else _server(world, "File server")
        _feed(db, check, "critical", T0, 93)
        assert _tickets(db)[-1].title == title
