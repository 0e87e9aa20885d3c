"""Independent figures, computed with raw SQL only (no ORM, no support.hours.usage arithmetic): what
the reports are checked against. Written from the contract's definitions:

allowance = base + carried; carried(m) = max(0, base − used(m−1)) (at most the base) when the
agreement rolls over and m is not its first month; remaining = max(0, allowance − used);
excess = max(0, used − allowance).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.db import UTCDateTime

_USED = ("(SELECT COALESCE(SUM(t.minutes), 0) FROM time_entries t WHERE t.council_id = a.council_id "
         "AND t.month = :{month} AND t.mode = '{mode}')")

# Constant fragments only; every value is a bound parameter.
USAGE_SQL = f"""
SELECT x.council_id, c.name, x.agreement_id,
       x.on_base, x.on_carried, x.on_base + x.on_carried AS on_allowance, x.on_used,
       CASE WHEN x.on_base + x.on_carried > x.on_used THEN x.on_base + x.on_carried - x.on_used ELSE 0 END,
       CASE WHEN x.on_used > x.on_base + x.on_carried THEN x.on_used - x.on_base - x.on_carried ELSE 0 END,
       x.re_base, x.re_carried, x.re_base + x.re_carried AS re_allowance, x.re_used,
       CASE WHEN x.re_base + x.re_carried > x.re_used THEN x.re_base + x.re_carried - x.re_used ELSE 0 END,
       CASE WHEN x.re_used > x.re_base + x.re_carried THEN x.re_used - x.re_base - x.re_carried ELSE 0 END,
       x.travel, x.closed
