"""A clerk never sees an internal note: not on the pages, not in the API, not in a mail or an
in-app notification, and not through search (a word that is only in a note finds nothing for
them). The office sees and finds notes everywhere."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import mail
from core.models import Notification
from core.scope import council_scope
from support.tickets import queue, services
from support.tickets.models import TicketComment

pytestmark = pytest.mark.usefixtures("english")

NOTE = "Zebrafish: the mayor's laptop has a pirated office suite"
WORD = "zebrafish"


@pytest.fixture
def noted(world, open_ticket):
    ticket = open_ticket(title="The Registry printer does not print")
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician)
    services.add_comment(ticket, "We will come on Monday.", internal=False, actor=world.technician)
    note = services.add_comment(ticket, NOTE, internal=True, actor=world.manager,
                                files=[("zebrafish-licence.txt", b"Licence key: none\n")])
    return ticket, note


def test_not_on_the_pages(app, db, world, noted, client_for):
    ticket, note = noted
    clerk = client_for(world.clerk_a)
    for url in (f"/tickets/{ticket.id}", "/tickets", "/tickets?show=all", "/notifications",
                f"/councils/{world.council_a.slug}"):
        html = clerk.get(url).get_data(as_text=True)
        assert "pirated" not in html and "zebrafish" not in html.lower(), url
    html = clerk.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "We will come on Monday." in html and "Internal note" not in html
    # The office sees it, marked as internal.
    staff = client_for(world.technician).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "pirated office suite" in staff and "Internal note" in staff and "zebrafish-licence.txt" in staff
    # A clerk's reply box has no "internal" switch, and asking for one through the form does
    # not make their reply internal.
    assert 'name="internal"' not in html
    clerk.post(f"/tickets/{ticket.id}/comments", data={"body": "Thanks!", "internal": "y"})
    mine = db.session.scalar(select(TicketComment).where(TicketComment.body == "Thanks!"))
    assert mine is not None and not mine.internal


def test_not_in_the_api(app, db, world, noted, api_for, api_error):
    ticket, note = noted
    clerk = api_for(world.clerk_a)
    comments = clerk.get(f"/api/v1/tickets/{ticket.id}/comments").json["items"]
    assert [c["body"] for c in comments] == ["We will come on Monday."]
    assert all(c["internal"] is False for c in comments)
    api_error(clerk.get(f"/api/v1/tickets/{ticket.id}/comments/{note.id}"), 404)
    api_error(clerk.post(f"/api/v1/tickets/{ticket.id}/comments", json={"body": "x", "internal": True}), 403)
    for url in (f"/api/v1/tickets/{ticket.id}", f"/api/v1/tickets/{ticket.id}/history",
                f"/api/v1/tickets/{ticket.id}/attachments", "/api/v1/tickets"):
        assert "pirated" not in clerk.get(url).get_data(as_text=True), url
    staff = api_for(world.technician).get(f"/api/v1/tickets/{ticket.id}/comments").json["items"]
    assert [(c["body"], c["internal"]) for c in staff] == [("We will come on Monday.", False), (NOTE, True)]
    assert [a["filename"] for a in staff[1]["attachments"]] == ["zebrafish-licence.txt"]


def test_not_in_mail_or_notifications(mail_app, db, world, noted, smtp_sink):
    ticket, _note = noted
    mail.send_pending()
    to_clerk = smtp_sink.to(world.clerk_a.email)
    assert to_clerk, "the clerk was told of the public reply"
    for message in to_clerk:
        assert "pirated" not in message.get_content() and "pirated" not in str(message["Subject"])
    texts = [(n.kind, str(n.params)) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == world.clerk_a.id))]
    assert texts and all("pirated" not in p for _k, p in texts)
    assert "support.ticket_note" not in {k for k, _p in texts}
    # The assignee hears of the note in the app, and nobody by mail.
    assert db.session.scalar(select(Notification.kind).where(Notification.user_id == world.technician.id,
                                                            Notification.kind == "support.ticket_note"))
    for message in smtp_sink.messages:
        assert "pirated" not in message.get_content()


def test_not_through_search(app, db, world, noted, client_for, api_for):
    ticket, _note = noted
    # The word is only in the note: the office finds the ticket by it, a clerk does not.
    assert [t["id"] for t in api_for(world.technician).get(f"/api/v1/tickets?q={WORD}").json["items"]] == [ticket.id]
    assert api_for(world.clerk_a).get(f"/api/v1/tickets?q={WORD}").json["items"] == []
    assert ticket.reference in client_for(world.technician).get(f"/tickets?q={WORD}").get_data(as_text=True)
    assert ticket.reference not in client_for(world.clerk_a).get(f"/tickets?q={WORD}").get_data(as_text=True)
    # Words of the public text are found by both.
    for user in (world.clerk_a, world.technician):
        assert [t["id"] for t in api_for(user).get("/api/v1/tickets?q=monday").json["items"]] == [ticket.id]
    # Even asking the search service directly for a clerk's view cannot reach the notes:
    # clerks' queries never include them.
    with council_scope(world.council_a.id):
        stmt = queue.ticket_query(queue.TicketFilters(q=WORD), include_internal=False)
        assert db.session.scalars(stmt).all() == []
        assert [c.body for c in services.comments_of(ticket)] == ["We will come on Monday."]
