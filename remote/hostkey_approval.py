"""Host keys awaiting an administrator's decision: recorded when offered, approved or rejected.

A host that shows a key nobody pinned runs nothing (remote.hostkeys); the round records the key
it offered here (`record_offered_key`) and the admins are told. Approving pins it (retiring the
key it replaces, which must be confirmed: a changed key is a deliberate decision, never a
click-through); rejecting keeps the host's checks from running. `pinned_keys` gives the engine
the approved keys of a host.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from accounts import audit
from accounts.models import User
from core.db import MAX_ID, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from extensions import db
from inventory.models import Asset
from remote.hostkeys import HostKey as SshHostKey
from remote.models import Check, HostKey, SshSettings

_INVALID = _l("Some fields are not valid.")


def _label(asset: Asset) -> str:
    return f"{asset.tag} · {asset.name}"


def pinned_keys(asset_id: int) -> tuple[SshHostKey, ...]:
    """The host's approved keys, as the engine's pins (a row that no longer parses pins nothing)."""
    rows = db.session.execute(select(HostKey.key_type, HostKey.key_base64).where(
        HostKey.asset_id == asset_id, HostKey.status == "approved").order_by(HostKey.id)).all()
    keys = []
    for key_type, key_base64 in rows:
        try:
            keys.append(SshHostKey(key_type, key_base64))
        except ValueError:
            continue
    return tuple(keys)


def record_offered_key(settings: SshSettings, key: SshHostKey, *, changed: bool,
                       now: dt.datetime) -> tuple[HostKey, bool]:
    """The key a host offered that is not pinned: (row, True when it is news for the admins)."""
    row = db.session.scalar(select(HostKey).where(HostKey.asset_id == settings.asset_id,
                                                  HostKey.fingerprint == key.fingerprint))
    if row is None:
        row = HostKey(council_id=settings.council_id, asset_id=settings.asset_id, key_type=key.key_type,
                      key_base64=key.key_base64, fingerprint=key.fingerprint, status="pending",
                      replaces_pinned=changed, host=settings.host, port=settings.port, first_seen_at=now,
                      last_seen_at=now)
        db.session.add(row)
        db.session.flush()
        return row, True
    row.last_seen_at = now
    row.host, row.port = settings.host, settings.port
    if row.status == "replaced":
        # A key retired by an approval is back (a restored backup, a swapped disk): decide again.
        row.status = "pending"
        row.replaces_pinned = changed
        row.decided_at = row.decided_by_id = None
        return row, True
    return row, False


def get_host_key(key_id: int) -> HostKey:
    if not 1 <= key_id <= MAX_ID:
        raise NotFound()
    row = db.session.scalar(select(HostKey).where(HostKey.id == key_id))
    if row is None:
        raise NotFound()
    return row


def host_keys_query(status: str | None = "pending"):
    stmt = select(HostKey)
    if status in ("pending", "approved", "rejected", "replaced"):
        stmt = stmt.where(HostKey.status == status)
    return stmt


def approved_keys_of(asset_id: int) -> list[HostKey]:
    return list(db.session.scalars(select(HostKey).where(HostKey.asset_id == asset_id, HostKey.status == "approved")
                                   .order_by(HostKey.id)))


def approve_host_key(row: HostKey, *, actor: User, confirm_replace: bool = False) -> HostKey:
    """Pin the key. If the host had another pinned key, approving this one retires it, which
    needs `confirm_replace`: a changed key is a deliberate decision, never a click-through."""
    if row.status == "approved":
        return row
    if row.status not in ("pending", "rejected"):
        raise Conflict(_l("This key is no longer waiting for a decision."), code="host_key_decided")
    current = [k for k in approved_keys_of(row.asset_id) if k.id != row.id]
    if current and not confirm_replace:
        raise ValidationFailed(_INVALID, fields={"confirm": _l(
            "This host already has a pinned key. Confirm that you checked the new fingerprint on the machine itself.")})
    now = utcnow()
    for old in current:
        old.status = "replaced"
        old.decided_at, old.decided_by_id = now, actor.id
    row.status = "approved"
    row.decided_at, row.decided_by_id = now, actor.id
    # Run the host's checks at the next round rather than in up to an interval.
    db.session.execute(update(Check).where(Check.asset_id == row.asset_id, Check.source == "ssh",
                                           Check.enabled.is_(True)).values(next_due_at=now))
    audit.record("host_key_approve", object_type="asset", object_id=row.asset_id, actor=actor,
                 label=_label(row.asset), council_id=row.council_id,
                 changes={"host_key": [", ".join(k.fingerprint for k in current) or None, row.fingerprint]})
    db.session.commit()
    return row


def reject_host_key(row: HostKey, *, actor: User) -> HostKey:
    if row.status not in ("pending",):
        raise Conflict(_l("This key is no longer waiting for a decision."), code="host_key_decided")
    row.status = "rejected"
    row.decided_at, row.decided_by_id = utcnow(), actor.id
    audit.record("host_key_reject", object_type="asset", object_id=row.asset_id, actor=actor,
                 label=_label(row.asset), council_id=row.council_id, changes={"host_key": [row.fingerprint, None]})
    db.session.commit()
    return row
