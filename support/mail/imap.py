"""Reading IMAP mailboxes: `poll_mailbox(mailbox_id)` reads one mailbox once (a plain function,
so a task queue can run one per mailbox), `poll_all(now)` is the scheduler's job.

Order inside a poll, so that a dropped connection loses and doubles nothing: each message is
fetched, stored (its own transaction, keyed by mailbox, UIDVALIDITY and UID), and only then is
`last_uid` advanced; processing comes after storing and is retried for whatever was stored but
not processed. A changed UIDVALIDITY starts the mailbox again from UID 1: the copies are
recognised by Message-ID and hash and end as duplicates, never as tickets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import imaplib
import json
import logging
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

from flask import current_app
from sqlalchemy import select

from core.crypto import KeyRing
from core.db import utcnow, write_transaction
from core.inputs import ascii_int
from core.scope import unrestricted
from extensions import db
from support.mail import pipeline
from support.mail.models import InboundMail, Mailbox

log = logging.getLogger("councildesk.mail.imap")

ring = KeyRing(setting="MAIL_SECRET_KEYS", info=b"councildesk mail secret encryption v1",
               cache="councildesk_mail_crypto", what="mailbox passwords and OAuth tokens",
               new_key_command="flask mail new-encryption-key", logger=log)

MAX_BACKOFF_MINUTES = 60
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")


class MailboxError(Exception):
    """The mailbox could not be read this time (connection, login, folder)."""


# --- OAuth2 (XOAUTH2 for Microsoft 365 and Gmail) ------------------------------------------------

def _refresh_access_token(box: Mailbox, now: dt.datetime) -> str:
    """A valid access token, refreshed at the token endpoint when needed. A rotated refresh
    token is saved at once, in its own transaction: losing it is how mailboxes die after 90
    days (zammad#3411)."""
    if box.access_token_encrypted and box.access_token_expires_at and box.access_token_expires_at > now + dt.timedelta(
            seconds=60):
        return ring.decrypt(box.access_token_encrypted)
    if not box.refresh_token_encrypted or not box.oauth_token_url:
        raise MailboxError("XOAUTH2 without a refresh token or token endpoint")
    form = {"grant_type": "refresh_token", "refresh_token": ring.decrypt(box.refresh_token_encrypted),
            "client_id": box.oauth_client_id}
    if box.oauth_client_secret_encrypted:
        form["client_secret"] = ring.decrypt(box.oauth_client_secret_encrypted)
    if box.oauth_scope:
        form["scope"] = box.oauth_scope
    if not box.oauth_token_url.startswith(("https://", "http://")):
        raise MailboxError("the token endpoint must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        box.oauth_token_url, data=urllib.parse.urlencode(form).encode("ascii"),
        headers={"Accept": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=current_app.config["MAIL_POLL_TIMEOUT"]) as resp:  # noqa: S310
            payload = json.loads(resp.read(64 * 1024))
    except urllib.error.HTTPError as exc:
        # The provider says why (invalid_grant: the refresh token was revoked or expired).
        detail = ""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            detail = str(json.loads(exc.read(16 * 1024)).get("error", ""))[:200]
        raise MailboxError(f"token endpoint: HTTP {exc.code} {detail}".strip()) from exc
    except (OSError, ValueError) as exc:
        raise MailboxError(f"token endpoint: {exc}") from exc
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise MailboxError(f"token endpoint gave no access token: {str(payload.get('error'))[:200]}")
    expires_in = payload.get("expires_in")
    lifetime = (ascii_int(str(expires_in)) if isinstance(expires_in, int | str) else None) or 3600
    with write_transaction():
        box = db.session.get(Mailbox, box.id)
        box.access_token_encrypted = ring.encrypt(token)
        box.access_token_expires_at = now + dt.timedelta(seconds=lifetime)
        rotated = payload.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            box.refresh_token_encrypted = ring.encrypt(rotated)
            refresh_expires = payload.get("refresh_token_expires_in")
            if isinstance(refresh_expires, int):
                box.refresh_token_expires_at = now + dt.timedelta(seconds=refresh_expires)
            box.token_alerted_at = None
    return token


# --- one mailbox -------------------------------------------------------------------------------------

def _connect(box: Mailbox) -> imaplib.IMAP4:
    timeout = current_app.config["MAIL_POLL_TIMEOUT"]
    if box.security == "ssl":
        return imaplib.IMAP4_SSL(box.host, box.port, ssl_context=ssl.create_default_context(), timeout=timeout)
    client = imaplib.IMAP4(box.host, box.port, timeout=timeout)
    if box.security == "starttls":
        client.starttls(ssl_context=ssl.create_default_context())
    return client


def _login(client: imaplib.IMAP4, box: Mailbox, now: dt.datetime) -> None:
    if box.auth == "xoauth2":
        token = _refresh_access_token(box, now)
        sasl = f"user={box.username}\x01auth=Bearer {token}\x01\x01".encode()
        client.authenticate("XOAUTH2", lambda _challenge: sasl)
    else:
        client.login(box.username, ring.decrypt(box.password_encrypted or "") if box.password_encrypted else "")


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(typ: str, data, what: str):
    if typ != "OK":
        raise MailboxError(f"{what}: {typ} {data!r}"[:500])
    return data


def _fetch(client: imaplib.IMAP4, uid: int, cap: int) -> tuple[bytes | None, int]:
    """The message's bytes and its size; only the headers of one above the cap."""
    data = _check(*client.uid("FETCH", str(uid), "(RFC822.SIZE)"), "FETCH SIZE")
    size_match = next((_SIZE.search(x if isinstance(x, bytes) else x[0]) for x in data if x), None)
    size = int(size_match.group(1)) if size_match else 0
    part = "BODY.PEEK[HEADER]" if size > cap else "BODY.PEEK[]"
    data = _check(*client.uid("FETCH", str(uid), f"({part})"), "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return item[1], size
    return None, size


def _process_pending(box_id: int) -> None:
    ids = db.session.scalars(select(InboundMail.id).where(InboundMail.mailbox_id == box_id,
                                                          InboundMail.status == "pending").order_by(InboundMail.id))
    for mail_id in list(ids):
        pipeline.process(mail_id)


def poll_mailbox(mailbox_id: int, now: dt.datetime | None = None, *, force: bool = False) -> int:
    """Read one mailbox once: up to MAIL_POLL_BATCH new messages. Returns how many were stored.

    Raises nothing for the mailbox's own troubles: they are counted on the mailbox
    (consecutive failures, last error, backoff) and the caller goes on with the others.
    """
    now = now or utcnow()
    with unrestricted():
        box = db.session.get(Mailbox, mailbox_id)
        if box is None or not box.active:
            return 0
        if not force and box.next_attempt_at is not None and box.next_attempt_at > now:
            return 0
        with write_transaction():
            db.session.get(Mailbox, mailbox_id).last_attempt_at = now
        stored = 0
        client = None
        try:
            _process_pending(mailbox_id)
            box = db.session.get(Mailbox, mailbox_id)
            client = _connect(box)
            _login(client, box, now)
            _check(*client.select(_quote(box.folder)), f"SELECT {box.folder}")
            validity_data = client.response("UIDVALIDITY")[1]
            uidvalidity = int(validity_data[0]) if validity_data and validity_data[0] else 0
            last_uid = box.last_uid if box.uidvalidity == uidvalidity else 0
            if box.uidvalidity != uidvalidity:
                with write_transaction():
                    row = db.session.get(Mailbox, mailbox_id)
                    if row.uidvalidity is not None:
                        log.warning("mailbox %s: UIDVALIDITY changed from %s to %s, reading it again",
                                    mailbox_id, row.uidvalidity, uidvalidity)
                    row.uidvalidity, row.last_uid = uidvalidity, 0
            found = _check(*client.uid("SEARCH", "UID", f"{last_uid + 1}:*"), "SEARCH")
            uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) > last_uid)
            batch = uids[: int(current_app.config["MAIL_POLL_BATCH"])]
            cap = int(current_app.config["MAIL_INTAKE_MAX_BYTES"])
            done = []
            for uid in batch:
                data, size = _fetch(client, uid, cap)
                if data is None:
                    continue
                row, _new = pipeline.store(data, source="imap", mailbox_id=mailbox_id, uid=uid,
                                           uidvalidity=uidvalidity, now=now, declared_size=size)
                with write_transaction():
                    db.session.get(Mailbox, mailbox_id).last_uid = uid
                stored += 1
                done.append(uid)
                pipeline.process(row.id, now=now)
            if done and box.processed_folder:
                _move(client, done, box.processed_folder)
        except (TimeoutError, OSError, imaplib.IMAP4.error, MailboxError, ValueError) as exc:
            db.session.rollback()
            _failed(mailbox_id, exc, now)
            return stored
        finally:
            if client is not None:
                with contextlib.suppress(OSError, imaplib.IMAP4.error):
                    client.logout()
        with write_transaction():
            row = db.session.get(Mailbox, mailbox_id)
            row.last_success_at, row.consecutive_failures, row.last_error = now, 0, None
            row.next_attempt_at, row.alerted_at = None, None
        return stored


def _move(client: imaplib.IMAP4, uids: list[int], folder: str) -> None:
    """Move what was stored to the processed folder (MOVE where the server has it)."""
    uid_set = ",".join(str(u) for u in uids)
    if "MOVE" in client.capabilities:
        _check(*client.uid("MOVE", uid_set, _quote(folder)), "MOVE")
        return
    _check(*client.uid("COPY", uid_set, _quote(folder)), "COPY")
    _check(*client.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
    client.expunge()


def _failed(mailbox_id: int, exc: Exception, now: dt.datetime) -> None:
    with write_transaction():
        box = db.session.get(Mailbox, mailbox_id)
        box.consecutive_failures += 1
        box.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        # Every minute at first, then 2, 4... up to an hour: a broken mailbox is not hammered,
        # and a fixed one is read again soon.
        delay = min(MAX_BACKOFF_MINUTES, 2 ** (box.consecutive_failures - 1))
        box.next_attempt_at = now + dt.timedelta(minutes=delay) - dt.timedelta(seconds=5)
    log.warning("mailbox %s could not be read (%s in a row): %s", mailbox_id, box.consecutive_failures,
                box.last_error)


# --- every mailbox, and the alerts ----------------------------------------------------------------

KIND_STALE = "support.mail_stale"
KIND_TOKEN = "support.mail_token"  # noqa: S105  (a notification kind)


def poll_all(now: dt.datetime | None = None) -> dict:
    """The `support.mail_poll` job: each mailbox on its own (one failing never stops another),
    then the alerts."""
    now = now or utcnow()
    with unrestricted():
        ids = list(db.session.scalars(select(Mailbox.id).where(Mailbox.active.is_(True)).order_by(Mailbox.id)))
    fanout = current_app.extensions.get("councildesk_fanout")
    if fanout is not None and ids:
        # With a broker (scale), each mailbox is a task of its own, on any worker.
        fanout("mail.poll_mailbox", ids, now)
        alert(now)
        return {"mailboxes": len(ids), "queued": len(ids)}
    counts = {}
    for mailbox_id in ids:
        try:
            counts[mailbox_id] = poll_mailbox(mailbox_id, now)
        except Exception:  # a bug for one mailbox must not stop the others
            log.exception("polling mailbox %s failed", mailbox_id)
            db.session.rollback()
            counts[mailbox_id] = 0
    alert(now)
    return {"mailboxes": len(ids), "messages": sum(counts.values())}


def alert(now: dt.datetime) -> int:
    """Tell admins, once per episode, of a mailbox not read for MAIL_STALE_MINUTES and of an
    OAuth refresh token that expires within MAIL_TOKEN_WARN_DAYS."""
    from accounts.models import User
    from core import notify

    stale_before = now - dt.timedelta(minutes=int(current_app.config["MAIL_STALE_MINUTES"]))
    warn_until = now + dt.timedelta(days=int(current_app.config["MAIL_TOKEN_WARN_DAYS"]))
    sent = 0
    with unrestricted(), write_transaction():
        admins = list(db.session.scalars(select(User).where(User.role == "admin", User.active.is_(True))))
        for box in db.session.scalars(select(Mailbox).where(Mailbox.active.is_(True))):
            last = box.last_success_at or box.created_at
            if box.alerted_at is None and last <= stale_before:
                box.alerted_at = now
                notify.notify_users(admins, KIND_STALE, {"mailbox": box.name, "error": box.last_error or "",
                                                         "since": last.isoformat()},
                                    link=notify.link_for("support.mailboxes"))
                sent += 1
            if (box.auth == "xoauth2" and box.refresh_token_expires_at is not None
                    and box.refresh_token_expires_at <= warn_until and box.token_alerted_at is None):
                box.token_alerted_at = now
                notify.notify_users(admins, KIND_TOKEN, {"mailbox": box.name,
                                                         "expires": box.refresh_token_expires_at.isoformat()},
                                    link=notify.link_for("support.mailboxes"))
                sent += 1
    return sent
