"""Ticket attachments: what may be uploaded, and where it is kept.

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
import hashlib
import io
import os
import re
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

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


def check(data: bytes, filename: str) -> Detected:
    """Decide whether `data` may be attached; raises Refused."""
    if not data:
        raise Refused("empty")
    if len(data) > current_app.config["TICKET_ATTACHMENT_MAX_BYTES"]:
        raise Refused("too_large")
    kind = sniff(data, filename)
    if kind is None:
        raise Refused("type")
    return Detected(kind, KINDS[kind][0], safe_filename(filename, kind))


# --- storage ----------------------------------------------------------------------------------

def _root() -> Path:
    root = Path(current_app.config["DATA_DIR"]) / "ticket-attachments"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)  # mkdir's mode is filtered by the umask; this is not
    return root


def store(data: bytes) -> tuple[str, str]:
    """Write the bytes under a new random name; returns (storage name, SHA-256).

    Two-level layout (`ab/abcdef...`) so that no directory grows to millions of entries.
    """
    name = secrets.token_hex(16)
    directory = _root() / name[:2]
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


def path_of(storage_name: str) -> Path:
    """Where a stored file is; the name is checked so it can never point elsewhere."""
    if not _NAME.fullmatch(storage_name or ""):
        raise FileNotFoundError(storage_name)
    return _root() / storage_name


def discard(storage_name: str) -> None:
    """Remove a stored file whose database row was not committed."""
    with contextlib.suppress(FileNotFoundError):
        path_of(storage_name).unlink(missing_ok=True)
