"""Yearly usage of every council, and a council's page, with 1,000,000 time entries stored.

Baseline
    One raw SQL GROUP BY of the same figures, in the same run: the sums of minutes and travel
    per council, month and mode over the year (and the December before, which the carry-over
    needs), fetched to Python. The least the database can be asked to do for these numbers.

Measured
    `support.hours.figures.usage_for_year(year)`: the same GROUP BY through the ORM, plus the
    agreements and the closed months, plus the arithmetic (base, carried, allowance, used,
    remaining, excess) of every council-month: what the reports and the dashboard call.
    Then the council page (`GET /councils/<slug>`: this month's bars and forecast, the year
    table, the band, the agreement) rendered by the app for a signed-in manager, and the office
    dashboard (`GET /hours`, every council's month) for information.

Targets
    usage_for_year / baseline <= 1.2, usage_for_year <= 150 ms, council page < 150 ms.

Data: the 18 Bages councils with a 2022–2025 agreement and its 2026–2029 renewal, and
1,000,000 entries spread over every month from January 2022 to this month, written with
one Core executemany (SQLite) or COPY (PostgreSQL) and then ANALYZEd. Each figure is the
median of --rounds runs, baseline and measured interleaved. SQLite by default (a file under
/tmp, removed afterwards); PostgreSQL when DATABASE_URL says so, in a scratch database
created next to it and dropped at the end (the database named in DATABASE_URL is not touched).

    .venv/bin/python bench/hours_usage.py [--rows 1000000] [--rounds 15]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/councildesk .venv/bin/python bench/hours_usage.py

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _scratch  # noqa: E402
import sqlalchemy as sa  # noqa: E402

RATIO_TARGET = 1.2
USAGE_TARGET_MS = 150
PAGE_TARGET_MS = 150

RAW_SQL = sa.text(
    "SELECT month, council_id, mode, SUM(minutes), SUM(travel_minutes) FROM time_entries "
    "WHERE month >= :first AND month <= :last GROUP BY month, council_id, mode")


def scratch_database():
    return _scratch.scratch_database("hours")

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with scratch_database() as url:
        app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "MAIL_ENABLED": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        with app.app_context():
            upgrade(revision="heads")
            return run(app, args.rows, args.rounds)


def seed(n: int, today: dt.date):
    """Councils, agreements, a few users, and `n` entries written in bulk. Returns (manager, council)."""
    from accounts import services as accounts
    from agreements import demo as agreements_demo
    from agreements.months import add_months
    from core.demo import DemoContext
    from extensions import db

    councils = agreements_demo.seed()
    ctx = DemoContext(councils=councils, today=today, rng=random.Random(7))
    agreements_demo.seed_agreements(ctx)
    technicians = [accounts.create_user(email=f"tech{i}@bench.example.org", name=f"Tech {i}", role="technician",
                                        password="bench-password", actor=None) for i in range(3)]
    manager = accounts.create_user(email="manager@bench.example.org", name="Manager", role="manager",
                                   password="bench-password", actor=None)
    db.session.commit()

    first = dt.date(2022, 1, 1)
    months = []
    month = first
    while month <= today.replace(day=1):
        months.append(month)
        month = add_months(month, 1)
    rng = random.Random(1)
    council_ids = [c.id for c in councils]
    tech_ids = [t.id for t in technicians]
    now = dt.datetime.now(dt.UTC)
    columns = ("council_id", "technician_id", "date", "month", "minutes", "mode", "description", "travel_minutes",
               "created_at")

    def rows():
        # Month after month, as an office writes them (which is also what keeps the indexes' pages
        # warm while loading).
        for i in range(n):
            month = months[i * len(months) // n]
            mode = "onsite" if rng.random() < 0.45 else "remote"
            last_day = min(28, today.day if month == today.replace(day=1) else 28)
            yield (rng.choice(council_ids), tech_ids[i % len(tech_ids)],
                   month.replace(day=rng.randint(1, last_day)), month, rng.choice((15, 30, 45, 60, 90, 120)), mode,
                   "", rng.choice((20, 40, 60)) if mode == "onsite" else 0, now)

    engine = db.engine
    start = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY time_entries ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE time_entries")
    else:
        # The driver's executemany with the values already in SQLite's storage form (ISO text):
        # per-row type processing would triple the load time without changing what is stored.
        sql = (f"INSERT INTO time_entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})")
        stamp = now.replace(tzinfo=None).isoformat(sep=" ")
        batch: list[tuple] = []
        with engine.begin() as conn:
            for row in rows():
                batch.append((*row[:2], row[2].isoformat(), row[3].isoformat(), *row[4:8], stamp))
                if len(batch) == 100_000:
                    conn.exec_driver_sql(sql, batch)
                    batch = []
            if batch:
                conn.exec_driver_sql(sql, batch)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"  ({n:,} entries over {len(months)} months written in {time.perf_counter() - start:.1f} s)")
    return manager, councils[len(councils) // 2]


def run(app, n: int, rounds: int) -> int:
    from agreements.months import office_today
    from extensions import db
    from support.hours import figures as services

    today = office_today()
    year = today.year - 1  # a whole year, with a December before it
    engine_name = db.engine.dialect.name
    print(f"hours usage, {n:,} time entries, {engine_name}, median of {rounds} rounds")
    manager, council = seed(n, today)
    db.session.commit()

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = manager.get_id()
        sess["_fresh"] = True
    page_url = f"/councils/{council.slug}"

    def raw():
        with db.engine.connect() as conn:
            return conn.execute(RAW_SQL, {"first": dt.date(year - 1, 12, 1), "last": dt.date(year, 12, 1)}).all()

    def orm():
        rows = services.usage_for_year(year)
        db.session.commit()
        return rows

    def page(url):
        resp = client.get(url)
        assert resp.status_code == 200, resp.status_code
        return resp

    def timed(fn, *args) -> float:
        start = time.perf_counter()
        fn(*args)
        return (time.perf_counter() - start) * 1000

    # The two answers agree, and a warm-up for both.
    # SQLite hands the raw query's dates back as text.
    sums = {(str(m), c, mode): (int(u), int(t)) for m, c, mode, u, t in raw()}
    rows = orm()
    assert len(rows) == 18 * 12, len(rows)
    for row in rows:
        for mode in ("onsite", "remote"):
            assert row.mode(mode).used_minutes == sums.get((str(row.month), row.council_id, mode), (0, 0))[0]
    page(page_url)
    page("/hours")

    figures: dict[str, list[float]] = {"raw": [], "orm": [], "page": [], "dashboard": []}
    for _ in range(rounds):
        gc.collect()
        figures["raw"].append(timed(raw))
        figures["orm"].append(timed(orm))
        figures["page"].append(timed(page, page_url))
        figures["dashboard"].append(timed(page, "/hours"))
    med = {k: statistics.median(v) for k, v in figures.items()}
    ratio = med["orm"] / med["raw"]
    ok_ratio, ok_usage, ok_page = ratio <= RATIO_TARGET, med["orm"] <= USAGE_TARGET_MS, med["page"] < PAGE_TARGET_MS
    print(f"  raw SQL GROUP BY of the year          {med['raw']:7.1f} ms   (baseline)")
    print(f"  usage_for_year({year}), 216 rows      {med['orm']:7.1f} ms   {ratio:5.2f}x   "
          f"target <= {RATIO_TARGET}x and <= {USAGE_TARGET_MS} ms: {'met' if ok_ratio and ok_usage else 'MISSED'}")
    print(f"  council page {page_url:<24} {med['page']:7.1f} ms   target < {PAGE_TARGET_MS} ms: "
          f"{'met' if ok_page else 'MISSED'}")
    print(f"  office dashboard /hours               {med['dashboard']:7.1f} ms   (for information)")
    return 0 if ok_ratio and ok_usage and ok_page else 1


if __name__ == "__main__":
    sys.exit(main())
