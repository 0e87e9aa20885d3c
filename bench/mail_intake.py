"""Mail intake: 1,000 messages through the pipeline, against the standard library's `email`
package parsing the same messages, and against fetching them over IMAP from a real Dovecot.

Baseline
    `email.message_from_bytes(raw, policy=policy.default)`, then the body the pipeline would
    read (`get_body(("plain", "html")).get_content()`): what any mail intake pays at least.

Measured
    - parse stage: `support.mail.parsing.parse` on the same bytes (headers decoded, sender,
      automatic-mail detection, charset repair, HTML to text, attachments), plus the quoted
      history cut that replies get. Target: <= 3x the baseline per message.
    - full pipeline: `pipeline.ingest` (raw file written and fsynced, row stored and committed,
      dedupe, rules, ticket or comment created with its history, SLA, search text,
      notifications and outbox rows, committed): printed against the baseline and against
      the IMAP fetch, not judged (it is dominated by the database's commits).
    - IMAP fetch: the same 1,000 messages APPENDed to a throwaway Dovecot on loopback and
      fetched one UID at a time (BODY.PEEK[]), as the poller does.

The messages: plain text, HTML only, multipart/alternative, Latin-1, a PDF attachment, and
replies (a third of them) naming an earlier ticket, from clerks and council domains.

    .venv/bin/python bench/mail_intake.py [--messages 1000]
    DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/mail_intake.py

Exit status 1 when the parse-stage target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "tests"))  # the Dovecot harness of the tests

import _scratch  # noqa: E402

TARGET = 3.0
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b"0" * 20000
BODY = ("Bon dia,\n\nDes d'ahir l'ordinador de secretaria no arrenca: surt una pantalla blava i es "
        "reinicia. Hem provat de desconnectar-lo i tornar-lo a connectar.\n\nGràcies,\nSecretaria\n")
HTML = ("<html><body><p>Bon dia,</p><p>La <b>impressora</b> de l'entrada no imprimeix.</p>"
        "<table><tr><td>Model</td><td>HP LaserJet</td></tr></table><p>Gràcies</p></body></html>")
QUOTE = "\n\nEl dj., 18 de juny 2026 a les 9:00, Oficina <suport@x.org> va escriure:\n" + "> text antic\n" * 30


def messages(n: int, references: list[str]) -> list[bytes]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        sender = f"clerk.{i % 3}@bench.example.org" if i % 2 else f"persona{i % 17}@mura.cat"
        msg["From"] = f"Persona {i} <{sender}>"
        msg["To"] = "suport@ccbages.example.cat"
        msg["Message-ID"] = f"<bench-{i}@mura.cat>"
        reply = references and i % 3 == 0
        msg["Subject"] = (f"Re: [{references[i % len(references)]}] Pantalla blava" if reply
                          else f"Pantalla blava a l'ordinador {i}")
        kind = i % 5
        if kind == 0:
            msg.set_content(BODY + (QUOTE if reply else ""))
        elif kind == 1:
            msg.set_content(HTML, subtype="html")
        elif kind == 2:
            msg.set_content(BODY)
            msg.add_alternative(HTML, subtype="html")
        elif kind == 3:
            msg.set_content(BODY + (QUOTE if reply else ""), charset="iso-8859-1", cte="quoted-printable")
        else:
            msg.set_content(BODY)
            msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="factura.pdf")
        out.append(msg.as_bytes())
    return out


def baseline(raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        msg = message_from_bytes(raw, policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
    return time.perf_counter() - start


def parse_stage(raws: list[bytes]) -> float:
    from support.mail import parsing

    start = time.perf_counter()
    for raw in raws:
        parsed = parsing.parse(raw, "no-reply@councildesk.invalid")
        if parsing.references_in_subject(parsed.subject):
            parsing.cut_quoted(parsed.text)
    return time.perf_counter() - start


def imap_fetch(raws: list[bytes]) -> float | None:
    from dovecot_harness import Dovecot, available

    if not available():
        return None
    root = Path(tempfile.mkdtemp(prefix="councildesk-bench-dovecot-"))
    os.chmod(root, 0o755)  # noqa: S103  (Dovecot's unprivileged processes read it)
    server = Dovecot(root / "dovecot", {"bench": "bench-pass"}).start()
    try:
        client = server.client("bench")
        for raw in raws:
            client.append("INBOX", None, None, raw)
        client.select("INBOX")
        start = time.perf_counter()
        for uid in range(1, len(raws) + 1):
            client.uid("FETCH", str(uid), "(RFC822.SIZE)")
            client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        elapsed = time.perf_counter() - start
        client.logout()
        return elapsed
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def full_pipeline(app, raws: list[bytes]) -> float:
    from support.mail import pipeline

    start = time.perf_counter()
    for raw in raws:
        pipeline.ingest(raw, source="imap")
    return time.perf_counter() - start


def seed_references(count: int) -> list[str]:
    from accounts import services as accounts
    from agreements import councils
    from support.tickets import services as tickets

    mura = councils.create_council({"name": "Mura", "population": 211, "mail_domains": ["mura.cat"]}, actor=None)
    for k in range(3):
        accounts.create_user(email=f"clerk.{k}@bench.example.org", name=f"Clerk {k}", role="clerk",
                             password="correct horse battery staple", council_id=mura.id, actor=None)
    return [tickets.create_ticket(mura, {"title": f"Inicial {k}"}, actor=None).reference for k in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with _scratch.scratch_database("mail") as url:
        data_dir = tempfile.mkdtemp(prefix="councildesk-bench-mail-")
        app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "MAIL_ENABLED": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "DATA_DIR": data_dir, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        try:
            with app.app_context():
                upgrade(revision="heads")
                refs = seed_references(20)
                raws = messages(args.messages, refs)
                megabytes = sum(len(r) for r in raws) / 1e6
                base = min(baseline(raws) for _ in range(3))
                stage = min(parse_stage(raws) for _ in range(3))
                fetch = imap_fetch(raws)
                full = full_pipeline(app, raws)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
    n = len(raws)
    per = lambda seconds: seconds / n * 1000  # noqa: E731
    print(f"{n} messages, {megabytes:.1f} MB")
    print(f"stdlib email parse (baseline): {per(base):.3f} ms/message")
    print(f"pipeline parse stage:          {per(stage):.3f} ms/message   ratio {stage / base:.2f}x (target <= {TARGET}x)")
    if fetch is not None:
        print(f"IMAP fetch from Dovecot:       {per(fetch):.3f} ms/message   ratio {fetch / base:.2f}x of the baseline")
    print(f"full pipeline (store+process): {per(full):.3f} ms/message   ratio {full / base:.1f}x of the baseline"
          + (f", {full / fetch:.1f}x of the IMAP fetch" if fetch else ""))
    return 0 if stage / base <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
