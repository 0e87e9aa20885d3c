"""On a phone: the ticket's problem and conversation come before its management panel, and
after a reply the page lands on the new message, which says it was sent (the flash at the top
was 1,800 px above the view). Technicians land on the ticket queue, not the wide hours table."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from support.tickets import services
from support.tickets.models import TicketComment

pytestmark = pytest.mark.usefixtures("english")


def test_a_reply_lands_on_the_new_message_which_says_it_was_sent(db, world, open_ticket, client_for):
    ticket = open_ticket(title="The Registry printer does not print")
    services.add_comment(ticket, "An older reply.", internal=False, actor=world.technician)
    for user, data, said in ((world.technician, {"body": "We will come on Monday."}, "Reply sent."),
                             (world.technician, {"body": "Toner ordered.", "internal": "y"}, "Internal note added."),
                             (world.clerk_a, {"body": "Thank you!"}, "Reply sent.")):
        client = client_for(user)
        resp = client.post(f"/tickets/{ticket.id}/comments", data=data)
        comment = db.session.scalar(select(TicketComment).where(TicketComment.body == data["body"]))
        assert resp.status_code == 302
        assert resp.headers["Location"].endswith(f"/tickets/{ticket.id}?posted={comment.id}#comment-{comment.id}")
        html = client.get(resp.headers["Location"]).get_data(as_text=True)
        article = re.search(rf'<article[^>]*id="comment-{comment.id}".*?</article>', html, re.S).group(0)
        assert data["body"] in article and 'role="status"' in article and said in article
        # Only the new message says so.
        assert html.count('role="status"><i class="bi bi-check2-circle"') == 1
    # A `posted` that is not a message of this ticket shows nothing.
    html = client_for(world.technician).get(f"/tickets/{ticket.id}?posted=999999").get_data(as_text=True)
    assert "bi-check2-circle" not in html


def test_the_problem_and_conversation_come_before_the_management_panel(world, open_ticket, client_for):
    ticket = open_ticket(title="The Registry printer does not print")
    html = client_for(world.technician).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    # Source order is the phone's order (the laptop puts the panel in a column on the right).
    assert html.index('id="conversation"') < html.index('id="time"')
    assert "order-1" not in html.split('id="conversation"')[0].split('class="row g-4"')[1]


def test_technicians_land_on_the_queue_after_signing_in(app, world):
    client = app.test_client()
    resp = client.post("/login", data={"email": world.technician.email, "password": world.password},
                       follow_redirects=True)
    assert resp.status_code == 200 and resp.request.path == "/tickets"
    client = app.test_client()
    resp = client.post("/login", data={"email": world.manager.email, "password": world.password},
                       follow_redirects=True)
    assert resp.request.path == "/hours"


def test_asset_health_comes_first_on_a_phone(world, client_for):
    from inventory import services as inventory

    asset = inventory.create_asset(world.council_a, {"kind": "printer", "name": "Registry printer",
                                                     "tag": "MURA-PRN-001"}, actor=None)
    html = client_for(world.technician).get(f"/assets/{asset.id}").get_data(as_text=True)
    assert re.search(r'<div class="order-1 order-lg-2">\s*(<[^>]*>\s*)*<section class="card mt-4" '
                     r'aria-labelledby="asset-health">', html)
    assert 'class="order-2 order-lg-1 mt-4 mt-lg-0"' in html
