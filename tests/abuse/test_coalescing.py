"""Grouped monitoring tickets and coalesced notifications (issue 14, item 1): a burst on one
asset is one ticket listing its problems; several events on one ticket within a few minutes
are one notification and one queued mail per recipient."""

from __future__ import annotations

from remote_support import report_body
from sqlalchemy import func, select


def _count(db, model, *where):
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _disks(full: list[int], n: int = 3) -> list[dict]:
    return [{"mount": f"/d{i}", "total_bytes": 100 * 2**30, "used_bytes": (99 if i in full else 10) * 2**30}
            for i in range(n)]


def test_a_burst_on_one_asset_is_one_ticket_that_lists_it_and_solves_when_all_recover(app, db, world, enroll):
    from support.tickets.models import Ticket, TicketComment

    agent = enroll()
    assert agent.report(report_body(disks=_disks([0]))).status_code == 202
    assert agent.report(report_body(disks=_disks([0, 1, 2]))).status_code == 202
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    lines = db.session.scalars(select(TicketComment.body).where(TicketComment.ticket_id == tickets[0].id)).all()
    assert len(lines) == 2 and all("/d" in line for line in lines)
    # /d0 recovers, /d1 and /d2 are still full: the ticket stays open.
    assert agent.report(report_body(disks=_disks([1, 2]))).status_code == 202
    db.session.expire_all()
    assert db.session.get(Ticket, tickets[0].id).status == "new"
    # All healthy: solved by itself.
    assert agent.report(report_body(disks=_disks([]))).status_code == 202
    db.session.expire_all()
    assert db.session.get(Ticket, tickets[0].id).status == "resolved"
    assert _count(db, Ticket) == 1


def test_several_events_on_one_ticket_are_one_notification_and_one_mail_per_recipient(app, db, world):
    from core.models import Notification, OutboxMail
    from support.tickets import services

    ticket = services.create_ticket(world.council_a, {"title": "Printer", "description": "Orange light."},
                                    actor=world.clerk_a)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.manager)
    services.add_comment(ticket, "We come tomorrow.", internal=False, actor=world.technician)
    services.change_ticket(ticket, {"status": "waiting_council"}, actor=world.technician)
    clerk_notes = db.session.scalars(select(Notification).where(Notification.user_id == world.clerk_a.id)).all()
    assert len(clerk_notes) == 1
    assert clerk_notes[0].params["earlier"] >= 1
    assert _count(db, OutboxMail, OutboxMail.to_address == world.clerk_a.email) == 1
    mail = db.session.scalar(select(OutboxMail).where(OutboxMail.to_address == world.clerk_a.email))
    assert ticket.reference in mail.subject
    # Once read, the next news is a new notification.
    clerk_notes[0].read_at = clerk_notes[0].created_at
    db.session.commit()
    services.add_comment(ticket, "Any news?", internal=False, actor=world.technician)
    assert _count(db, Notification, Notification.user_id == world.clerk_a.id) == 2
