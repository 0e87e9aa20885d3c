"""Path arguments of the mail routes: a held message (an unknown sender), suggested for the
side's council so that the clerk of council A is refused A's (403) and never sees B's (404);
and the office's one sample mailbox."""

from __future__ import annotations

from email.message import EmailMessage


def provide(world, side):
    from extensions import db
    from support.mail import pipeline
    from support.mail.models import InboundMail

    msg = EmailMessage()
    msg["From"] = f"stranger-{side}@example.net"
    msg["To"] = "suport@example.org"
    msg["Subject"] = f"Held sample {side}"
    msg["Message-ID"] = f"<held-sample-{side}@example.net>"
    msg.set_content("Who am I?")
    outcome = pipeline.ingest(msg.as_bytes(), source="pipe")
    row = db.session.scalar(db.select(InboundMail).where(InboundMail.message_id == outcome["message_id"]))
    row.council_id = (world.council_a if side == "a" else world.council_b).id
    db.session.commit()
    from support.mail import services
    from support.mail.models import Mailbox

    # One mailbox for both sides: a mailbox is the office's, of no council, so there is no
    # "other council's mailbox" to ask for (clerks are refused every one with 403).
    box = db.session.scalar(db.select(Mailbox).where(Mailbox.name == "Sample mailbox"))
    if box is None:
        box = services.save_mailbox({"name": "Sample mailbox", "host": "127.0.0.1", "port": 1, "security": "none",
                                     "username": "sample", "password": "sample"}, actor=None)
    return {"mail_id": row.id, "mailbox_id": box.id}
