"""Ticket attachments: what may be uploaded, where it is kept, and attaching it to a ticket.

What a file *is* is decided from its bytes, never from its name or the browser's
Content-Type (both are whatever the uploader says): magic numbers for PDF, PNG, JPEG, GIF
and WebP; the members of the zip container for DOCX, XLSX, ODT and ODS (any other zip is
refused, so a zip of executables cannot pass as a document); message headers for EML; and
for plain text and CSV, that the bytes are UTF-8 text without control characters and
without markup (an HTML or SVG file is not "plain text": served back, it is the classic
stored XSS). Everything else is refused.

Files live under DATA_DIR/ticket-attachments (outside the web root), under random names,
in directories only the application can enter (0700) and files only it can read (0600),
whatever the process umask (django-helpdesk's world-readable uploads are in lessons.md).
They are served only through the ticket's scoped query, as downloads (Content-Disposition:
attachment) with the type decided here and nosniff.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from accounts.models import User
from core.db import utcnow
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.text import text_problem
from extensions import db
from support.tickets.models import TicketAttachment, TicketComment

# The kinds accepted, with the type they are served as and the file name extensions that
# suit them (the first one is given to a file whose name says something else).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "gif": ("image/gif", (".gif",)),
    "webp": ("image/webp", (".webp",)),
    "text": ("text/plain; charset=utf-8", (".txt", ".log", ".text")),
    "csv": ("text/csv; charset=utf-8", (".csv",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",)),
    "odt": ("application/vnd.oasis.opendocument.text", (".odt",)),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", (".ods",)),
    "eml": ("message/rfc822", (".eml",)),
}
# What the file input offers (a hint for the picker only; the server decides from content).
ACCEPT = ",".join(ext for _type, exts in KINDS.values() for ext in exts)

_NAME = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|a\s|img\s|style)",
                     re.IGNORECASE)
_HEADER = re.compile(rb"^[A-Za-z0-9-]{1,76}:[ \t]?.*$")
_MAIL_HEADERS = {b"from", b"to", b"subject", b"date", b"message-id", b"received", b"return-path",
                 b"mime-version", b"delivered-to", b"reply-to", b"cc"}
_MAX_ZIP_MEMBERS = 5000


class Refused(ValueError):
    """The file is not one we accept; `reason` is "empty", "too_large" or "type"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Detected:
    kind: str
    content_type: str
    filename: str


def _zip_kind(data: bytes) -> str | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return None
    if len(infos) > _MAX_ZIP_MEMBERS:
        return None
    names = {info.filename for info in infos}
    # OpenDocument: an uncompressed first member "mimetype" naming the document type. Only
    # that tiny member is read; nothing else is ever decompressed (no zip bombs).
    if infos and infos[0].filename == "mimetype" and infos[0].file_size <= 100 and "META-INF/manifest.xml" in names:
        try:
            mimetype = archive.read(infos[0]).strip()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
            return None
        return {b"application/vnd.oasis.opendocument.text": "odt",
                b"application/vnd.oasis.opendocument.spreadsheet": "ods"}.get(mimetype)
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
    return None


def _text(data: bytes) -> str | None:
    """The bytes as text, if they are UTF-8 (a BOM allowed) with no control characters."""
    if b"\x00" in data:
        return None
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in decoded) or "\x7f" in decoded:
        return None
    return decoded


def _looks_like_mail(data: bytes) -> bool:
    """RFC 5322: header lines (with folded continuations) up to the first empty line, and at
    least two of the headers every mail carries."""
    head = data[:64 * 1024].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    seen = set()
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header line
        if not _HEADER.match(line):
            return False
        seen.add(line.split(b":", 1)[0].lower())
    return len(seen & _MAIL_HEADERS) >= 2 and (b"from" in seen or b"received" in seen)


