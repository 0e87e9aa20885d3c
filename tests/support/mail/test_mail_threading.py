"""Threading out: the office's mail about a ticket carries [REFERENCE], its own Message-ID of
the office's domain (remembered against the ticket), References and the headers that stop
auto-responders; technicians' public replies reach the requester by mail, also one without an
account; a reply to any of those mails finds its ticket, and an auto-responder loop stops at once.
Through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from email import message_from_bytes, policy

from sqlalchemy import func, select

from core import mail as outbox
from core.models import OutboxMail
from support.mail.models import TicketMessageId
from support.tickets import services


def _subject(message) -> str:
    return " ".join(str(message["Subject"]).split())


def test_replies_reach_an_unregistered_requester_threaded(db, domains, mail, ingest, mail_app, smtp_sink):
    created = ingest(mail(sender="Alcaldia <alcaldia@mura.cat>", message_id="<first@mura.cat>"))
    ticket = services.get_ticket(created["ticket_id"])
    ref = ticket.reference
    services.add_comment(ticket, "Hem reiniciat la cua d'impressió.", internal=False, actor=domains.technician)
    services.add_comment(ticket, "Nota interna: toner", internal=True, actor=domains.technician)
    outbox.send_pending()
    sent = smtp_sink.to("alcaldia@mura.cat")
    assert len(sent) == 1, [_subject(m) for m in sent]
    message = sent[0]
    assert f"[{ref}]" in _subject(message)
    assert "Hem reiniciat la cua" in message.get_content() and "toner" not in message.get_content()
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Auto-Response-Suppress"] == "All"
    office_domain = mail_app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2].rstrip(">")
    assert str(message["Message-ID"]).rstrip(">").endswith("@" + office_domain)
    assert "<first@mura.cat>" in str(message["References"])
    assert db.session.get(TicketMessageId, str(message["Message-ID"])).ticket_id == ticket.id

    # The requester answers from a client that drops the subject's reference: In-Reply-To does it.
    reply = mail(sender="alcaldia@mura.cat", subject="Re: gràcies", body="Ara sí que imprimeix.",
                 headers={"In-Reply-To": str(message["Message-ID"]), "References": str(message["References"])
                          + " " + str(message["Message-ID"])})
    out = ingest(reply)
    assert out["outcome"] == "appended" and out["ticket_id"] == ticket.id


def test_every_ticket_mail_has_the_reference_in_brackets(db, domains, mail_app, smtp_sink):
    ticket = services.create_ticket(domains.council_a, {"title": "Pantalla negra"}, actor=domains.clerk_a)
    services.change_ticket(ticket, {"assignee_id": domains.technician.id}, actor=domains.manager)
    services.add_comment(ticket, "Hi passo demà.", internal=False, actor=domains.technician)
    outbox.send_pending()
    assert smtp_sink.messages
    for message in smtp_sink.messages:
        assert f"[{ticket.reference}]" in _subject(message), _subject(message)
        assert message["Auto-Submitted"] == "auto-generated"
    ids = {str(m["Message-ID"]) for m in smtp_sink.messages}
    remembered = set(db.session.scalars(select(TicketMessageId.message_id).where(TicketMessageId.ticket_id == ticket.id)))
    assert ids <= remembered


def test_an_auto_responder_loop_stops_at_once(db, domains, mail, ingest, mail_app, smtp_sink):
    mail_app.config["MAIL_ACKNOWLEDGE"] = True
    try:
        created = ingest(mail(sender="alcaldia@mura.cat"))
        outbox.send_pending()
        ack = smtp_sink.to("alcaldia@mura.cat")[0]
        # The council's out-of-office answers the acknowledgement, as Exchange does.
        ooo = mail(sender="alcaldia@mura.cat", subject=f"Resposta automàtica: {_subject(ack)}",
                   body="Sóc fora fins dilluns.", headers={"Auto-Submitted": "auto-replied",
                                                           "In-Reply-To": str(ack["Message-ID"])})
        before = db.session.scalar(select(func.count()).select_from(OutboxMail))
        out = ingest(ooo)
        assert out["outcome"] == "ignored"
        assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == before
        outbox.send_pending()
        assert len(smtp_sink.to("alcaldia@mura.cat")) == 1
        # And our own mail coming back (a forwarding loop) is ignored too.
        echoed = message_from_bytes(ack.as_bytes(), policy=policy.default)
        assert ingest(echoed.as_bytes())["outcome"] == "ignored"
        assert created["outcome"] == "created"
    finally:
        mail_app.config["MAIL_ACKNOWLEDGE"] = False


def test_a_web_ticket_mail_has_references_and_api_shows_the_address(db, domains, mail, ingest, mail_app, smtp_sink,
                                                                     api_for):
    ticket = services.create_ticket(domains.council_a, {"title": "Sense xarxa"}, actor=domains.clerk_a)
    outbox.send_pending()
    first = smtp_sink.to(domains.technician.email)[0]
    root = str(first["References"]).split()[0]
    assert root.endswith("@councildesk.invalid>") and ticket.reference.lower() in root
    # A reply naming only the thread's root finds the ticket.
    out = ingest(mail(sender=domains.technician.email, subject="Re: sense xarxa", body="Hi vaig.",
                      headers={"References": root}))
    assert out["outcome"] == "appended" and out["ticket_id"] == ticket.id
    created = ingest(mail(sender="alcaldia@mura.cat", subject="Nou"))
    body = api_for(domains.technician).get(f"/api/v1/tickets/{created['ticket_id']}").get_json()
    assert body["requester_id"] is None and body["requester_email"] == "alcaldia@mura.cat"
    reply = ingest(mail(sender="alcaldia@mura.cat", subject=f"Re: [{created['reference']}] Nou", body="Més"))
    comments = api_for(domains.technician).get(f"/api/v1/tickets/{reply['ticket_id']}/comments").get_json()["items"]
    assert comments[-1]["author_id"] is None and comments[-1]["author_email"] == "alcaldia@mura.cat"
