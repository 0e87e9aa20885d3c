"""Claims: a row inserted once, INSERT ... ON CONFLICT DO NOTHING, so that the database decides
who does something (announces an SLA breach, handles a monitoring event, creates a council's
ticket counter) however many requests, jobs or processes try at the same moment.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from extensions import db


def insert_ignoring(model, values: dict, keys: list[str], returning=None):
    """INSERT ... ON CONFLICT (keys) DO NOTHING; with `returning`, that column of the new row,
    or None when the row existed. The database decides atomically who inserted."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    if returning is None:
        db.session.execute(stmt)
        return None
    return db.session.execute(stmt.returning(returning)).scalar()