def sniff(data: bytes, filename: str = "") -> str | None:
    """The kind of `data` (a key of KINDS), or None if it is not an accepted file.

    The name matters only between two kinds that are equally safe and that the bytes cannot
    tell apart: a CSV file and a plain text file.
    """
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    # A mail first: its body may hold HTML parts or 8-bit text, and as message/rfc822 it is
    # only ever downloaded, never rendered.
    if b"\x00" not in data and _looks_like_mail(data):
        return "eml"
    if _text(data) is None or _MARKUP.search(data[:64 * 1024]):
        return None
    if filename.lower().endswith(".csv"):
        return "csv"
    return "text"


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_filename(name: str, kind: str) -> str:
    """The name shown and offered on download: the uploader's, without path parts or
    characters that mean something to a file system or a header, and with an extension
    that matches what the file is (a "photo.exe" that is a PNG downloads as photo.exe.png)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .")[:150] or "file"
    extensions = KINDS[kind][1]
    if not base.lower().endswith(extensions):
        base += extensions[0]
    return base


def check(data: bytes, filename: str, *, max_bytes: int | None = None) -> Detected:
    """Decide whether `data` may be attached; raises Refused. `max_bytes`: another cap than
    the tickets' (the catalogue's evidence files share these checks)."""
    if not data:
        raise Refused("empty")
    if len(data) > (max_bytes if max_bytes is not None else current_app.config["TICKET_ATTACHMENT_MAX_BYTES"]):
        raise Refused("too_large")
    kind = sniff(data, filename)
    if kind is None:
        raise Refused("type")
    return Detected(kind, KINDS[kind][0], safe_filename(filename, kind))


# --- storage ----------------------------------------------------------------------------------

# The folder under DATA_DIR; other kinds of upload (the catalogue's evidence) pass their own.
FOLDER = "ticket-attachments"


def _root(folder: str = FOLDER) -> Path:
    root = Path(current_app.config["DATA_DIR"]) / folder
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)  # mkdir's mode is filtered by the umask; this is not
    return root


def store(data: bytes, folder: str = FOLDER) -> tuple[str, str]:
    """Write the bytes under a new random name; returns (storage name, SHA-256).

    Two-level layout (`ab/abcdef...`) so that no directory grows to millions of entries.
    """
    name = secrets.token_hex(16)
    directory = _root(folder) / name[:2]
    directory.mkdir(exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)
    return f"{name[:2]}/{name}", hashlib.sha256(data).hexdigest()


def path_of(storage_name: str, folder: str = FOLDER) -> Path:
    """Where a stored file is; the name is checked so it can never point elsewhere."""
    if not _NAME.fullmatch(storage_name or ""):
        raise FileNotFoundError(storage_name)
    return _root(folder) / storage_name


def discard(storage_name: str, folder: str = FOLDER) -> None:
    """Remove a stored file whose database row was not committed."""
    with contextlib.suppress(FileNotFoundError):
        path_of(storage_name, folder).unlink(missing_ok=True)


# --- attaching ---------------------------------------------------------------------------------

def attachment_message(reason: str):
    if reason == "empty":
        return _l("The file is empty.")
    if reason == "too_large":
        return _l("Files can be up to 10 MB.")
    return _l("This kind of file cannot be attached. Send a PDF, an image (PNG, JPEG, GIF, WebP), "
              "a text or CSV file, a Word, Excel or LibreOffice document, or a mail (.eml).")


def store_files(ticket, checked, actor: User | None, *, comment, now: dt.datetime) -> list[str]:
    stored: list[str] = []
    try:
        for detected, data in checked:
            name, digest = store(data)
            stored.append(name)
            db.session.add(TicketAttachment(
                ticket_id=ticket.id, council_id=ticket.council_id, comment_id=comment.id if comment else None,
                internal=bool(comment is not None and comment.internal), filename=detected.filename,
                content_type=detected.content_type, size=len(data), sha256=digest, storage_name=name,
                uploaded_by_id=actor.id if actor is not None else None, created_at=now))
        db.session.flush()
    except BaseException:
        for name in stored:
            discard(name)
        raise
    return stored


def commit_or_discard(stored: list[str]) -> None:
    """Commit; if that fails, the files written for it go too (no orphans on disk)."""
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for name in stored:
            discard(name)
        raise


def add_attachment(ticket, filename: str, data: bytes, *, actor: User | None, internal: bool = False,
                   comment=None, now: dt.datetime | None = None):
    """Attach a file to a ticket (or to one of its comments, taking its visibility)."""
    now = now or utcnow()
    if internal and (actor is None or actor.role == "clerk"):
        raise PermissionDenied(_l("Internal notes are for the office."))
    if actor is not None and actor.role == "clerk" and ticket.status == "closed":
        raise Conflict(_l("This request is closed. If the problem is back, open a new request about it."),
                       code="ticket_closed")
    problem = text_problem(filename or "")
    if problem is not None:
        # "invoice\u202efdp.exe.txt" would read as "invoicetxt.exe.pdf" on every page.
        raise ValidationFailed(problem, fields={"file": problem})
    try:
        detected = check(data, filename)
    except Refused as exc:
        message = attachment_message(exc.reason)
        raise ValidationFailed(message, fields={"file": message}) from None
    if comment is None and internal:
        # A file for the office only rides on an internal note, which is what hides it.
        comment = TicketComment(ticket_id=ticket.id, council_id=ticket.council_id, author_id=actor.id,
                                body=detected.filename, internal=True, created_at=now)
        db.session.add(comment)
        db.session.flush()
    stored = store_files(ticket, [(detected, data)], actor, comment=comment, now=now)
    ticket.updated_at = now
    attachment = db.session.scalar(select(TicketAttachment).where(TicketAttachment.storage_name == stored[0]))
    commit_or_discard(stored)
    return attachment
