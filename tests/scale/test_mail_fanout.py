"""Mail polling with a broker, against the real Dovecot of the mail tests: the scheduler's run
hands out one task per active mailbox on the private RabbitMQ, a real Celery worker (threads of
the test process) polls each, a mailbox that cannot be read does not stop the others, and a
redelivered task creates no ticket twice."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from dovecot_harness import Dovecot, available
from scale_support import celery_worker, wait_for
from sqlalchemy import func, select, update

pytestmark = pytest.mark.skipif(not available(), reason="dovecot-imapd is not installed (.ci/install-system)")

FANOUT = "mail.poll_mailbox"


@pytest.fixture
def dovecot():
    # Not under pytest's tmp_path: its parents are 0700, and Dovecot's unprivileged processes
    # must reach the passwd-file and the maildir.
    root = Path(tempfile.mkdtemp(prefix="councildesk-dovecot-"))
    os.chmod(root, 0o755)  # noqa: S103  (a throwaway directory of the test)
    server = Dovecot(root / "dovecot", {"suport": "imap-secret-1", "altres": "imap-secret-2"}).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def _message(subject: str, number: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "secretaria@mura.cat"
    msg["To"] = "suport@ccbages.example.org"
    msg["Subject"] = subject
    msg["Date"] = "Wed, 17 Jun 2026 10:00:00 +0000"
    msg["Message-ID"] = make_msgid(idstring=f"scale3-{number}", domain="mura.cat")
    msg.set_content("Surt el llum taronja.")
    return msg.as_bytes()


def _mailbox(dovecot, user, password=None):
    from support.mail import services

    return services.save_mailbox({"name": f"Bústia {user} {password or ''}".strip(), "host": "127.0.0.1",
                                  "port": dovecot.port, "security": "none", "username": user,
                                  "password": password or dovecot.users[user]}, actor=None)


def _counts(db):
    from support.mail.models import InboundMail
    from support.tickets.models import Ticket

    db.session.commit()
    return (db.session.scalar(select(func.count(InboundMail.id))), db.session.scalar(select(func.count(Ticket.id))))


def test_one_task_per_mailbox_and_a_broken_one_stops_nothing(app, db, world, broker_app, dovecot):
    from agreements import councils
    from scale import tasks
    from scale.models import TaskKey
    from support.mail import imap
    from support.mail.models import Mailbox

    councils.update_council(world.council_a, {"mail_domains": ["mura.cat"]}, actor=None)
    dovecot.append("suport", _message("La impressora no imprimeix", 1), _message("No arrenca el portàtil", 2))
    dovecot.append("altres", _message("El correu no surt", 3))
    broken = _mailbox(dovecot, "suport", password="not-the-password")
    first = _mailbox(dovecot, "suport")
    second = _mailbox(dovecot, "altres")
    idle = _mailbox(dovecot, "altres", password=dovecot.users["altres"] + "-idle")
    idle.active = False
    db.session.commit()
    ids = [broken.id, first.id, second.id]

    handed = []
    real_fanout = broker_app.extensions["councildesk_fanout"]

    def recording(kind, args, now):
        handed.append((kind, list(args), now))
        real_fanout(kind, args, now)

    broker_app.extensions["councildesk_fanout"] = recording
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with broker_app.app_context():
        assert imap.poll_all(now) == {"mailboxes": 3, "queued": 3}
    assert [(kind, sorted(args)) for kind, args, _at in handed] == [(FANOUT, sorted(ids))]  # not the inactive one
    assert _counts(db) == (0, 0)  # nothing is read in the scheduler's run

    def polled() -> int:
        return db.session.scalar(select(func.count(TaskKey.id)).where(TaskKey.key.like(f"{FANOUT}:%")))

    with celery_worker(broker_app):
        wait_for(db, lambda: polled() == 3, what="the three mailboxes' tasks")
    assert _counts(db) == (3, 3)
    rows = {b.id: b for b in db.session.scalars(select(Mailbox).where(Mailbox.id.in_(ids)))}
    assert rows[broken.id].consecutive_failures == 1 and "AUTHENTICATIONFAILED" in rows[broken.id].last_error.upper()
    assert rows[broken.id].last_success_at is None
    for box_id in (first.id, second.id):
        assert rows[box_id].consecutive_failures == 0 and rows[box_id].last_success_at is not None
    assert rows[first.id].last_uid == 2 and rows[second.id].last_uid == 1
    assert db.session.get(Mailbox, idle.id).last_attempt_at is None

    # Redelivered: every task again with the same arguments, then the first mailbox's task as
    # if its first delivery had stored the messages and died before recording how far it read.
    at = now.isoformat()
    with broker_app.app_context():
        for box_id in ids:
            tasks.fanout(FANOUT, box_id, at)
    db.session.execute(update(Mailbox).where(Mailbox.id == first.id).values(last_uid=0))
    db.session.commit()
    with broker_app.app_context():
        tasks.fanout(FANOUT, first.id, at)
    assert _counts(db) == (3, 3)
    db.session.commit()
    assert db.session.get(Mailbox, first.id).last_uid == 2
    assert polled() == 3  # one key per mailbox and run, however often it was delivered
