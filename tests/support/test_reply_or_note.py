"""A reply to the council and an internal note are two different actions: two forms, two buttons,
the note styled apart and the reply labelled as sent to the council. No checkbox decides."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from support.tickets.models import TicketComment

pytestmark = pytest.mark.usefixtures("english")


def _forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="/tickets/\d+/comments".*?</form>', page, re.S)


def test_two_forms_two_buttons_no_checkbox(app, world, client_for, open_ticket):
    ticket = open_ticket()
    page = client_for(world.technician).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    reply, note = _forms(page)
    assert 'type="checkbox"' not in reply + note
    assert "Reply to the council" in page and f"Sent to {world.council_a.name}" in page
    assert "Send to the council" in reply and 'name="internal"' not in reply
    assert "Save the internal note" in note and '<input type="hidden" name="internal" value="y">' in note
    assert 'class="card mt-3 cd-internal cd-note-form"' in page  # styled as the notes are
    # Ids stay unique with two forms on the page.
    assert 'id="note-body"' in note and 'id="body"' in reply
    assert page.count('id="body"') == 1 and page.count('id="attachment"') == 1


def test_each_button_does_what_it_says(app, db, world, client_for, open_ticket):
    ticket = open_ticket()
    client = client_for(world.technician)
    client.post(f"/tickets/{ticket.id}/comments", data={"body": "We come on Monday."})
    client.post(f"/tickets/{ticket.id}/comments", data={"body": "Toner is on order.", "internal": "y"})
    rows = db.session.execute(select(TicketComment.body, TicketComment.internal).order_by(TicketComment.id)).all()
    assert [tuple(r) for r in rows] == [("We come on Monday.", False), ("Toner is on order.", True)]


def test_a_failed_note_comes_back_in_the_note_form(app, db, world, client_for, open_ticket):
    ticket = open_ticket()
    page = client_for(world.technician).post(f"/tickets/{ticket.id}/comments",
                                             data={"body": "", "internal": "y"}).get_data(as_text=True)
    reply, note = _forms(page)
    assert "Write your reply." in note and "Write your reply." not in reply
    assert re.search(r'<details class="card mt-3 cd-internal cd-note-form" open>', page)


def test_clerks_have_one_form_and_no_note(app, world, client_for, open_ticket):
    ticket = open_ticket()
    page = client_for(world.clerk_a).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "internal note" not in page.lower() and 'name="internal"' not in page
