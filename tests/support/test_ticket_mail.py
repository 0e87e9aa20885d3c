"""Mail about tickets, through the outbox to a real SMTP server on loopback, each message in its
recipient's language: technicians hear of new tickets, the requester of the office's public
replies and of status changes, the assignee and the managers of an SLA breach (once).
Internal notes never reach the council's mailbox."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from accounts import services as accounts
from core import mail
from core.models import Notification
from support.tickets import services, sla_state

MADRID = ZoneInfo("Europe/Madrid")
SECRET = "Toner invoice 4711 is still unpaid"


def _speak(db, world, **languages):
    for role, language in languages.items():
        getattr(world, role).preferred_language = language
    db.session.commit()


def _body(message) -> str:
    return message.get_content()


def _subject(message) -> str:
    # A subject longer than a header line is folded right after "Subject:"; unfolded, it keeps
    # that fold's space in front.
    return str(message["Subject"]).strip()


def _subjects(smtp_sink, address) -> list[str]:
    return [_subject(m) for m in smtp_sink.to(address)]


def test_new_ticket_reply_and_status_mails_in_each_recipients_language(mail_app, db, world, smtp_sink):
    _speak(db, world, clerk_a="ca", technician="es", manager="en")
    second = accounts.create_user(email="tecnica2@test.example.org", name="Laia", role="technician",
                                  password=world.password, actor=None)
    second.preferred_language = "en"
    db.session.commit()

    ticket = services.create_ticket(world.council_a, {"title": "La impressora no imprimeix",
                                                      "description": "Surt el llum taronja."}, actor=world.clerk_a)
    ref = ticket.reference
    assert mail.send_pending() == 2  # the two technicians; nothing to the clerk who wrote it
    es = smtp_sink.to(world.technician.email)[0]
    assert _subject(es) == f"Nueva incidencia [{ref}] de Mura: La impressora no imprimeix"
    assert es["Content-Language"] == "es"
    assert "Prioridad: Normal" in _body(es) and "Surt el llum taronja." in _body(es)
    assert f"/tickets/{ticket.id}" in _body(es)
    en = smtp_sink.to(second.email)[0]
    assert _subject(en) == f"New ticket [{ref}] from Mura: La impressora no imprimeix"
    assert not smtp_sink.to(world.clerk_a.email) and not smtp_sink.to(world.manager.email)

    # Each step is mailed before the next (the outbox sends every minute; events closer than
    # that coalesce into one mail per recipient: test_coalescing in tests/abuse).
    # The technician takes it: the clerk is told, in Catalan and everyday words.
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.technician)
    mail.send_pending()
    # An internal note: nothing for the council.
    services.add_comment(ticket, SECRET, internal=True, actor=world.technician)
    mail.send_pending()
    # A public reply (it also starts the work, which is not announced separately).
    services.add_comment(ticket, "Hi passem demà a les 9.", internal=False, actor=world.technician)
    mail.send_pending()
    services.change_ticket(ticket, {"status": "waiting_council"}, actor=world.technician)
    mail.send_pending()
    services.add_comment(ticket, "D'acord, us esperem.", internal=False, actor=world.clerk_a)
    mail.send_pending()
    services.change_ticket(ticket, {"status": "resolved"}, actor=world.technician)
    mail.send_pending()

    clerk_mail = smtp_sink.to(world.clerk_a.email)
    assert [_subject(m) for m in clerk_mail] == [
        f"La vostra petició [{ref}]: Un tècnic se n'ocupa",
        f"Nova resposta a [{ref}]: La impressora no imprimeix",
        f"La vostra petició [{ref}]: Esperem la vostra resposta",
        f"La vostra petició [{ref}]: Resolta: confirmeu-ho, si us plau",
    ]
    assert all(m["Content-Language"] == "ca" for m in clerk_mail)
    assert "Hi passem demà a les 9." in _body(clerk_mail[1])
    assert "es tancarà sola d'aquí a 15 dies" in _body(clerk_mail[3])
    for message in clerk_mail:
        assert SECRET not in _body(message) and SECRET not in _subject(message)
    # The clerk's reply goes to the assignee, in Spanish.
    assert f"Nueva respuesta en [{ref}]: La impressora no imprimeix" in _subjects(smtp_sink, world.technician.email)

    # The council confirms: the assignee hears it; the clerk is not told what they just did.
    services.change_ticket(ticket, {"status": "closed"}, actor=world.clerk_a)
    mail.send_pending()
    assert _subjects(smtp_sink, world.technician.email)[-1] == f"Mura ha confirmado que [{ref}] está resuelta"
    assert len(smtp_sink.to(world.clerk_a.email)) == 4
    # Nothing is ever sent twice.
    assert mail.send_pending() == 0


def test_a_ticket_opened_by_the_office_for_a_council_tells_the_clerk(mail_app, db, world, smtp_sink):
    _speak(db, world, clerk_a="es", technician="ca")
    ticket = services.create_ticket(world.council_a, {"title": "Cridada: no va el correu", "channel": "phone",
                                                      "requester_id": world.clerk_a.id}, actor=world.manager)
    mail.send_pending()
    assert _subjects(smtp_sink, world.clerk_a.email) == [
        f"Hemos registrado su solicitud [{ticket.reference}]: Cridada: no va el correu"]
    assert _subjects(smtp_sink, world.technician.email) == [
        f"Nova incidència [{ticket.reference}] de Mura: Cridada: no va el correu"]


def test_a_breach_mails_the_assignee_and_the_managers_once(mail_app, db, world, smtp_sink):
    _speak(db, world, technician="ca", manager="es")
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=MADRID).astimezone(dt.UTC)
    ticket = services.create_ticket(world.council_a, {"title": "No hi ha internet", "priority": "urgent"},
                                    actor=world.clerk_a, now=t0)
    services.change_ticket(ticket, {"assignee_id": world.technician.id}, actor=world.manager, now=t0)
    mail.send_pending()
    smtp_sink.messages.clear()
    late = t0 + dt.timedelta(minutes=31)
    assert sla_state.refresh_due_slas(late)["breaches"] == 1
    assert sla_state.refresh_due_slas(late + dt.timedelta(minutes=5))["breaches"] == 0
    # A change that recomputes the SLA does not announce it again.
    ticket = services.get_ticket(ticket.id)
    services.change_ticket(ticket, {"priority": "high"}, actor=world.manager, now=late + dt.timedelta(minutes=6))
    mail.send_pending()
    ref = ticket.reference
    assert _subjects(smtp_sink, world.technician.email) == [f"[{ref}] ha superat el termini de primera resposta"]
    assert _subjects(smtp_sink, world.manager.email) == [f"[{ref}] ha superado el plazo de primera respuesta"]
    assert not smtp_sink.to(world.clerk_a.email)  # the council is not mailed about the office's lateness
    assert "Mura: No hi ha internet." in _body(smtp_sink.to(world.technician.email)[0])
    notes = db.session.scalars(select(Notification.user_id).where(Notification.kind == "support.ticket_breach"))
    assert sorted(notes) == sorted([world.technician.id, world.manager.id])


def test_mail_through_the_pages_leaves_after_the_response(mail_app, db, world, smtp_sink, client_for):
    """A request that queues mail sends it once the response is out (not in the test's hands)."""
    import time

    _speak(db, world, clerk_a="ca", technician="es")
    client = client_for(world.clerk_a)
    resp = client.post("/tickets/new", data={"title": "No puc signar", "description": "Certificat no vàlid",
                                             "priority": "high", "category": "e_administration", "asset_id": "0"})
    assert resp.status_code == 302
    resp.close()  # what a WSGI server does once the body is sent: the mail goes then
    deadline = time.monotonic() + 10
    while not smtp_sink.to(world.technician.email) and time.monotonic() < deadline:
        time.sleep(0.05)
    subject = _subject(smtp_sink.to(world.technician.email)[0])
    assert subject.startswith("Nueva incidencia [MURA-") and subject.endswith(": No puc signar")
