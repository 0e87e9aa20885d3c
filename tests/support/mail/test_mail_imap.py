"""IMAP mailboxes against a real Dovecot on loopback: a bad charset between two good messages,
a connection dropped mid-batch, UIDVALIDITY changing, a wrong password beside a good mailbox,
the batch limit, and the alert to admins when a mailbox is not read."""

from __future__ import annotations

import datetime as dt
import imaplib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from dovecot_harness import Dovecot, available
from sqlalchemy import func, select

from core.models import Notification
from support.mail import imap, services
from support.mail.models import InboundMail, Mailbox
from support.tickets.models import Ticket

pytestmark = pytest.mark.skipif(not available(), reason="dovecot-imapd is not installed (.ci/install-system)")


@pytest.fixture
def dovecot():
    # Not under pytest's tmp_path: its parents are 0700, and Dovecot's unprivileged
    # processes must reach the passwd-file and the maildir.
    root = Path(tempfile.mkdtemp(prefix="councildesk-dovecot-"))
    os.chmod(root, 0o755)  # noqa: S103  (a throwaway directory of the test)
    server = Dovecot(root / "dovecot", {"suport": "imap-secret-1", "altres": "imap-secret-2"}).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _mailbox(db, dovecot, user="suport", password=None, **extra):
    return services.save_mailbox({"name": f"Bústia {user}", "host": "127.0.0.1", "port": dovecot.port,
                                  "security": "none", "username": user,
                                  "password": password or dovecot.users[user], **extra}, actor=None)


def _tickets(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket))


def test_a_bad_charset_between_two_good_messages(db, domains, mail, dovecot):
    bad = (b"From: jose@mura.cat\r\nTo: suport@x.org\r\nSubject: Mal codificat\r\nMessage-ID: <bad-cs@mura.cat>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLa c\xe0mera del s\xe0l\xf3 \x80\r\n")
    dovecot.append("suport", mail(subject="Primer"), bad, mail(subject="Tercer"))
    box = _mailbox(db, dovecot)
    assert imap.poll_mailbox(box.id) == 3
    rows = db.session.scalars(select(InboundMail).order_by(InboundMail.uid)).all()
    assert [r.status for r in rows] == ["created", "created", "created"]
    assert [r.uid for r in rows] == [1, 2, 3]
    middle = db.session.get(Ticket, rows[1].ticket_id)
    assert middle.description == "La càmera del sàló €"
    # The encrypted password is not the password.
    assert "imap-secret-1" not in (db.session.get(Mailbox, box.id).password_encrypted or "")


def test_a_connection_dropped_mid_batch_loses_and_doubles_nothing(db, domains, mail, dovecot, monkeypatch):
    dovecot.append("suport", *[mail(subject=f"Missatge {n}") for n in range(5)])
    box = _mailbox(db, dovecot)
    real = imap._fetch
    calls = {"n": 0}

    def dropping(client, uid, cap):
        calls["n"] += 1
        if calls["n"] == 3:
            client.shutdown()  # the server goes away in the middle of the batch
        return real(client, uid, cap)

    monkeypatch.setattr(imap, "_fetch", dropping)
    imap.poll_mailbox(box.id)
    box = db.session.get(Mailbox, box.id)
    assert box.consecutive_failures == 1 and box.last_error
    stored = db.session.scalar(select(func.count()).select_from(InboundMail))
    assert stored == 2 and box.last_uid == 2
    monkeypatch.setattr(imap, "_fetch", real)
    imap.poll_mailbox(box.id, force=True)
    db.session.refresh(box)
    assert box.consecutive_failures == 0 and box.last_uid == 5
    assert db.session.scalar(select(func.count()).select_from(InboundMail)) == 5
    assert _tickets(db) == 5


