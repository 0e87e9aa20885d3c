"""Mail goes out through the outbox to a real SMTP server, in each recipient's language."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from core import mail, notify
from core.models import Notification, OutboxMail


def _register():
    from flask_babel import gettext as _

    notify.register_kind("test.hello", lambda p: _("Your password was changed. Other devices have been signed out."),
                         lambda p: f"council={p['council']}")


def test_notification_is_mailed_in_the_users_language(mail_app, db, world, smtp_sink):
    _register()
    world.technician.preferred_language = "es"
    world.manager.preferred_language = "en"
    db.session.commit()
    notify.notify_users([world.technician, world.manager], "test.hello", {"council": "Mura"},
                        link="/councils/mura")
    db.session.commit()
    assert mail.send_pending() == 2
    es = smtp_sink.to(world.technician.email)[0]
    en = smtp_sink.to(world.manager.email)[0]
    assert es["Subject"] == "Se ha cambiado la contraseña. Se ha cerrado la sesión en los demás dispositivos."
    assert en["Subject"].startswith("Your password was changed")
    assert "council=Mura" in es.get_content()
    assert "http://127.0.0.1:5000/councils/mura" in es.get_content()
    assert es["Content-Language"] == "es"
    # In-app too, rendered when read.
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 2
    # Sent once: a second pass has nothing to do.
    assert mail.send_pending() == 0
    assert len(smtp_sink.messages) == 2


def test_smtp_outage_keeps_the_mail_and_retries(mail_app, db, world, smtp_sink):
    from mailsink import SmtpSink

    from core.db import utcnow

    mail.queue("someone@example.org", "Subject", "Body")
    db.session.commit()
    smtp_sink.stop()
    assert mail.send_pending() == 0
    row = db.session.scalar(select(OutboxMail))
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    assert row.next_attempt_at > utcnow()
    # Not due yet: nothing is attempted.
    assert mail.send_pending() == 0
    # Later (as the scheduler would find it), with the server back on the same port.
    row.next_attempt_at = utcnow()
    db.session.commit()
    back = SmtpSink(port=smtp_sink.port).start()
    try:
        assert mail.send_pending() == 1
        assert len(back.messages) == 1
    finally:
        back.stop()


def test_concurrent_senders_deliver_each_mail_once(mail_app, db, smtp_sink):
    for i in range(30):
        mail.queue(f"user{i}@example.org", f"Subject {i}", "Body")
    db.session.commit()
    counts = []

    def worker():
        with mail_app.app_context():
            counts.append(mail.send_pending())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 30
    assert sorted(str(m["To"]) for m in smtp_sink.messages) == sorted(f"user{i}@example.org" for i in range(30))


def test_header_injection_is_neutralised(mail_app, db, smtp_sink):
    mail.queue("x@example.org", "Hello\r\nBcc: victim@example.org", "Body")
    db.session.commit()
    mail.send_pending()
    msg = smtp_sink.messages[0]
    assert msg["Bcc"] is None
    assert "victim" in msg["Subject"]  # kept as text, on one line


def test_disabled_mail_sends_nothing(app, db, smtp_sink):
    mail.queue("x@example.org", "S", "B")
    db.session.commit()
    assert mail.send_pending() == 0
    assert smtp_sink.messages == []


def test_notifications_page_and_mark_read(app, db, world, client_for):
    _register()
    notify.notify_users([world.clerk_a], "test.hello", {"council": "Mura"}, link="/councils/mura", send_mail=False)
    db.session.commit()
    client = client_for(world.clerk_a)
    page = client.get("/notifications", headers={"Accept-Language": "ca"})
    assert page.status_code == 200
    assert "S&#39;ha canviat la contrasenya" in page.text or "S'ha canviat la contrasenya" in page.text
    note = db.session.scalar(select(Notification))
    resp = client.post("/notifications/read", data={"id": note.id})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/councils/mura")
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is not None
    # Another user cannot mark it (nor see it).
    other = client_for(world.clerk_b)
    assert "Mura" not in other.get("/notifications").text
