"""The mail section of the contract, rule by rule, through the pipeline (store, then process)."""

from __future__ import annotations

from sqlalchemy import func, select

from support.mail.models import InboundMail
from support.tickets.models import Ticket, TicketAttachment, TicketComment


def _ticket(db, ticket_id) -> Ticket:
    return db.session.get(Ticket, ticket_id)


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_new_mail_from_a_clerk_is_a_ticket_of_the_clerks_council(db, domains, mail, ingest):
    out = ingest(mail(sender="Clerk A <Clerk.A@test.example.org>", subject="RE: Fwd: RV: La impressora"))
    assert out["outcome"] == "created" and out["reason"] is None
    ticket = _ticket(db, out["ticket_id"])
    assert out["reference"] == ticket.reference and out["message_id"].startswith("<")
    assert ticket.council_id == domains.council_a.id and ticket.channel == "email"
    assert ticket.requester_id == domains.clerk_a.id and ticket.requester_email is None
    assert ticket.title == "La impressora" and ticket.description == "Surt el llum taronja."


def test_an_address_of_a_council_domain_is_an_unregistered_requester(db, domains, mail, ingest):
    out = ingest(mail(sender="Alcaldia <ALCALDIA@Talamanca.cat>"))
    ticket = _ticket(db, out["ticket_id"])
    assert out["outcome"] == "created" and ticket.council_id == domains.council_b.id
    assert ticket.requester_id is None and ticket.requester_email == "alcaldia@talamanca.cat"


def test_unknown_senders_and_new_mail_from_staff_are_held(db, domains, mail, ingest):
    unknown = ingest(mail(sender="someone@gmail.com"))
    staff = ingest(mail(sender=domains.technician.email))
    assert unknown["outcome"] == staff["outcome"] == "held"
    assert unknown["ticket_id"] is None and unknown["reason"] == "unknown_sender"
    assert staff["reason"] == "staff_sender"
    assert _count(db, Ticket) == 0


def test_the_same_message_twice_is_one_ticket(db, domains, mail, ingest):
    data = mail(message_id="<same-1@mura.cat>")
    first = ingest(data, source="pipe")
    # The copy fetched by IMAP has the server's extra headers: other bytes, same Message-ID.
    second = ingest(b"Delivered-To: suport@ccbages.example.org\r\n" + data, source="api")
    assert first["outcome"] == "created" and second["outcome"] == "duplicate"
    assert second["ticket_id"] is None
    assert _count(db, Ticket) == 1 and _count(db, InboundMail) == 2


def test_without_message_id_the_hash_deduplicates(db, domains, mail, ingest):
    data = mail(message_id=None)
    assert ingest(data)["outcome"] == "created"
    assert ingest(data)["outcome"] == "duplicate"


def test_automatic_mail_is_ignored_and_never_answered(db, domains, mail, ingest, mail_app, smtp_sink):
    from core import mail as outbox

    mail_app.config["MAIL_ACKNOWLEDGE"] = True
    try:
        cases = [
            {"Auto-Submitted": "auto-replied"}, {"Precedence": "bulk"}, {"Precedence": "list"},
            {"Precedence": "junk"}, {"X-Autoreply": "yes"}, {"X-Autorespond": "x"},
            {"X-Auto-Response-Suppress": "OOF"}, {"X-Auto-Response-Suppress": "All"},
            {"X-Auto-Response-Suppress": "AutoReply"}, {"Return-Path": "<>"},
        ]
        for headers in cases:
            out = ingest(mail(headers=headers))
            assert out["outcome"] == "ignored", headers
        own = ingest(mail(sender=mail_app.config["MAIL_DEFAULT_SENDER"]))
        assert own["outcome"] == "ignored" and own["reason"] == "own_mail"
        report = (b"From: MAILER-DAEMON@mura.cat\r\nTo: suport@x.org\r\nSubject: Undelivered\r\n"
                  b"Message-ID: <bounce-1@mura.cat>\r\nMIME-Version: 1.0\r\n"
                  b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
                  b"--XX\r\nContent-Type: text/plain\r\n\r\nFailed\r\n--XX--\r\n")
        assert ingest(report)["outcome"] == "ignored"
        assert ingest(mail(headers={"Auto-Submitted": "no"}))["outcome"] == "created"
        assert _count(db, Ticket) == 1
        outbox.send_pending()
        assert not smtp_sink.to("secretaria@mura.cat")[1:]  # one acknowledgement, for the real one
    finally:
        mail_app.config["MAIL_ACKNOWLEDGE"] = False


def test_acknowledgement_at_most_once_per_address_and_day(db, domains, mail, ingest, mail_app, smtp_sink):
    from core import mail as outbox

    mail_app.config["MAIL_ACKNOWLEDGE"] = True
    try:
        refs = [ingest(mail(subject=f"Problema {n}"))["reference"] for n in range(3)]
        outbox.send_pending()
        acks = smtp_sink.to("secretaria@mura.cat")
        assert len(acks) == 1
        assert f"[{refs[0]}]" in str(acks[0]["Subject"])
        assert acks[0]["Auto-Submitted"] == "auto-generated" and acks[0]["X-Auto-Response-Suppress"] == "All"
    finally:
        mail_app.config["MAIL_ACKNOWLEDGE"] = False


