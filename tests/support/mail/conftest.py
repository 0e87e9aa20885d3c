"""Fixtures of the mail intake tests: councils with mail domains, and messages built as mail
clients write them (bytes, as they arrive)."""

from __future__ import annotations

import itertools
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

_counter = itertools.count(1)


@pytest.fixture
def domains(db, world):
    from agreements import councils

    councils.update_council(world.council_a, {"mail_domains": ["mura.cat"]}, actor=None)
    councils.update_council(world.council_b, {"mail_domains": ["talamanca.cat"]}, actor=None)
    return world


def build(sender="secretaria@mura.cat", subject="La impressora no imprimeix", body="Surt el llum taronja.",
          *, message_id: str | None = "auto", headers: dict | None = None, html: str | None = None,
          files=(), to="suport@ccbages.example.org") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(__import__("datetime").datetime(2026, 6, 17, 10, 0, tzinfo=__import__(
        "datetime").timezone.utc))
    if message_id == "auto":
        message_id = make_msgid(idstring=f"t{next(_counter)}", domain="mura.cat")
    if message_id:
        msg["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        msg[key] = value
    if html is not None and body is None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for name, ctype, data in files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


@pytest.fixture
def mail():
    return build


@pytest.fixture
def ingest(app):
    from support.mail import pipeline

    def run(data: bytes, source="pipe", **kw):
        return pipeline.ingest(data, source=source, **kw)

    return run
