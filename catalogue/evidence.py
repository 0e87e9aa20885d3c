"""A council's evidence for a service as a file (a signed act, a screenshot of the live
service, the deployment report): what may be uploaded, where it is kept, and swapping it.

The checks are the ticket attachments' (support.tickets.attachments): the type is decided
from the bytes, never from the name or the browser's word, and the name shown is the
uploader's, cleaned. Only documents and images are evidence: a text, CSV or mail file is
refused here even though a ticket takes it. Files live under DATA_DIR/catalogue-evidence
under random names (0700 directories, 0600 files) and are only ever served as downloads,
through the council scope.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from catalogue.models import CouncilService
from core.errors import NotFound, ValidationFailed
from core.text import text_problem
from extensions import db
from support.tickets import attachments

FOLDER = "catalogue-evidence"
KINDS = ("pdf", "png", "jpeg", "gif", "webp", "docx", "xlsx", "odt", "ods")
# What the file input offers (a hint for the picker; the server decides from the content).
ACCEPT = ",".join(ext for kind in KINDS for ext in attachments.KINDS[kind][1])
FIELD = "evidence_file"


def max_bytes() -> int:
    return current_app.config["CATALOGUE_EVIDENCE_MAX_BYTES"]


def refusal(reason: str):
    if reason == "empty":
        return _l("The file is empty.")
    if reason == "too_large":
        return _l("Evidence files can be up to %(mb)d MB.", mb=max_bytes() // (1024 * 1024))
    return _l("This kind of file cannot be evidence. Send a PDF, an image (PNG, JPEG, GIF, WebP), "
              "or a Word, Excel or LibreOffice document.")


def check(filename: str, data: bytes) -> attachments.Detected:
    """Whether `data` may be kept as evidence; raises ValidationFailed on the file's field."""
    problem = text_problem(filename or "")
    if problem is not None:
        # "act\u202efdp.exe" would read as "actexe.pdf" wherever the name is shown.
        raise ValidationFailed(problem, fields={FIELD: problem})
    try:
        detected = attachments.check(data, filename, max_bytes=max_bytes())
    except attachments.Refused as exc:
        message = refusal(exc.reason)
        raise ValidationFailed(message, fields={FIELD: message}) from None
    if detected.kind not in KINDS:
        message = refusal("type")
        raise ValidationFailed(message, fields={FIELD: message})
    return detected


def attach(sub: CouncilService, detected: attachments.Detected, data: bytes, *, now: dt.datetime) -> str:
    """Write the file and point the record at it (not committed); returns its storage name.
    The previous file, if any, stays on disk until the commit took (`finish`)."""
    name, digest = attachments.store(data, FOLDER)
    sub.evidence_file = name
    sub.evidence_filename = detected.filename
    sub.evidence_content_type = detected.content_type
    sub.evidence_size = len(data)
    sub.evidence_sha256 = digest
    sub.evidence_uploaded_at = now
    return name


def clear(sub: CouncilService) -> None:
    sub.evidence_file = None
    sub.evidence_filename = ""
    sub.evidence_content_type = sub.evidence_size = sub.evidence_sha256 = sub.evidence_uploaded_at = None


def commit(stored: str | None, previous: str | None) -> None:
    """Commit the record; a file written for a commit that failed goes, and the file it
    replaced goes once the commit took (never before: a failed save keeps the old evidence)."""
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if stored:
            attachments.discard(stored, FOLDER)
        raise
    if previous and previous != stored:
        attachments.discard(previous, FOLDER)


def path_of(sub: CouncilService) -> Path:
    """The record's file on disk; NotFound when it has none (or it went missing)."""
    if not sub.evidence_file:
        raise NotFound()
    try:
        path = attachments.path_of(sub.evidence_file, FOLDER)
    except FileNotFoundError:
        raise NotFound() from None
    if not path.is_file():
        raise NotFound()
    return path
