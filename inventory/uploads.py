"""An uploaded import file kept between its preview and its confirmation.

The preview page cannot carry the file itself back (a 10 MB hidden field), so the file waits
in DATA_DIR under a random name, readable by the application only, and the page carries a
signed token naming it, the council and the user. The token expires with the file, and a
token for another council or user is worthless.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_AGE_SECONDS = 3600
_NAME = re.compile(r"[0-9a-f]{32}\.csv")


def _directory() -> Path:
    path = Path(current_app.config["DATA_DIR"]) / "inventory-imports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="councildesk-inventory-import")


def _sweep(directory: Path) -> None:
    cutoff = time.time() - MAX_AGE_SECONDS
    for path in directory.iterdir():
        try:
            if _NAME.fullmatch(path.name) and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:  # another worker swept it first
            pass


def stash(data: bytes, *, council_id: int, user_id: int) -> str:
    directory = _directory()
    _sweep(directory)
    name = secrets.token_hex(16) + ".csv"
    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return _serializer().dumps({"f": name, "c": council_id, "u": user_id})


def _path(token: str, council_id: int, user_id: int) -> Path | None:
    try:
        payload = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(payload, dict) or payload.get("c") != council_id or payload.get("u") != user_id:
        return None
    name = payload.get("f")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return None
    return _directory() / name


def load(token: str, *, council_id: int, user_id: int) -> bytes | None:
    path = _path(token, council_id, user_id)
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def discard(token: str, *, council_id: int, user_id: int) -> None:
    path = _path(token, council_id, user_id)
    if path is not None:
        path.unlink(missing_ok=True)
