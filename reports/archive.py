"""The archive: generated reports kept exactly as they were generated and sent.

A file is written once under DATA_DIR/reports (outside the web root), read-only, named by a
random token, and its SHA-256 is stored with it; every download checks the digest, so a file
changed on disk is refused rather than served as the report the office sent. Rows are never
updated; generation is idempotent through the unique `key`: a report that exists is returned,
not regenerated, whoever asks and however often.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from accounts import audit
from accounts.models import User
from agreements.models import Agreement, Council
from agreements.months import format_month, month_end, month_start
from core.db import utcnow, write_transaction
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from reports.models import ARCHIVE_FORMATS, ReportArchive

log = logging.getLogger("councildesk.reports.archive")


def storage_dir() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "reports"


def archive_key(kind: str, council_id: int | None, period: dt.date, language: str, fmt: str) -> str:
    owner = "office" if council_id is None else f"council-{council_id}"
    return f"{kind}:{owner}:{format_month(period)}:{language}:{fmt}"


def filename_for(council: Council | None, period: dt.date, language: str, fmt: str) -> str:
    who = council.slug if council is not None else "office"
    return f"councildesk-report-{who}-{format_month(period)}-{language}.{fmt}"


def find(key: str) -> ReportArchive | None:
    return db.session.scalar(select(ReportArchive).where(ReportArchive.key == key))


def get_archive(archive_id: int) -> ReportArchive:
    """Through the scoped query layer: a clerk finds only their council's reports."""
    archive = db.session.scalar(select(ReportArchive).where(ReportArchive.id == archive_id))
    if archive is None:
        raise NotFound()
    return archive


def archive_query(*, council_id: int | None = None, period: dt.date | None = None):
    stmt = select(ReportArchive)
    if council_id is not None:
        stmt = stmt.where(ReportArchive.council_id == council_id)
    if period is not None:
        stmt = stmt.where(ReportArchive.period_start == period)
    return stmt


def digest_header(archive: ReportArchive) -> str:
    """RFC 9530's Repr-Digest of the file, so a client can check what it downloaded."""
    import base64

    return f"sha-256=:{base64.b64encode(bytes.fromhex(archive.sha256)).decode()}:"


def _write_once(data: bytes, period: dt.date) -> tuple[str, Path]:
    folder = storage_dir() / f"{period.year:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    name = secrets.token_hex(16)
    path = folder / name
    # O_EXCL: never over an existing file. Read-only once written: archived means unchanged.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o400)
    return f"{period.year:04d}/{name}", path


def _insert_ignoring(values: dict) -> int | None:
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    row = db.session.execute(insert(ReportArchive).values(**values)
                             .on_conflict_do_nothing(index_elements=["key"]).returning(ReportArchive.id)).first()
    return row[0] if row else None


def store(kind: str, council: Council | None, period: dt.date, language: str, fmt: str, data: bytes, *,
          actor: User | None) -> ReportArchive:
    """Archive `data` as the report `kind` of `council` (None: the office) for the month
    `period`, unless that report is archived already (then the existing one is returned and
    `data` is discarded). Commits."""
    if fmt not in ARCHIVE_FORMATS:
        raise ValidationFailed(_l("Some fields are not valid."), fields={"format": _l("Unknown format.")})
    period = month_start(period)
    key = archive_key(kind, council.id if council else None, period, language, fmt)
    existing = find(key)
    if existing is not None:
        return existing
    storage_name, path = _write_once(data, period)
    try:
        with write_transaction():
            archive_id = _insert_ignoring({
                "council_id": council.id if council else None, "key": key, "kind": kind,
                "period_start": period, "period_end": month_end(period), "language": language, "format": fmt,
                "filename": filename_for(council, period, language, fmt), "storage_name": storage_name,
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "generated_at": utcnow(),
                "generated_by_id": actor.id if actor is not None else None})
            if archive_id is not None:
                audit.record("archive", object_type="report", object_id=archive_id, actor=actor, label=key,
                             council_id=council.id if council else None)
    except BaseException:
        _discard(path)
        raise
    if archive_id is None:  # another process archived the same report first: theirs stands
        _discard(path)
    archive = find(key)
    assert archive is not None
    return archive


def _discard(path: Path) -> None:
    try:
        os.chmod(path, 0o600)
        path.unlink()
    except OSError:
        log.warning("could not remove unused report file %s", path)


def read(archive: ReportArchive) -> bytes:
    """The archived file, checked against its digest."""
    path = storage_dir() / archive.storage_name
    try:
        data = path.read_bytes()
    except OSError:
        log.error("archived report %s (%s) is missing from %s", archive.id, archive.key, path)
        raise Conflict(_l("The archived file is missing. Tell the office's administrator."),
                       code="archive_missing") from None
    if len(data) != archive.size or hashlib.sha256(data).hexdigest() != archive.sha256:
        log.error("archived report %s (%s) does not match its checksum", archive.id, archive.key)
        raise Conflict(_l("The archived file does not match its checksum and is not served. "
                          "Tell the office's administrator."), code="archive_damaged")
    return data


# --- generating --------------------------------------------------------------------------------

def council_month(council: Council, period: dt.date, *, language: str | None = None,
                  actor: User | None = None) -> ReportArchive:
    """A council's monthly PDF, archived (generated only if it is not archived yet)."""
    from reports import pdf

    period = month_start(period)
    language = language or council.language or current_app.config["BABEL_DEFAULT_LOCALE"]
    existing = find(archive_key("council_month", council.id, period, language, "pdf"))
    if existing is not None:
        return existing
    data = pdf.council_month_pdf(council, period, language)
    return store("council_month", council, period, language, "pdf", data, actor=actor)


def office_month(period: dt.date, *, language: str, fmt: str = "pdf", actor: User | None = None) -> ReportArchive:
    """The office's monthly report (PDF or XLSX), archived (generated only if needed)."""
    from flask_babel import force_locale

    from reports import exports, pdf

    period = month_start(period)
    existing = find(archive_key("office_month", None, period, language, fmt))
    if existing is not None:
        return existing
    if fmt == "pdf":
        data = pdf.office_month_pdf(period, language)
    else:
        with force_locale(language):
            data = exports.office_month_workbook(period)
    return store("office_month", None, period, language, fmt, data, actor=actor)


def councils_covered(period: dt.date) -> list[Council]:
    """Active councils an agreement covers in the month (those that get a monthly report)."""
    period = month_start(period)
    return list(db.session.scalars(
        select(Council).join(Agreement, Agreement.council_id == Council.id)
        .where(Agreement.starts_on <= period, Agreement.ends_on >= period, Council.active.is_(True))
        .order_by(Council.name, Council.id)))


def generate_month(period: dt.date, *, actor: User | None, languages: list[str] | None = None) -> list[ReportArchive]:
    """Every report of a month: each council's PDF, and the office's PDF and XLSX in each of
    `languages` (default: the office's language). Idempotent."""
    period = month_start(period)
    languages = languages or [current_app.config["BABEL_DEFAULT_LOCALE"]]
    out = [council_month(c, period, actor=actor) for c in councils_covered(period)]
    for language in dict.fromkeys(languages):
        out.append(office_month(period, language=language, fmt="pdf", actor=actor))
        out.append(office_month(period, language=language, fmt="xlsx", actor=actor))
    return out