def test_uidvalidity_change_reads_again_without_new_tickets(db, domains, mail, dovecot):
    def recreate_folder():
        # Deleting and creating a folder again gives it a new UIDVALIDITY (RFC 3501), as
        # a server restored from backup or migrated does.
        client = dovecot.client("suport")
        try:
            client.delete("Entrada")
            assert client.create("Entrada")[0] == "OK"
        finally:
            client.logout()

    recreate_folder()
    first, second = mail(subject="U1"), mail(subject="U2")
    dovecot.append("suport", first, second, folder="Entrada")
    box = _mailbox(db, dovecot, folder="Entrada")
    assert imap.poll_mailbox(box.id) == 2
    old_validity = db.session.get(Mailbox, box.id).uidvalidity
    recreate_folder()
    dovecot.append("suport", second, first, mail(subject="U3"), folder="Entrada")
    assert imap.poll_mailbox(box.id, force=True) == 3, db.session.get(Mailbox, box.id).last_error
    box = db.session.get(Mailbox, box.id)
    assert box.uidvalidity != old_validity and box.last_uid == 3
    outcomes = sorted(r.status for r in db.session.scalars(select(InboundMail)))
    assert outcomes == ["created", "created", "created", "duplicate", "duplicate"]
    assert _tickets(db) == 3


def test_a_wrong_password_beside_a_good_mailbox(db, domains, mail, dovecot, world):
    dovecot.append("altres", mail(subject="Bona"))
    bad = _mailbox(db, dovecot, "suport", password="not-the-password")
    good = _mailbox(db, dovecot, "altres")
    now = dt.datetime.now(dt.UTC)
    result = imap.poll_all(now)
    assert result == {"mailboxes": 2, "messages": 1}
    bad_row = db.session.get(Mailbox, bad.id)
    assert bad_row.consecutive_failures == 1 and "AUTHENTICATIONFAILED" in bad_row.last_error.upper()
    assert bad_row.next_attempt_at > now
    assert _tickets(db) == 1
    # Backoff: the next minute's run leaves the failing one alone, then it is tried again.
    imap.poll_all(now + dt.timedelta(seconds=30))
    assert db.session.get(Mailbox, bad.id).consecutive_failures == 1
    imap.poll_all(now + dt.timedelta(minutes=2))
    assert db.session.get(Mailbox, bad.id).consecutive_failures == 2
    # Not read for 30 minutes: the admins are told, once.
    later = now + dt.timedelta(minutes=40)
    imap.poll_all(later)
    imap.poll_all(later + dt.timedelta(minutes=5))
    notes = db.session.scalars(select(Notification).where(Notification.kind == imap.KIND_STALE)).all()
    assert [n.user_id for n in notes] == [world.admin.id]
    assert notes[0].params["mailbox"] == bad.name
    assert db.session.get(Mailbox, good.id).alerted_at is None


def test_at_most_the_batch_per_run(app, db, domains, mail, dovecot):
    dovecot.append("suport", *[mail(subject=f"B{n}") for n in range(4)])
    box = _mailbox(db, dovecot)
    app.config["MAIL_POLL_BATCH"] = 3
    try:
        assert imap.poll_mailbox(box.id) == 3
        assert imap.poll_mailbox(box.id, force=True) == 1
    finally:
        app.config["MAIL_POLL_BATCH"] = 50
    assert _tickets(db) == 4


def test_the_same_message_by_imap_and_by_the_pipe_is_one_ticket(db, domains, mail, dovecot, ingest):
    data = mail(message_id="<imap-and-pipe@mura.cat>")
    assert ingest(data)["outcome"] == "created"
    dovecot.append("suport", data)
    box = _mailbox(db, dovecot)
    imap.poll_mailbox(box.id)
    assert db.session.scalars(select(InboundMail.status).where(InboundMail.source == "imap")).all() == ["duplicate"]
    assert _tickets(db) == 1


def test_processed_mail_is_moved(db, domains, mail, dovecot):
    client = dovecot.client("suport")
    client.create("Processat")
    client.logout()
    dovecot.append("suport", mail(subject="Mou-me"))
    box = _mailbox(db, dovecot, processed_folder="Processat")
    assert imap.poll_mailbox(box.id) == 1
    client = dovecot.client("suport")
    try:
        assert client.select("INBOX")[1] == [b"0"]
        assert client.select("Processat")[1] == [b"1"]
    finally:
        client.logout()
    assert isinstance(imaplib.IMAP4, type)
