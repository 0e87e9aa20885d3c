"""Ticket attachments: at most 10 MB, only the allow-listed kinds, recognised from the bytes
(never from the name or the browser's type), kept outside the web root where only the
application can read them, and served only to whoever may see the ticket, as downloads.
A clerk of another council gets a 404, in pages and API alike; the file of an internal note
does not exist for any clerk."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.tickets import attachments, services
from support.tickets.models import Ticket, TicketAttachment

pytestmark = pytest.mark.usefixtures("english")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
TEXT = "La impressora diu «error 0x42» des de dilluns.\n".encode()


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _zip_of_a_program() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("setup.exe", b"MZ\x90\x00" + b"\x00" * 64)
    return buffer.getvalue()


def _files(response) -> dict:
    return {"attachment": (io.BytesIO(response[1]), response[0])}


def test_what_is_accepted_is_decided_from_the_content(app):
    accepted = {
        ("scan.pdf", PDF): ("application/pdf", "scan.pdf"),
        ("error.png", PNG): ("image/png", "error.png"),
        # The name lies: it is a PNG, served and named as one.
        ("photo.exe", PNG): ("image/png", "photo.exe.png"),
        ("notes.txt", TEXT): ("text/plain; charset=utf-8", "notes.txt"),
        ("list.csv", b"tag;name\nMURA-PC-1;Secretaria\n"): ("text/csv; charset=utf-8", "list.csv"),
        ("letter.docx", _docx()): ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                   "letter.docx"),
        ("mail.eml", b"From: a@example.org\r\nTo: b@example.org\r\nSubject: Hi\r\n\r\n<b>hello</b>\r\n"):
            ("message/rfc822", "mail.eml"),
        ("../../etc/passwd.txt", TEXT): ("text/plain; charset=utf-8", "passwd.txt"),
    }
    for (name, data), (content_type, shown) in accepted.items():
        detected = attachments.check(data, name)
        assert (detected.content_type, detected.filename) == (content_type, shown), name
    refused = {
        "program.pdf": b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100,  # a Windows program named as a PDF
        "page.txt": b"<!DOCTYPE html><html><script>alert(1)</script></html>",  # HTML is not plain text
        "drawing.png": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "tools.docx": _zip_of_a_program(),  # a zip that is no office document
        "script.sh": b"#!/bin/sh\nrm -rf /\x00",
        "binary.bin": bytes(range(256)),
    }
    for name, data in refused.items():
        with pytest.raises(attachments.Refused) as exc:
            attachments.check(data, name)
        assert exc.value.reason == "type", name
    with pytest.raises(attachments.Refused) as exc:
        attachments.check(b"", "empty.txt")
    assert exc.value.reason == "empty"


def test_ten_megabytes_and_not_one_byte_more(app, db, world, open_ticket, api_for, api_error):
    limit = 10 * 1024 * 1024
    assert app.config["TICKET_ATTACHMENT_MAX_BYTES"] == limit
    ticket = open_ticket()
    api = api_for(world.clerk_a)
    just = PDF + b"0" * (limit - len(PDF))
    resp = api.post(f"/api/v1/tickets/{ticket.id}/attachments", data={"file": (io.BytesIO(just), "big.pdf")},
                    content_type="multipart/form-data")
    assert resp.status_code == 201, resp.json
    assert resp.json["size"] == limit
    over = just + b"0"
    error = api_error(api.post(f"/api/v1/tickets/{ticket.id}/attachments",
                               data={"file": (io.BytesIO(over), "big.pdf")}, content_type="multipart/form-data"), 422)
    assert error["fields"] == {"file": "Files can be up to 10 MB."}
    # A body far beyond it is cut off before it is read: 413 with the contract's body.
    huge = over + b"0" * (2 * 1024 * 1024)
    api_error(api.post(f"/api/v1/tickets/{ticket.id}/attachments", data={"file": (io.BytesIO(huge), "big.pdf")},
                       content_type="multipart/form-data"), 413)
    assert db.session.scalar(select(func.count()).select_from(TicketAttachment)) == 1


def test_files_live_outside_the_web_root_readable_only_by_the_application(app, db, world, open_ticket):
    ticket = open_ticket(files=[("error.png", PNG)])
    attachment = services.attachments_of(ticket)[0]
    path = attachments.path_of(attachment.storage_name)
    assert path.read_bytes() == PNG
    data_dir = Path(app.config["DATA_DIR"]).resolve()
    static = Path(app.static_folder).resolve()
    assert path.resolve().is_relative_to(data_dir) and not path.resolve().is_relative_to(static)
    # The stored name is random and says nothing of the uploader's name.
    assert "error" not in attachment.storage_name
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.parent.parent).st_mode) == 0o700
    # A storage name that tries to point elsewhere is never followed.
    for evil in ("../../etc/passwd", "/etc/passwd", "ab/../../x", ""):
        with pytest.raises(FileNotFoundError):
            attachments.path_of(evil)
    # Nothing under the static folder serves it.
    client = app.test_client()
    assert client.get(f"/static/{attachment.storage_name}").status_code == 404


def test_downloads_only_for_who_may_see_the_ticket(app, db, world, open_ticket, client_for, api_for, api_error):
    ticket = open_ticket(files=[("error.png", PNG)])
    attachment = services.attachments_of(ticket)[0]
    note = services.add_comment(ticket, "Invoice of the toner, for us.", internal=True, actor=world.technician,
                                files=[("invoice.pdf", PDF)])
    internal = db.session.scalar(select(TicketAttachment).where(TicketAttachment.comment_id == note.id))
    page_url = f"/tickets/{ticket.id}/attachments/{attachment.id}"
    api_url = f"/api/v1/tickets/{ticket.id}/attachments/{attachment.id}"
    for user in (world.clerk_a, world.technician, world.manager, world.admin):
        for resp in (client_for(user).get(page_url), api_for(user).get(api_url)):
            assert resp.status_code == 200, (user.role, resp.status_code)
            assert resp.data == PNG
            assert resp.mimetype == "image/png"
            assert resp.headers["Content-Disposition"].startswith("attachment;")
            assert "error.png" in resp.headers["Content-Disposition"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in resp.headers["Content-Security-Policy"]
            assert "no-store" in resp.headers["Cache-Control"]
    # Another council's clerk: it does not exist, whichever way they ask.
    assert client_for(world.clerk_b).get(page_url).status_code == 404
    api_error(api_for(world.clerk_b).get(api_url), 404)
    api_error(api_for(world.clerk_b).get(f"/api/v1/tickets/{ticket.id}/attachments"), 404)
    # Nor may they reach it through a ticket of their own.
    theirs = open_ticket(council=world.council_b)
    assert client_for(world.clerk_b).get(f"/tickets/{theirs.id}/attachments/{attachment.id}").status_code == 404
    # The file of an internal note: the office downloads it; for the clerk it does not exist.
    internal_url = f"/tickets/{ticket.id}/attachments/{internal.id}"
    assert client_for(world.technician).get(internal_url).data == PDF
    assert client_for(world.clerk_a).get(internal_url).status_code == 404
    api_error(api_for(world.clerk_a).get(f"/api/v1{internal_url}"), 404)
    listed = api_for(world.clerk_a).get(f"/api/v1/tickets/{ticket.id}/attachments").json["items"]
    assert [a["id"] for a in listed] == [attachment.id]
    staff_listed = api_for(world.technician).get(f"/api/v1/tickets/{ticket.id}/attachments").json["items"]
    assert sorted(a["id"] for a in staff_listed) == sorted([attachment.id, internal.id])
    page = client_for(world.clerk_a).get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "error.png" in page and "invoice.pdf" not in page
    # A clerk cannot make a file internal, nor attach to an internal note they cannot see.
    api = api_for(world.clerk_a)
    api_error(api.post(f"/api/v1/tickets/{ticket.id}/attachments",
                       data={"file": (io.BytesIO(PNG), "x.png"), "internal": "true"},
                       content_type="multipart/form-data"), 403)
    api_error(api.post(f"/api/v1/tickets/{ticket.id}/attachments",
                       data={"file": (io.BytesIO(PNG), "x.png"), "comment_id": str(note.id)},
                       content_type="multipart/form-data"), 404)


def test_upload_from_the_pages_with_a_request_and_a_reply(app, db, world, client_for):
    clerk = client_for(world.clerk_a)
    resp = clerk.post("/tickets/new", data={
        "title": "The scanner saves nothing", "description": "See the screenshot.", "priority": "normal",
        "category": "hardware", "asset_id": "0", "attachment": (io.BytesIO(PNG), "screenshot.png")},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    ticket = db.session.scalar(select(Ticket).where(Ticket.title == "The scanner saves nothing"))
    files = services.attachments_of(ticket)
    assert [(f.filename, f.content_type, f.size, f.comment_id, f.internal) for f in files] == [
        ("screenshot.png", "image/png", len(PNG), None, False)]
    # A refused file: the form comes back with the reason next to the field and what was typed
    # still in it; no ticket, no file, no number used.
    resp = clerk.post("/tickets/new", data={
        "title": "Another one", "description": "Kept text", "priority": "normal", "category": "hardware",
        "asset_id": "0", "attachment": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 64), "tool.pdf")},
        content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "This kind of file cannot be attached" in html
    assert "Kept text" in html and 'value="Another one"' in html
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 1
    # On a reply: the file hangs on the comment.
    tech = client_for(world.technician)
    resp = tech.post(f"/tickets/{ticket.id}/comments", data={
        "body": "Here is the new driver's manual.", "attachment": (io.BytesIO(PDF), "manual.pdf")},
        content_type="multipart/form-data")
    assert resp.status_code == 302
    comment_files = [f for f in services.attachments_of(ticket) if f.comment_id is not None]
    assert [(f.filename, f.internal) for f in comment_files] == [("manual.pdf", False)]
    assert "manual.pdf" in clerk.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    # A file larger than the app-wide request limit: the reply comes back with its text and the
    # reason beside the file field (issue 13: a bare 413 page lost what was typed).
    resp = clerk.post(f"/tickets/{ticket.id}/comments", data={
        "body": "Big", "attachment": (io.BytesIO(PDF + b"0" * (12 * 1024 * 1024)), "big.pdf")},
        content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Files can be up to 10 MB." in html and "Big</textarea>" in html


def test_a_failed_commit_leaves_no_file_behind(app, db, world, open_ticket, monkeypatch):
    ticket = open_ticket()
    root = Path(app.config["DATA_DIR"]) / "ticket-attachments"
    before = {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()

    def fail():
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", fail)
    with pytest.raises(RuntimeError):
        services.add_comment(ticket, "With a file", internal=False, actor=world.technician, files=[("a.png", PNG)])
    with pytest.raises(RuntimeError):
        attachments.add_attachment(ticket, "b.png", PNG, actor=world.clerk_a)
    monkeypatch.undo()
    db.session.rollback()
    assert {p for p in root.rglob("*") if p.is_file()} == before
    assert not services.attachments_of(ticket)
