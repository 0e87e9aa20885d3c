"""The mail pages in each language: held mail triage (accept into a council, discard, retry),
the record with filters, one message, a ticket's messages, and the mailboxes (admins)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from support.mail.models import InboundMail, Mailbox
from support.tickets.models import Ticket


def _csrf(html: str) -> str:
    import re

    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    return found.group(1) if found else ""  # the tests' configuration may turn CSRF off


@pytest.mark.parametrize(("language", "title"), [("ca", "Correu retingut"), ("es", "Correo retenido"),
                                                 ("en", "Held mail")])
def test_held_mail_page_in_each_language(db, domains, mail, ingest, client_for, language, title):
    domains.technician.preferred_language = language
    db.session.commit()
    ingest(mail(sender="vei@example.net", subject="Fanal trencat"))
    page = client_for(domains.technician).get("/mail/held").get_data(as_text=True)
    assert title in page and "Fanal trencat" in page and "vei@example.net" in page


def test_triage_accept_discard_retry(db, domains, mail, ingest, client_for):
    from agreements import councils

    held = ingest(mail(sender="vei@example.net", subject="Fanal trencat"))
    other = ingest(mail(sender="spam@example.net", subject="Oferta"))
    later = ingest(mail(sender="secretari@navas.cat", subject="El correu no surt"))
    client = client_for(domains.technician)
    page = client.get("/mail/held").get_data(as_text=True)
    token = _csrf(page)
    resp = client.post(f"/mail/held/{held_id(db, held)}/accept",
                       data={"csrf_token": token, f"m{held_id(db, held)}-council_id": str(domains.council_b.id)})
    assert resp.status_code == 302
    ticket = db.session.scalars(select(Ticket)).one()
    assert ticket.council_id == domains.council_b.id and ticket.channel == "email"
    assert client.post(f"/mail/held/{held_id(db, other)}/discard", data={"csrf_token": token}).status_code == 302
    assert db.session.get(InboundMail, held_id(db, other)).status == "discarded"
    # A domain added later: retrying places the message.
    navas = councils.create_council({"name": "Navàs", "population": 6000, "mail_domains": ["navas.cat"]}, actor=None)
    assert client.post(f"/mail/held/{held_id(db, later)}/retry", data={"csrf_token": token}).status_code == 302
    row = db.session.get(InboundMail, held_id(db, later))
    assert row.status == "created" and db.session.get(Ticket, row.ticket_id).council_id == navas.id
    assert "Fanal" not in client.get("/mail/held").get_data(as_text=True)


def held_id(db, outcome) -> int:
    return db.session.scalar(select(InboundMail.id).where(InboundMail.message_id == outcome["message_id"]))


def test_record_filters_message_page_and_ticket_messages(db, domains, mail, ingest, client_for):
    created = ingest(mail(sender="Alcaldia <alcaldia@mura.cat>", subject="Impressora"))
    ingest(mail(headers={"Auto-Submitted": "auto-replied"}, subject="Fora de l'oficina"))
    client = client_for(domains.manager)
    everything = client.get("/mail/messages").get_data(as_text=True)
    assert "Impressora" in everything and "Fora de l&#39;oficina" in everything
    ignored = client.get("/mail/messages?outcome=ignored").get_data(as_text=True)
    assert "Impressora" not in ignored and "Fora de l&#39;oficina" in ignored
    assert "Impressora" in client.get("/mail/messages?q=alcaldia").get_data(as_text=True)
    message = client.get(f"/mail/messages/{held_id(db, created)}").get_data(as_text=True)
    assert "Surt el llum taronja." in message and "alcaldia@mura.cat" in message
    ticket_page = client.get(f"/tickets/{created['ticket_id']}").get_data(as_text=True)
    assert "alcaldia@mura.cat" in ticket_page and f"/mail/messages/{held_id(db, created)}" in ticket_page


def test_clerks_never_reach_mail_pages(db, domains, mail, ingest, client_for):
    ingest(mail())
    clerk = client_for(domains.clerk_a)
    for url in ("/mail/held", "/mail/messages", "/mail/mailboxes"):
        assert clerk.get(url).status_code == 403


def test_admin_creates_a_mailbox_with_its_password_encrypted(db, world, client_for):
    admin = client_for(world.admin)
    page = admin.get("/mail/mailboxes/new").get_data(as_text=True)
    resp = admin.post("/mail/mailboxes/new", data={
        "csrf_token": _csrf(page), "name": "Suport", "host": "imap.example.org", "port": "993", "security": "ssl",
        "folder": "INBOX", "processed_folder": "Fet", "username": "suport@example.org", "auth": "password",
        "password": "s3cret-imap-pass", "active": "y"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    box = db.session.scalars(select(Mailbox)).one()
    assert box.password_encrypted and "s3cret" not in box.password_encrypted
    assert "Suport" in admin.get("/mail/mailboxes").get_data(as_text=True)
    assert client_for(world.technician).get("/mail/mailboxes").status_code == 403
