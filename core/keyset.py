"""Keyset pagination, shared by the API (`next_cursor`) and the pages (`core.ui.ui_page`):
signed cursors and the page query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import tuple_

from core.api import MAX_CURSOR_LENGTH, ApiAbort, PageResult


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="councildesk-api-cursor")


def _encode_value(value):
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value):
    if isinstance(value, dict):
        if "t" in value:
            return dt.datetime.fromisoformat(value["t"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    # Signed so that a client cannot craft cursors that bypass the ordering contract.
    return _serializer().dumps([_encode_value(v) for v in values])


def decode_cursor(cursor: str, arity: int) -> list:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        values = _serializer().loads(cursor)
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (BadSignature, ValueError, TypeError, KeyError):
        raise ApiAbort(400, "invalid_cursor", _l("The cursor is not valid; start from the first page.")) from None


def keyset_page(session, stmt, order_by: Sequence, limit: int, cursor: str | None,
                descending: bool = False, key: Callable | None = None) -> PageResult:
    """One page of `stmt` ordered by the unique key `order_by` (the last column must be unique).

    Keyset rather than OFFSET: page N costs what page 1 costs, and rows inserted meanwhile
    neither repeat nor vanish across pages.
    """
    cols = list(order_by)
    if cursor:
        values = decode_cursor(cursor, len(cols))
        cmp = tuple_(*cols) < tuple_(*values) if descending else tuple_(*cols) > tuple_(*values)
        stmt = stmt.where(cmp)
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in cols]).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        values = key(last) if key else [getattr(last, c.key) for c in cols]
        next_cursor = encode_cursor(values)
    return PageResult(rows, next_cursor)

