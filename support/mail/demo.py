"""Demo data for tickets by mail: the councils' mail domains, a mailbox record (paused: the
demo has no mail server), and a few messages through the real pipeline: new requests, a
reply on a ticket, an out-of-office that is ignored, and mail held for triage."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import func, select

from agreements.models import CouncilMailDomain
from core.demo import DemoContext
from extensions import db
from support.mail import pipeline, services
from support.mail.models import InboundMail, Mailbox
from support.tickets.models import Ticket


def _message(sender: str, subject: str, body: str, when: dt.datetime, n: int, **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "suport@ccbages.example.cat"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<demo-{n}.{when:%Y%m%d}@{sender.rpartition('@')[2].rstrip('>')}>"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def seed(ctx: DemoContext) -> None:
    if db.session.scalar(select(func.count()).select_from(Mailbox)):
        return
    for council in ctx.councils:
        domain = f"{council.slug}.cat"
        if db.session.get(CouncilMailDomain, domain) is None:
            db.session.add(CouncilMailDomain(domain=domain, council_id=council.id))
    db.session.commit()
    services.save_mailbox({"name": "Suport (demo)", "host": "imap.example.cat", "port": 993, "security": "ssl",
                           "username": "suport@ccbages.example.cat", "password": "demo-password-not-real",
                           "processed_folder": "Processats", "active": False}, actor=None)
    first, second = ctx.councils[0], ctx.councils[1 % len(ctx.councils)]
    base = dt.datetime.combine(ctx.today, dt.time(8, 30), tzinfo=dt.UTC)
    items = [
        (f"Secretaria <secretaria@{first.slug}.cat>", "La impressora de l'entrada no imprimeix",
         "Bon dia,\n\nLa impressora de l'entrada fa un soroll i no treu cap full.\n\nGràcies,\nSecretaria", {}),
        (f"Alcaldia <alcaldia@{second.slug}.cat>", "RE: Fwd: Accés a l'e-TRAM",
         "Hola,\n\nNo podem entrar a l'e-TRAM amb el certificat nou.\n\nSalutacions", {}),
        (f"Alcaldia <alcaldia@{second.slug}.cat>", "Resposta automàtica: Accés a l'e-TRAM",
         "Sóc fora de l'oficina fins dilluns.", {"Auto_Submitted": "auto-replied"}),
        ("Veí preocupat <un.vei@gmail.com>", "El wifi de la biblioteca no funciona",
         "Des de dimarts no hi ha wifi a la biblioteca municipal.", {}),
        ("Proveïdor <comercial@ofertes.example.com>", "Oferta de tòners",
         "Preus especials aquest mes.", {}),
    ]
    for n, (sender, subject, body, headers) in enumerate(items):
        pipeline.ingest(_message(sender, subject, body, base, n, **headers), source="imap",
                        now=base + dt.timedelta(minutes=7 * n))
    # A reply on the first request, from the same council, quoting the office.
    ticket_id = db.session.scalar(select(InboundMail.ticket_id).where(InboundMail.status == "created")
                                  .order_by(InboundMail.id).limit(1))
    if ticket_id is not None:
        reference = db.session.get(Ticket, ticket_id).reference
        pipeline.ingest(_message(f"Secretaria <secretaria@{first.slug}.cat>", f"Re: [{reference}] La impressora",
                                 "Ara també parpelleja el llum taronja.\n\nEl dj., a les 9:00, Oficina va escriure:\n"
                                 "> Hi passarem aquesta setmana.", base + dt.timedelta(hours=1), 9),
                        source="pipe", now=base + dt.timedelta(hours=1))
    ctx.notes.append("Mail: 1 mailbox (paused), 6 messages received (2 tickets, 1 reply, 1 ignored, 2 held).")