FROM (
  SELECT a.council_id, a.id AS agreement_id,
         a.onsite_minutes_month AS on_base, a.remote_minutes_month AS re_base,
         {_USED.format(month="m", mode="onsite")} AS on_used,
         {_USED.format(month="m", mode="remote")} AS re_used,
         CASE WHEN a.rollover = 'next_month' AND a.starts_on < :m THEN
           CASE WHEN {_USED.format(month="p", mode="onsite")} <= 0 THEN a.onsite_minutes_month
                WHEN {_USED.format(month="p", mode="onsite")} >= a.onsite_minutes_month THEN 0
                ELSE a.onsite_minutes_month - {_USED.format(month="p", mode="onsite")} END
         ELSE 0 END AS on_carried,
         CASE WHEN a.rollover = 'next_month' AND a.starts_on < :m THEN
           CASE WHEN {_USED.format(month="p", mode="remote")} <= 0 THEN a.remote_minutes_month
                WHEN {_USED.format(month="p", mode="remote")} >= a.remote_minutes_month THEN 0
                ELSE a.remote_minutes_month - {_USED.format(month="p", mode="remote")} END
         ELSE 0 END AS re_carried,
         (SELECT COALESCE(SUM(t.travel_minutes), 0) FROM time_entries t
          WHERE t.council_id = a.council_id AND t.month = :m) AS travel,
         (SELECT COUNT(*) FROM month_closes mc WHERE mc.council_id = a.council_id AND mc.month = :m) AS closed
  FROM agreements a
  WHERE a.starts_on <= :m AND a.ends_on >= :m
) x JOIN councils c ON c.id = x.council_id
ORDER BY x.council_id
"""  # noqa: S608

FIELDS = ("council_id", "council", "agreement_id",
          "onsite_base_minutes", "onsite_carried_minutes", "onsite_allowance_minutes", "onsite_used_minutes",
          "onsite_remaining_minutes", "onsite_excess_minutes",
          "remote_base_minutes", "remote_carried_minutes", "remote_allowance_minutes", "remote_used_minutes",
          "remote_remaining_minutes", "remote_excess_minutes", "travel_minutes", "closed")


def _previous(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def usage(conn, months) -> dict[tuple[int, str], dict]:
    """(council_id, 'YYYY-MM') -> the usage figures, for every council-month an agreement covers."""
    stmt = sa.text(USAGE_SQL).bindparams(sa.bindparam("m", type_=sa.Date), sa.bindparam("p", type_=sa.Date))
    out = {}
    for month in months:
        for row in conn.execute(stmt, {"m": month, "p": _previous(month)}):
            item = dict(zip(FIELDS, (int(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                                     for v in row), strict=True))
            item["closed"] = bool(item["closed"])
            item["month"] = f"{month.year:04d}-{month.month:02d}"
            out[(item["council_id"], item["month"])] = item
    return out


def tickets_opened(conn, start: dt.datetime, end: dt.datetime) -> dict[int, dict]:
    stmt = sa.text("""
        SELECT council_id, COUNT(*),
               SUM(CASE WHEN first_response_at IS NOT NULL OR first_response_breached THEN 1 ELSE 0 END),
               SUM(CASE WHEN first_response_at IS NOT NULL AND NOT first_response_breached THEN 1 ELSE 0 END)
        FROM tickets WHERE created_at >= :s AND created_at < :e GROUP BY council_id
    """).bindparams(sa.bindparam("s", type_=UTCDateTime), sa.bindparam("e", type_=UTCDateTime))
    return {c: {"opened": int(n), "fr_measured": int(m), "fr_met": int(ok)}
            for c, n, m, ok in conn.execute(stmt, {"s": start, "e": end})}


def tickets_by(conn, column: str, start: dt.datetime, end: dt.datetime) -> dict[tuple[int, str], int]:
    assert column in ("category", "channel")
    sql = (f"SELECT council_id, {column}, COUNT(*) FROM tickets WHERE created_at >= :s "  # noqa: S608  (allow-listed)
           f"AND created_at < :e GROUP BY council_id, {column}")
    stmt = sa.text(sql).bindparams(sa.bindparam("s", type_=UTCDateTime),
                                                                 sa.bindparam("e", type_=UTCDateTime))
    return {(c, k): int(n) for c, k, n in conn.execute(stmt, {"s": start, "e": end})}


def tickets_resolved(conn, start: dt.datetime, end: dt.datetime) -> dict[int, dict]:
    stmt = sa.text("""
        SELECT council_id, COUNT(*), SUM(CASE WHEN NOT resolution_breached THEN 1 ELSE 0 END)
        FROM tickets WHERE resolved_at >= :s AND resolved_at < :e AND status IN ('resolved', 'closed')
        GROUP BY council_id
    """).bindparams(sa.bindparam("s", type_=UTCDateTime), sa.bindparam("e", type_=UTCDateTime))
    return {c: {"resolved": int(n), "in_time": int(ok)} for c, n, ok in conn.execute(stmt, {"s": start, "e": end})}


def resolution_minutes(conn, start: dt.datetime, end: dt.datetime) -> dict[int, list[int]]:
    stmt = sa.text("SELECT council_id, created_at, resolved_at FROM tickets WHERE resolved_at >= :s "
                   "AND resolved_at < :e AND status IN ('resolved', 'closed')").bindparams(
        sa.bindparam("s", type_=UTCDateTime), sa.bindparam("e", type_=UTCDateTime))
    out: dict[int, list[int]] = {}
    for council, created, resolved in conn.execute(stmt, {"s": start, "e": end}):
        if isinstance(created, str):  # SQLite hands raw text back to a text() query
            created, resolved = dt.datetime.fromisoformat(created), dt.datetime.fromisoformat(resolved)
        created, resolved = created.replace(tzinfo=None), resolved.replace(tzinfo=None)
        out.setdefault(council, []).append(int((resolved - created).total_seconds() // 60))
    return out


def ratings(conn, start: dt.datetime, end: dt.datetime) -> dict[int, dict[int, int]]:
    stmt = sa.text("SELECT council_id, score, COUNT(*) FROM ticket_ratings WHERE created_at >= :s AND created_at < :e "
                   "GROUP BY council_id, score").bindparams(sa.bindparam("s", type_=UTCDateTime),
                                                             sa.bindparam("e", type_=UTCDateTime))
    out: dict[int, dict[int, int]] = {}
    for council, score, n in conn.execute(stmt, {"s": start, "e": end}):
        out.setdefault(council, {})[int(score)] = int(n)
    return out


def availability(conn, first: dt.date, last: dt.date) -> dict[int, tuple[int, int]]:
    stmt = sa.text("SELECT council_id, SUM(minutes_ok + minutes_warning + minutes_critical), SUM(minutes_critical) "
                   "FROM remote_rollups WHERE day >= :f AND day <= :l GROUP BY council_id").bindparams(
        sa.bindparam("f", type_=sa.Date), sa.bindparam("l", type_=sa.Date))
    return {c: (int(w), int(k)) for c, w, k in conn.execute(stmt, {"f": first, "l": last})}


def resolved_by(conn, column: str, start: dt.datetime, end: dt.datetime) -> dict[tuple[int, str], int]:
    assert column in ("category", "channel")
    sql = (f"SELECT council_id, {column}, COUNT(*) FROM tickets WHERE resolved_at >= :s "  # noqa: S608  (allow-listed)
           f"AND resolved_at < :e AND status IN ('resolved', 'closed') GROUP BY council_id, {column}")
    stmt = sa.text(sql).bindparams(sa.bindparam("s", type_=UTCDateTime), sa.bindparam("e", type_=UTCDateTime))
    return {(c, k): int(n) for c, k, n in conn.execute(stmt, {"s": start, "e": end})}
