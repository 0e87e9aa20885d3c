"""The reports at scale: the office dashboard and the yearly usage report over 1,000,000 time
entries and 200,000 tickets; the charts uncached and cached; memory over 1,000 renders.

Baselines (measured in the same run, on the same data)
    Yearly usage report: the raw SQL GROUP BY of the year's time entries (and the December
    before, which the carry-over needs) by month, council and mode, fetched to Python.
    Office dashboard: the raw SQL aggregates it is made of: that GROUP BY from January (and
    the December before) to the month, the open tickets per council (and how many are late),
    and the critical checks per council.

Measured
    `reports.consumption.usage_items(year)`: the rows of `GET /api/v1/reports/usage` (usage
    computed by support.hours.figures.usage_between with its agreements and closed months, the
    carry-over arithmetic, the council names). `reports.dashboard.dashboard(month, today)`:
    every council's month and year to date, forecasts, traffic lights, excess, open and late
    tickets, critical checks. For information, the same through HTTP (the pages and the API)
    and the yearly service report (tickets, SLA, medians in business time, ratings).
    Charts: drawing a chart (matplotlib object API, Agg) against serving it from the cache
    (the spec built from the data, hashed, looked up), for the council chart, the heatmap
    and the SLA trend; and the resident memory before and after 1,000 renders.

Targets
    usage report / baseline <= 1.2; dashboard / baseline <= 1.2; a chart from the cache at
    least 10 times cheaper than drawing it (the data queries, the same either way, are shown
    beside it); memory growth over 1,000 renders < 50 MB.

Data: the 18 Bages councils with their 2022–2025 agreements and 2026–2029 renewals,
1,000,000 entries and 200,000 tickets spread from January 2022 to today, written with one
Core executemany (SQLite) or COPY (PostgreSQL) each and then ANALYZEd; ratings on a third of
the solved tickets; a check per council with daily roll-ups. Each figure is the median of
--rounds runs, baseline and measured interleaved. SQLite by default (a file under /tmp,
removed afterwards); PostgreSQL when DATABASE_URL says so, in a scratch database created next
to it and dropped at the end (the database named in DATABASE_URL is not touched).

    .venv/bin/python bench/reports.py [--entries 1000000] [--tickets 200000] [--rounds 11] [--renders 1000]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/councildesk .venv/bin/python bench/reports.py

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _scratch  # noqa: E402
import sqlalchemy as sa  # noqa: E402

RATIO_TARGET = 1.2
CACHE_SPEEDUP_TARGET = 10
MEMORY_TARGET_MB = 50

USAGE_SQL = sa.text(
    "SELECT month, council_id, mode, SUM(minutes), SUM(travel_minutes) FROM time_entries "
    "WHERE month >= :first AND month <= :last GROUP BY month, council_id, mode")
# The open tickets per council, in the fastest raw form on each database: one GROUP BY on
# PostgreSQL; on SQLite an index range per open status (its plan for `status IN (...) GROUP BY
# council_id` scans the whole table), counted in Python.
_LATE = "CASE WHEN sla_state = 'breached' OR first_response_breached OR resolution_breached THEN 1 ELSE 0 END"
OPEN_TICKETS_PG = sa.text(
    f"SELECT council_id, COUNT(*), SUM({_LATE}) FROM tickets "
    "WHERE status IN ('new', 'assigned', 'in_progress', 'waiting_council') GROUP BY council_id")
OPEN_TICKETS_SQLITE = sa.text(" UNION ALL ".join(
    f"SELECT council_id, {_LATE} FROM tickets WHERE status = '{status}'"
    for status in ("new", "assigned", "in_progress", "waiting_council")))
CRITICAL_SQL = sa.text(
    "SELECT council_id, COUNT(*) FROM remote_checks WHERE state = 'critical' AND enabled GROUP BY council_id")


@contextlib.contextmanager
def scratch_database():
    """The scratch database and a folder for the charts' cache."""
    with _scratch.scratch_database("reports") as url, \
            tempfile.TemporaryDirectory(prefix="councildesk-bench-reports-", dir="/tmp") as tmp:
        yield url, tmp

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--renders", type=int, default=1000)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with scratch_database() as (url, tmp):
        app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "MAIL_ENABLED": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "DATA_DIR": os.path.join(tmp, "data"), "INSTANCE_PATH": tmp})
        with app.app_context():
            upgrade(revision="heads")
            return run(app, args)


