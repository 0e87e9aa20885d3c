"""No lost work: a file that is too large, or of a refused kind, brings the new-ticket form or the
reply back with everything typed and a message beside the file field, never a bare 413 page."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from support.tickets.models import Ticket, TicketComment

pytestmark = pytest.mark.usefixtures("english")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
TOO_LARGE = "Files can be up to 10 MB."


def _big(mb: float) -> bytes:
    # Over MAX_CONTENT_LENGTH (11 MB) on its own: the case that used to lose the request.
    return PNG + b"\x00" * int(mb * 1024 * 1024)


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _new_ticket(client, data: bytes, name: str = "screen.png"):
    return client.post("/tickets/new", data={
        "title": "The Registry printer does not print",
        "description": "Nothing comes out since Monday; the orange light blinks twice.",
        "priority": "normal", "category": "other", "asset_id": "0",
        "attachment": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_an_oversized_file_on_a_new_ticket_keeps_what_was_typed(app, db, world, client_for):
    resp = _new_ticket(client_for(world.clerk_a), _big(12))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page[:500]
    assert "The Registry printer does not print" in page
    assert "Nothing comes out since Monday; the orange light blinks twice." in page
    assert TOO_LARGE in page and "is-invalid" in page
    assert _count(db, Ticket) == 0


def test_a_refused_kind_of_file_keeps_what_was_typed(app, db, world, client_for):
    resp = _new_ticket(client_for(world.clerk_a), b"MZ\x90\x00" + b"\x00" * 500, name="setup.exe")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "This kind of file cannot be attached." in page and "orange light blinks twice" in page
    assert _count(db, Ticket) == 0


def test_an_oversized_file_on_a_reply_keeps_the_reply(app, db, world, client_for, open_ticket):
    ticket = open_ticket()
    resp = client_for(world.clerk_a).post(f"/tickets/{ticket.id}/comments", data={
        "body": "Here is the photo of the error you asked for.",
        "attachment": (io.BytesIO(_big(12)), "photo.png")}, content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Here is the photo of the error you asked for." in page and TOO_LARGE in page
    assert _count(db, TicketComment) == 0


def test_beyond_what_can_be_read_the_form_comes_back_with_the_reason(app, db, world, client_for, monkeypatch):
    # Past TICKET_FORM_MAX_BYTES nothing of the body is read: no bare 413 page, the form again
    # with the reason (the browser's own check normally stops this before sending).
    monkeypatch.setitem(app.config, "TICKET_FORM_MAX_BYTES", 11 * 1024 * 1024)
    client = client_for(world.clerk_a)
    resp = _new_ticket(client, _big(12))
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/tickets/new")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "The file was too large to send, so nothing was saved" in page
    assert _count(db, Ticket) == 0


def test_other_pages_still_refuse_large_bodies(app, world, client_for):
    resp = client_for(world.technician).post("/log-hours", data={"description": "x" * (12 * 1024 * 1024)})
    assert resp.status_code == 413


def test_the_file_field_carries_what_the_browser_checks(app, world, client_for, open_ticket):
    page = client_for(world.clerk_a).get("/tickets/new").get_data(as_text=True)
    assert 'data-max-bytes="10485760"' in page and "data-wrong-type=" in page and 'accept=".pdf' in page
    assert "js/tickets.js" in page
