"""Notifications follow the council (issue 14, item 3): a requester hears of a ticket only
while a clerk of its council; moving a clerk hides the old council's notifications and drops
their queued mail."""

from __future__ import annotations

from sqlalchemy import func, select


def _count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_moved_clerk_no_longer_hears_of_the_old_councils_tickets(app, db, world, client_for):
    from accounts import services as accounts
    from core.models import Notification, OutboxMail
    from support.tickets import services as tickets

    clerk = world.clerk_a
    ticket = tickets.create_ticket(world.council_a, {"title": "Printer jammed", "description": "Secret excerpt"},
                                   actor=clerk)
    tickets.add_comment(ticket, "We are on it: the toner code is 4471.", internal=False, actor=world.technician)
    assert _count(db, Notification, Notification.user_id == clerk.id) >= 1
    assert _count(db, OutboxMail, OutboxMail.to_address == clerk.email, OutboxMail.sent_at.is_(None)) >= 1
    # A notification about no council (a system notice) is theirs whatever their council.
    from core import notify

    notify.notify_users([clerk], "ticket_reply", {"reference": "X", "title": "t", "excerpt": "e"}, send_mail=False)
    db.session.commit()

    accounts.update_user(clerk, actor=world.admin, council_id=world.council_b.id)
    assert _count(db, Notification, Notification.user_id == clerk.id, Notification.council_id == world.council_a.id) == 0
    assert _count(db, Notification, Notification.user_id == clerk.id) == 1
    assert _count(db, OutboxMail, OutboxMail.to_address == clerk.email, OutboxMail.sent_at.is_(None)) == 0
    page = client_for(clerk).get("/notifications").get_data(as_text=True)
    assert "Printer jammed" not in page and "4471" not in page

    # New replies on the old council's ticket reach them neither in the app nor by mail.
    tickets.add_comment(ticket, "Toner replaced, code 9913.", internal=False, actor=world.technician)
    assert _count(db, Notification, Notification.user_id == clerk.id, Notification.council_id == world.council_a.id) == 0
    assert _count(db, OutboxMail, OutboxMail.to_address == clerk.email) == 0
    # Technicians still hear of it.
    assert _count(db, Notification, Notification.council_id == world.council_a.id) >= 1


def test_a_clerk_of_the_council_still_hears_of_their_tickets(app, db, world):
    from core.models import Notification
    from support.tickets import services as tickets

    ticket = tickets.create_ticket(world.council_a, {"title": "Screen", "description": "Flickers"}, actor=world.clerk_a)
    before = _count(db, Notification, Notification.user_id == world.clerk_a.id)
    tickets.add_comment(ticket, "Coming on Tuesday.", internal=False, actor=world.technician)
    assert _count(db, Notification, Notification.user_id == world.clerk_a.id) == before + 1