def test_a_reply_by_reference_is_appended_with_the_quote_cut(db, domains, mail, ingest):
    created = ingest(mail())
    reply = ("Encara no funciona.\n\nEl dj., 18 de juny 2026 a les 9:00, Oficina <suport@x.org> va escriure:\n"
             "> Hem reiniciat la cua.\n> Salutacions\n")
    out = ingest(mail(subject=f"Re: [{created['reference']}] La impressora", body=reply))
    assert out["outcome"] == "appended" and out["ticket_id"] == created["ticket_id"]
    comment = db.session.scalars(select(TicketComment).where(TicketComment.ticket_id == out["ticket_id"])).one()
    assert comment.body == "Encara no funciona." and not comment.internal
    assert comment.author_id is None and comment.author_email == "secretaria@mura.cat"


def test_quote_markers_in_spanish_english_and_outlook(db, domains, mail, ingest):
    from support.mail.parsing import cut_quoted

    assert cut_quoted("Sigue igual.\n\nEl jue, 18 jun 2026 a las 9:00, Oficina (<s@x.org>) escribió:\n> a") \
        == "Sigue igual."
    assert cut_quoted("OK thanks\n\nOn Thu, Jun 18, 2026 at 9:00 AM Office <s@x.org> wrote:\n> old") == "OK thanks"
    assert cut_quoted("Fet.\n\n-----Mensaje original-----\nDe: Oficina\nEnviado: ...") == "Fet."
    assert cut_quoted("Fet.\n________________________________\nFrom: Office <s@x.org>\nSent: x") == "Fet."


def test_a_reference_from_someone_not_entitled_is_disregarded(db, domains, mail, ingest):
    created = ingest(mail())
    subject = f"Re: [{created['reference']}] La impressora"
    # Council B's clerk, and council B's domain: their own new ticket, nothing added to A's.
    other = ingest(mail(sender=domains.clerk_b.email, subject=subject))
    assert other["outcome"] == "created" and _ticket(db, other["ticket_id"]).council_id == domains.council_b.id
    assert _ticket(db, other["ticket_id"]).title == "La impressora"
    stranger = ingest(mail(sender="x@gmail.com", subject=subject))
    assert stranger["outcome"] == "held"
    assert _count(db, TicketComment) == 0
    # Office staff may write on any ticket.
    staff = ingest(mail(sender=domains.technician.email, subject=subject, body="Hi passo demà."))
    assert staff["outcome"] == "appended"
    ticket = _ticket(db, created["ticket_id"])
    assert ticket.first_response_at is not None


def test_a_reply_threaded_by_in_reply_to(db, domains, mail, ingest):
    created = ingest(mail(message_id="<orig-7@mura.cat>"))
    out = ingest(mail(subject="Una altra cosa", headers={"In-Reply-To": "<orig-7@mura.cat>",
                                                          "References": "<orig-7@mura.cat>"}))
    assert out["outcome"] == "appended" and out["ticket_id"] == created["ticket_id"]


def test_a_reply_to_a_closed_ticket_opens_a_related_one(db, domains, mail, ingest):
    from support.tickets import services

    created = ingest(mail())
    ticket = _ticket(db, created["ticket_id"])
    for status in ("assigned", "in_progress", "resolved", "closed"):
        values = {"assignee_id": domains.technician.id} if status == "assigned" else {"status": status}
        services.change_ticket(ticket, values, actor=domains.technician)
    again = ingest(mail(subject=f"Re: [{ticket.reference}] La impressora", body="Torna a passar."))
    assert again["outcome"] == "created" and again["ticket_id"] != ticket.id
    assert _ticket(db, again["ticket_id"]).related_ticket_id == ticket.id
    # Again, the same mail: a duplicate, never one more ticket per run (glpi#24760).
    assert _count(db, Ticket) == 2


def test_the_councils_reply_moves_a_waiting_or_resolved_ticket_to_in_progress(db, domains, mail, ingest):
    from support.tickets import services

    for target in ("waiting_council", "resolved"):
        created = ingest(mail(subject=f"Cas {target}"))
        ticket = _ticket(db, created["ticket_id"])
        services.change_ticket(ticket, {"assignee_id": domains.technician.id}, actor=domains.technician)
        services.change_ticket(ticket, {"status": "in_progress"}, actor=domains.technician)
        services.change_ticket(ticket, {"status": target}, actor=domains.technician)
        out = ingest(mail(sender="alcaldia@mura.cat", subject=f"RE: [{ticket.reference}]", body="Segueix igual."))
        assert out["outcome"] == "appended"
        db.session.refresh(ticket)
        assert ticket.status == "in_progress", target