# --- data ----------------------------------------------------------------------------------------

def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    from agreements.months import add_months

    out, month = [], first
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def _bulk(engine, table: str, columns: tuple[str, ...], rows, sqlite_row) -> None:
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    # The driver's executemany with values already in SQLite's storage form (ISO text).
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    batch: list[tuple] = []
    with engine.begin() as conn:
        for row in rows:
            batch.append(sqlite_row(row))
            if len(batch) == 50_000:
                conn.exec_driver_sql(sql, batch)
                batch = []
        if batch:
            conn.exec_driver_sql(sql, batch)


def _stamp(value: dt.datetime | None) -> str | None:
    """A UTC instant as core.db.UTCDateTime stores it on SQLite."""
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_values(row: tuple) -> tuple:
    out = []
    for value in row:
        if isinstance(value, dt.datetime):
            out.append(_stamp(value))
        elif isinstance(value, dt.date):
            out.append(value.isoformat())
        elif isinstance(value, bool):
            out.append(int(value))
        else:
            out.append(value)
    return tuple(out)


def seed(entries: int, tickets: int, today: dt.date):
    """Councils, agreements, users, checks and roll-ups; then the entries and tickets in bulk."""
    from accounts import services as accounts
    from agreements import demo as agreements_demo
    from core.demo import DemoContext
    from extensions import db
    from inventory import services as inventory
    from remote.models import Check

    councils = agreements_demo.seed()
    ctx = DemoContext(councils=councils, today=today, rng=random.Random(7))
    agreements_demo.seed_agreements(ctx)
    technicians = [accounts.create_user(email=f"tech{i}@bench.example.org", name=f"Tech {i}", role="technician",
                                        password="bench-password", actor=None) for i in range(3)]
    manager = accounts.create_user(email="manager@bench.example.org", name="Manager", role="manager",
                                   password="bench-password", actor=None)
    rng = random.Random(1)
    checks = []
    for council in councils:
        asset = inventory.create_asset(council, {"kind": "server", "name": f"Servidor {council.code}"}, actor=None)
        check = Check(council_id=council.id, asset_id=asset.id, source="ssh", kind="reachability",
                      key=f"ssh:reach:{asset.id}", params={}, state=rng.choice(("ok", "ok", "ok", "critical")))
        db.session.add(check)
        checks.append((council.id, asset, check))
    db.session.commit()

    months = _months(dt.date(2022, 1, 1), today.replace(day=1))
    council_ids = [c.id for c in councils]
    tech_ids = [t.id for t in technicians]
    codes = {c.id: c.code for c in councils}
    now = dt.datetime.now(dt.UTC)
    engine = db.engine
    start = time.perf_counter()

    def entry_rows():
        for i in range(entries):
            month = months[i * len(months) // entries]
            mode = "onsite" if rng.random() < 0.45 else "remote"
            last_day = today.day if month == today.replace(day=1) else 28
            yield (rng.choice(council_ids), tech_ids[i % len(tech_ids)], month.replace(day=rng.randint(1, last_day)),
                   month, rng.choice((15, 30, 45, 60, 90, 120)), mode, "",
                   rng.choice((20, 40, 60)) if mode == "onsite" else 0, now)

    _bulk(engine, "time_entries", ("council_id", "technician_id", "date", "month", "minutes", "mode", "description",
                                   "travel_minutes", "created_at"), entry_rows(), _sqlite_values)
    entries_s = time.perf_counter() - start

    first = dt.datetime(2022, 1, 3, 8, tzinfo=dt.UTC)
    span = (dt.datetime.combine(today, dt.time(6), tzinfo=dt.UTC) - first).total_seconds()
    numbers: dict[tuple[int, int], int] = {}
    done = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
    ratings: list[tuple] = []
    categories = ("hardware", "software", "network", "e_administration", "transparency_portal", "accounts", "other")
    channels = ("web", "phone", "email", "chat", "whatsapp", "monitoring")

    def ticket_rows():
        for i in range(tickets):
            council = rng.choice(council_ids)
            created = first + dt.timedelta(seconds=span * i / tickets + rng.random() * 600)
            n = numbers[(council, created.year)] = numbers.get((council, created.year), 0) + 1
            solved = rng.random() < 0.97
            answered = created + dt.timedelta(minutes=rng.choice((5, 20, 45, 120)))
            resolved = created + dt.timedelta(minutes=rng.choice((60, 240, 900, 2400, 6000))) if solved else None
            status = rng.choice(("resolved", "closed", "closed")) if solved else rng.choice(("new", "in_progress"))
            if solved and rng.random() < 0.33:
                ratings.append((i, council, rng.choice((3, 4, 5, 5)), resolved + dt.timedelta(hours=2)))
            yield (council, f"{codes[council]}-{created.year}-{n:05d}", created.year, n, f"Incidència {i}", "",
                   status, rng.choice(("normal", "normal", "high", "low")), rng.choice(categories),
                   rng.choice(channels), created, created, answered, resolved,
                   resolved if status == "closed" else None, rng.random() < 0.08, rng.random() < 0.1,
                   "stopped" if solved else "ok", done if solved else created + dt.timedelta(hours=8))

    start = time.perf_counter()
    _bulk(engine, "tickets", ("council_id", "reference", "year", "number", "title", "description", "status",
                              "priority", "category", "channel", "created_at", "updated_at", "first_response_at",
                              "resolved_at", "closed_at", "first_response_breached", "resolution_breached",
                              "sla_state", "queue_at"), ticket_rows(), _sqlite_values)
    with engine.begin() as conn:
        first_id = conn.execute(sa.text("SELECT MIN(id) FROM tickets")).scalar()
    _bulk(engine, "ticket_ratings", ("ticket_id", "council_id", "score", "comment", "created_at"),
          ((first_id + i, council, score, "", at) for i, council, score, at in ratings), _sqlite_values)

    def rollup_rows():
        for council_id, asset, check in checks:
            day = dt.date(2022, 1, 1)
            while day < today:
                critical = rng.choice((0, 0, 0, 0, 0, 15, 60))
                yield (council_id, check.id, asset.id, day, 288, 1430 - critical, 10, critical, 0)
                day += dt.timedelta(days=1)

    _bulk(engine, "remote_rollups", ("council_id", "check_id", "asset_id", "day", "samples", "minutes_ok",
                                     "minutes_warning", "minutes_critical", "minutes_unknown"), rollup_rows(),
          _sqlite_values)
    tickets_s = time.perf_counter() - start
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"  ({entries:,} entries over {len(months)} months in {entries_s:.1f} s; {tickets:,} tickets, "
          f"{len(ratings):,} ratings and the roll-ups in {tickets_s:.1f} s)")
    return manager, councils


