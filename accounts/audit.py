"""Writing the audit log. Domain services call `record` inside their own transaction, so an
audited change and its audit row commit or roll back together."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable

from accounts.models import AuditEntry, User
from extensions import db

# Never copied into the log, whatever a caller passes.
_SECRET_FIELDS = {"password", "password_hash", "secret_hash", "token", "private_key", "secret_ciphertext", "code_hash",
                  "enrollment_key_hash", "key_ciphertext"}


def _plain(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def snapshot(obj, fields: Iterable[str]) -> dict:
    return {f: _plain(getattr(obj, f)) for f in fields if f not in _SECRET_FIELDS}


def diff(before: dict, after: dict) -> dict:
    """{field: [before, after]} for the fields whose value changed."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys)
            if before.get(k) != after.get(k) and k not in _SECRET_FIELDS}


def record(action: str, *, object_type: str, object_id, actor: User | None,
           label: str = "", council_id: int | None = None, changes: dict | None = None) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        object_label=(label or "")[:200],
        council_id=council_id,
        actor_id=actor.id if actor is not None else None,
        actor_label=actor.email if actor is not None else "system",
        changes={k: v for k, v in (changes or {}).items() if k not in _SECRET_FIELDS},
    )
    db.session.add(entry)
    return entry