def test_charsets_and_encoded_headers_are_decoded_to_utf8(db, domains, ingest):
    latin = ("From: =?ISO-8859-1?Q?Jos=E9_Mu=F1oz?= <jose@mura.cat>\r\nTo: s@x.org\r\n"
             "Subject: =?ISO-8859-1?Q?La_c=E0mera_no_va?=\r\nMessage-ID: <latin-1@mura.cat>\r\n"
             "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n").encode("ascii") + "Café i pèl·lícula – “ok”".encode("cp1252")
    out = ingest(latin)
    ticket = _ticket(db, out["ticket_id"])
    assert ticket.title == "La càmera no va"
    assert ticket.description == "Café i pèl·lícula – “ok”"
    # A label nobody knows, with bytes that are not UTF-8: still read, never a failure.
    bogus = (b"From: jose@mura.cat\r\nTo: s@x.org\r\nSubject: Bogus\r\nMessage-ID: <bogus-1@mura.cat>\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\nAjuntament d'\xe0rea\r\n")
    out = ingest(bogus)
    assert out["outcome"] == "created"
    assert _ticket(db, out["ticket_id"]).description == "Ajuntament d'àrea"


def test_an_html_only_message_becomes_text(db, domains, mail, ingest):
    html = "<html><body><p>Hola,</p><p>El <b>servidor</b> no arrenca.</p><script>alert(1)</script></body></html>"
    out = ingest(mail(body=None, html=html))
    description = _ticket(db, out["ticket_id"]).description
    assert "El servidor no arrenca." in description and "<" not in description and "alert" not in description


def test_attachments_follow_the_ticket_rules_and_refused_ones_are_named(db, domains, mail, ingest):
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    out = ingest(mail(files=[("factura.pdf", "application/pdf", pdf),
                             ("setup.exe", "application/octet-stream", b"MZ\x90\x00binary")]))
    ticket = _ticket(db, out["ticket_id"])
    files = db.session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)).all()
    assert [f.filename for f in files] == ["factura.pdf"]
    note = db.session.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket.id)).one()
    assert note.internal and "setup.exe" in note.body


def test_a_failing_message_is_kept_and_never_stops_the_next(db, domains, mail, ingest, monkeypatch):
    from support.mail import pipeline

    real = pipeline._decide

    def explode(row, parsed, now):
        if "boom" in parsed.subject:
            raise RuntimeError("parser exploded")
        return real(row, parsed, now)

    monkeypatch.setattr(pipeline, "_decide", explode)
    results = [ingest(mail(subject=s)) for s in ("first", "boom", "third")]
    assert [r["outcome"] for r in results] == ["created", "failed", "created"]
    failed = db.session.scalars(select(InboundMail).where(InboundMail.status == "failed")).one()
    assert failed.attempts == 1 and "parser exploded" in failed.last_error and failed.storage_name
    monkeypatch.setattr(pipeline, "_decide", real)
    again = pipeline.process(failed.id)
    assert again["outcome"] == "created" and _count(db, Ticket) == 3


def test_a_message_over_the_cap_is_recorded_not_processed(app, db, domains, mail, ingest):
    app.config["MAIL_INTAKE_MAX_BYTES"] = 2000
    try:
        out = ingest(mail(body="x" * 5000))
    finally:
        app.config["MAIL_INTAKE_MAX_BYTES"] = 25 * 1024 * 1024
    assert out["outcome"] == "failed" and out["reason"] == "too_large"
    row = db.session.scalars(select(InboundMail)).one()
    assert row.size > 5000 and row.from_address == "secretaria@mura.cat"
    assert _count(db, Ticket) == 0


def test_garbage_is_stored_and_recorded(db, domains, ingest):
    out = ingest(b"\x00\xff\xfe not a mail at all \x00\r\n\r\n\xff")
    assert out["outcome"] in ("held", "failed")
    assert _count(db, InboundMail) == 1


def test_a_thunderbird_message_with_flowed_text_and_a_screenshot(db, world, ingest):
    """data/mail/thunderbird-new-request.eml: Thunderbird's layout (multipart/mixed holding
    multipart/alternative with format=flowed text and HTML, and a PNG attachment)."""
    from pathlib import Path

    from agreements import councils

    avinyo = councils.create_council({"name": "Avinyó", "population": 2300, "mail_domains": ["avinyo.cat"]},
                                     actor=None)
    raw = (Path(__file__).resolve().parents[3] / "data" / "mail" / "thunderbird-new-request.eml").read_bytes()
    out = ingest(raw)
    ticket = _ticket(db, out["ticket_id"])
    assert out["outcome"] == "created" and ticket.council_id == avinyo.id
    assert ticket.title == "L'ordinador de l'alcaldia no es connecta a la xarxa"
    assert ticket.requester_email == "alcaldia@avinyo.cat"
    assert "no es connecta a la xarxa: la icona del wifi" in ticket.description  # unflowed
    files = db.session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket.id)).all()
    assert [(f.filename, f.content_type) for f in files] == [("captura-wifi.png", "image/png")]