# --- measuring -------------------------------------------------------------------------------------

def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1 << 20)


def run(app, args) -> int:
    from agreements.months import month_start, office_today
    from extensions import db
    from reports import charts, consumption, figures, quality
    from reports.dashboard import dashboard as dashboard_of

    today = office_today()
    year = today.year - 1  # a whole year, with a December before it
    month = month_start(today)
    engine_name = db.engine.dialect.name
    print(f"reports, {args.entries:,} time entries and {args.tickets:,} tickets, {engine_name}, "
          f"median of {args.rounds} rounds")
    manager, councils = seed(args.entries, args.tickets, today)
    db.session.commit()

    def raw_usage():
        with db.engine.connect() as conn:
            return conn.execute(USAGE_SQL, {"first": dt.date(year - 1, 12, 1), "last": dt.date(year, 12, 1)}).all()

    def raw_dashboard():
        with db.engine.connect() as conn:
            usage = conn.execute(USAGE_SQL, {"first": dt.date(month.year - 1, 12, 1), "last": month}).all()
            if engine_name == "postgresql":
                open_tickets = {c: (int(n), int(late)) for c, n, late in conn.execute(OPEN_TICKETS_PG)}
            else:
                counts: dict[int, list[int]] = {}
                for council_id, late in conn.execute(OPEN_TICKETS_SQLITE):
                    pair = counts.setdefault(council_id, [0, 0])
                    pair[0] += 1
                    pair[1] += late
                open_tickets = {c: (n, late) for c, (n, late) in counts.items()}
            return usage, open_tickets, conn.execute(CRITICAL_SQL).all()

    def usage_report():
        items = consumption.usage_items(year)
        db.session.commit()
        return items

    def dashboard():
        board = dashboard_of(month, today)
        db.session.commit()
        return board

    def service_year():
        data = quality.service_by_council_month(dt.date(year, 1, 1), dt.date(year, 12, 1))
        db.session.commit()
        return data

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = manager.get_id()
        sess["_fresh"] = True

    from accounts import services as accounts

    token = accounts.create_token(manager, "bench", actor=None)[1]

    def page(url):
        headers = {"Authorization": f"Bearer {token}"} if url.startswith("/api/") else {}
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200, (url, resp.status_code)

    # The two answers agree (and both are warm).
    sums = {(str(m), c, mode): int(u) for m, c, mode, u, _t in raw_usage()}
    items = usage_report()
    assert len(items) == len(councils) * 12, len(items)
    for item in items:
        for mode in ("onsite", "remote"):
            assert item[f"{mode}_used_minutes"] == sums.get((item["month"] + "-01", item["council_id"], mode), 0)
    board = dashboard()
    open_raw = {c: n for c, (n, _late) in raw_dashboard()[1].items()}
    assert {r.council.id: r.open_tickets for r in board.rows if r.open_tickets} == open_raw
    raw_dashboard()
    service_year()

    names = ("raw_usage", "usage", "raw_dashboard", "dashboard", "service", "api", "usage_page", "dashboard_page")
    figures_ms: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(args.rounds):
        gc.collect()
        figures_ms["raw_usage"].append(_timed(raw_usage))
        figures_ms["usage"].append(_timed(usage_report))
        figures_ms["raw_dashboard"].append(_timed(raw_dashboard))
        figures_ms["dashboard"].append(_timed(dashboard))
    for _ in range(max(3, args.rounds // 3)):
        figures_ms["service"].append(_timed(service_year))
        figures_ms["api"].append(_timed(page, f"/api/v1/reports/usage?year={year}"))
        figures_ms["usage_page"].append(_timed(page, f"/reports/usage?year={year}"))
        figures_ms["dashboard_page"].append(_timed(page, "/reports/dashboard"))
    med = {k: statistics.median(v) for k, v in figures_ms.items()}
    usage_ratio = med["usage"] / med["raw_usage"]
    dash_ratio = med["dashboard"] / med["raw_dashboard"]
    ok_usage, ok_dash = usage_ratio <= RATIO_TARGET, dash_ratio <= RATIO_TARGET
    print(f"  raw SQL: the year's GROUP BY               {med['raw_usage']:8.1f} ms   (baseline)")
    print(f"  yearly usage report ({len(items)} rows)           {med['usage']:8.1f} ms   {usage_ratio:5.2f}x   "
          f"target <= {RATIO_TARGET}x: {'met' if ok_usage else 'MISSED'}")
    print(f"  raw SQL: the dashboard's aggregates        {med['raw_dashboard']:8.1f} ms   (baseline)")
    print(f"  office dashboard ({len(board.rows)} councils)            {med['dashboard']:8.1f} ms   {dash_ratio:5.2f}x   "
          f"target <= {RATIO_TARGET}x: {'met' if ok_dash else 'MISSED'}")
    print(f"  yearly service report (SLA, medians)       {med['service']:8.1f} ms   (for information)")
    print(f"  GET /api/v1/reports/usage?year={year}       {med['api']:8.1f} ms   (for information)")
    print(f"  GET /reports/usage?year={year}              {med['usage_page']:8.1f} ms   (for information)")
    print(f"  GET /reports/dashboard                     {med['dashboard_page']:8.1f} ms   (for information)")

    # --- charts ---------------------------------------------------------------------------------
    council = councils[len(councils) // 2]
    specs = {
        "council usage": figures.council_usage(council, year),
        "heatmap": figures.heatmap(year),
        "SLA trend": figures.sla_trend(year),
    }
    db.session.commit()
    builders = {
        "council usage": lambda: figures.council_usage(council, year),
        "heatmap": lambda: figures.heatmap(year),
        "SLA trend": lambda: figures.sla_trend(year),
    }
    ok_cache = True
    charts.draw(specs["council usage"])  # the first drawing pays for fonts and caches
    for name, spec in specs.items():
        drawn = [_timed(charts.draw, spec) for _ in range(5)]
        charts.render(spec)  # into the cache

        def served(build=builders[name]):
            data, _key = charts.render(build())
            db.session.commit()
            return data

        cached = [_timed(served) for _ in range(args.rounds)]
        lookup = [_timed(charts.render, spec) for _ in range(args.rounds)]
        d, c, lk = statistics.median(drawn), statistics.median(cached), statistics.median(lookup)
        speedup = d / lk if lk else float("inf")
        ok_cache = ok_cache and speedup >= CACHE_SPEEDUP_TARGET
        print(f"  chart {name:<14} drawn {d:7.1f} ms, from the cache {lk:5.2f} ms ({speedup:,.0f}x, target >= "
              f"{CACHE_SPEEDUP_TARGET}x: {'met' if speedup >= CACHE_SPEEDUP_TARGET else 'MISSED'}); "
              f"with its data queries {c:6.1f} ms cached vs {c + d - lk:6.1f} ms drawn")
    chart_url = f"/reports/councils/{council.slug}/chart.png?year={year}"
    page(chart_url)
    print(f"  GET {chart_url:<40} {statistics.median(_timed(page, chart_url) for _ in range(args.rounds)):6.1f} ms "
          "cached   (for information)")

    # --- memory over many renders ---------------------------------------------------------------
    base_spec = specs["council usage"]
    for i in range(20):  # warm: fonts, glyph caches
        charts.draw({**base_spec, "title": f"{base_spec['title']} {i}"})
    gc.collect()
    before = _rss_mb()
    start = time.perf_counter()
    for i in range(args.renders):
        # A different title each time: every render is drawn, none comes from a cache.
        spec = {**base_spec, "title": f"{base_spec['title']} #{i}"}
        charts.draw(spec, "svg" if i % 4 == 3 else "png")
    elapsed = time.perf_counter() - start
    gc.collect()
    growth = _rss_mb() - before
    ok_memory = growth < MEMORY_TARGET_MB
    print(f"  {args.renders} renders in {elapsed:.0f} s ({elapsed / args.renders * 1000:.0f} ms each): "
          f"RSS {before:.0f} -> {before + growth:.0f} MB, growth {growth:5.1f} MB   target < {MEMORY_TARGET_MB} MB: "
          f"{'met' if ok_memory else 'MISSED'}")
    return 0 if ok_usage and ok_dash and ok_cache and ok_memory else 1


if __name__ == "__main__":
    sys.exit(main())
