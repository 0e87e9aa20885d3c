"""The technicians' ticket queue with 1,000,000 tickets over 100 councils.

GLPI's users report 1.7 s to list 50 of 18,500 tickets and 30 s pages at 40,000 (lessons.md).
This measures our queue at a million.

Baseline
    For each page, the bare query of the same rows in the same run: the page's SELECT
    written by hand in SQL (same WHERE, same ORDER BY, LIMIT 51) and fetched by the driver,
    with no ORM, no scope, no template: the least the database can be asked to do to find
    and hand over those 50 rows.

Measured (a signed-in technician, the app's own test client; median of --rounds runs,
baseline and pages interleaved)
    * the queue's first page, `GET /tickets` (open tickets, soonest SLA due first), and the same
      page from the API, `GET /api/v1/tickets?status=open&sort=due`;
    * filtered pages: "mine" (`?assignee=mine`), one council's tickets with the closed ones
      (`?council=...&status=all`), open network tickets that are overdue
      (`?category=network&sla=breached`), and the overdue ones from the API;
    * text searches: a word of 75,000 tickets among the open ones (`?q=impressora`), the same
      word over all 1,000,000 (`?q=impressora&status=all`, and from the API), a rare word
      (`?q=kyocera&status=all`, 500 tickets), and the common word with a category;
    * a page half-way through the queue (keyset: the cursor of the 500,000th row).

    Pages are keyset-paginated (`core.ui.ui_page`, `core.keyset.keyset_page`), so page 10,000
    costs what page 1 costs; tests/support/test_ticket_query_counts.py checks that the number
    of statements of a page does not grow with its rows.

Targets
    Every page (HTML and API) <= 100 ms, on SQLite and on PostgreSQL. The ratio against the
    bare query is printed for each: what the ORM, the council scope, the page's other
    queries (councils and staff for the filters), the row loads and the template cost on top
    of finding the rows.

Measured here (2 shared cores, November 2026), page medians: SQLite 5–31 ms (the HTML queue
16 ms, searches 16–31 ms), PostgreSQL 6–34 ms (the HTML queue 23 ms, searches 17–28 ms).
Known limit: on SQLite, a common word combined with a priority, SLA or asset filter over
every status reads all its matches (about 150 ms for 75,000); see support.search.

Data: 100 councils of 10,000 tickets each (eight years of a council's requests), written in
bulk (executemany on SQLite, COPY on PostgreSQL) and ANALYZEd: 98 % closed or resolved, and
~1.4 % open (new, assigned, in progress, waiting for the council; opened in the last month,
most of them past their due time),
spread over priorities, categories, channels and six technicians; each ticket's search text
(title, description, a reply) in `ticket_search` with its full-text index (FTS5 on SQLite,
GIN on PostgreSQL). SQLite by default (a file under /tmp, removed afterwards); PostgreSQL when
DATABASE_URL says so, in a scratch database created next to it and dropped at the end (the
database named in DATABASE_URL is not touched).

    .venv/bin/python bench/ticket_queue.py [--rows 1000000] [--rounds 15]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/councildesk .venv/bin/python bench/ticket_queue.py

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
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

PAGE_TARGET_MS = 100
COUNCILS = 100
TECHNICIANS = 6
OPEN = ("new", "assigned", "in_progress", "waiting_council")
OPEN_SQL = "('new', 'assigned', 'in_progress', 'waiting_council')"

TEXTS = {
    "hardware": (("La impressora de Registre no imprimeix", "Surt el llum taronja i no surt cap full."),
                 ("L'ordinador de Secretaria va molt lent", "Triga cinc minuts a engegar."),
                 ("L'escàner no desa els documents", "No apareixen a la carpeta compartida."),
                 ("La multifunció fa les còpies ratllades", "Totes surten amb una ratlla negra.")),
    "software": (("El programa de comptabilitat no s'obre", "Falta una llibreria."),
                 ("Cal actualitzar el programa del padró", "L'INE demana la versió nova.")),
    "network": (("No tenim internet a l'ajuntament", "El router té un llum vermell."),
                ("El Wi-Fi de la sala de plens no funciona", "Els regidors no s'hi connecten.")),
    "e_administration": (("No puc signar decrets amb el certificat", "Surt «certificat no vàlid»."),
                         ("Error en enviar una notificació electrònica", "Queda en estat d'error.")),
    "transparency_portal": (("Hem de publicar les actes al portal", "Les dels tres últims plens."),),
    "accounts": (("He oblidat la contrasenya del correu", "No puc entrar des de dilluns."),
                 ("Cal donar d'alta una treballadora nova", "Comença dilluns.")),
    "other": (("Preparar el projector per al ple", "El ple és dijous a les 19 h."),),
}
REPLIES = ("Bon dia, ho mirem de seguida.", "Ja està: era el cable de xarxa.", "Canviat el tòner.",
           "Hem reinstal·lat el controlador.", "Renovat el certificat a la seu.")
RARE = "Cal canviar el fusor de la Kyocera."  # one ticket in 2,000 says it


def scratch_database():
    return _scratch.scratch_database("tickets")

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with scratch_database() as url, tempfile.TemporaryDirectory(prefix="councildesk-bench-data-") as data_dir:
        app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "MAIL_ENABLED": False, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                          "DATA_DIR": data_dir})
        with app.app_context():
            upgrade(revision="heads")
            return run(app, args.rows, args.rounds)


# --- data -----------------------------------------------------------------------------------------

def _stamp(engine_name: str, value: dt.datetime | None):
    """A timestamp as the column stores it: SQLite gets SQLAlchemy's own text form (naive UTC,
    microseconds always written), so the app's comparisons and the stored text agree."""
    if value is None or engine_name == "postgresql":
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed(n: int, now: dt.datetime):
    """Councils, staff and `n` tickets with their search text. Returns the technician."""
    from accounts import services as accounts
    from accounts.models import User
    from agreements.models import Council
    from extensions import db
    from support.tickets.queue import queue_stand_in
    from support.tickets.search import fold

    engine = db.engine
    name = engine.dialect.name
    technicians = [accounts.create_user(email=f"tech{i}@bench.example.org", name=f"Tècnic {i}", role="technician",
                                        password="bench-password", actor=None) for i in range(TECHNICIANS)]
    db.session.commit()
    stamp = now
    with engine.begin() as conn:
        conn.execute(Council.__table__.insert(), [
            {"name": f"Vila {i:03d}", "slug": f"vila-{i:03d}", "code": f"V{i:03d}", "comarca": "Bages",
             "population": 150 + 40 * i, "population_year": 2024, "active": True, "language": "ca",
             "contact_email": "", "created_at": stamp} for i in range(1, COUNCILS + 1)])
        code_of = dict(conn.execute(sa.select(Council.id, Council.code).order_by(Council.id)).all())
        council_ids = list(code_of)
        password_hash = technicians[0].password_hash
        conn.execute(User.__table__.insert(), [
            {"email": f"secretaria.{cid}@bench.example.org", "name": f"Secretaria {cid}", "password_hash": password_hash,
             "role": "clerk", "council_id": cid, "active": True, "created_at": stamp, "auth_version": 0}
            for cid in council_ids])
        clerk_of = dict(conn.execute(sa.select(User.council_id, User.id).where(User.role == "clerk")).all())
    tech_ids = [t.id for t in technicians]

    rng = random.Random(2026)
    categories = list(TEXTS)
    weights = (30, 15, 12, 20, 5, 14, 4)
    per_council = n // len(council_ids)
    start = now - dt.timedelta(days=8 * 365)
    span = (now - dt.timedelta(days=30) - start).total_seconds()

    def tickets():
        """(ticket row, search row), council after council, numbered per council and year."""
        ticket_id = 0
        for cid in council_ids:
            code = code_of[cid]
            numbers: dict[int, int] = {}
            created_list = sorted(start + dt.timedelta(seconds=rng.random() * span) for _ in range(per_council))
            # The last weeks: the tickets still open, and some solved lately.
            recent = max(1, per_council * 2 // 100)
            created_list[-recent:] = sorted(now - dt.timedelta(minutes=rng.randint(30, 30 * 24 * 60))
                                            for _ in range(recent))
            for k, created in enumerate(created_list):
                ticket_id += 1
                year = created.year
                numbers[year] = numbers.get(year, 0) + 1
                category = rng.choices(categories, weights=weights)[0]
                title, description = rng.choice(TEXTS[category])
                priority = rng.choices(("low", "normal", "high", "urgent"), weights=(15, 55, 22, 8))[0]
                is_recent = k >= per_council - recent
                status = rng.choice(("new", "assigned", "in_progress", "in_progress", "waiting_council",
                                     "resolved")) if is_recent and rng.random() < 0.85 else "closed"
                assignee = None if status == "new" else rng.choice(tech_ids)
                first_due = created + dt.timedelta(hours=rng.choice((1, 2, 4, 7)))
                resolution_due = created + dt.timedelta(days=rng.choice((1, 2, 3, 5)))
                answered = status not in ("new", "assigned")
                reply = RARE if rng.random() < 0.0005 else rng.choice(REPLIES)
                if status in OPEN and status != "waiting_council":
                    pending = resolution_due if answered else first_due
                    breached = pending < now
                    sla_state = "breached" if breached else ("warning" if pending < now + dt.timedelta(hours=3)
                                                             else "ok")
                    queue_at = pending
                elif status == "waiting_council":
                    sla_state, queue_at, breached = "paused", queue_stand_in("paused", ticket_id), False
                else:
                    sla_state, queue_at = "stopped", queue_stand_in("stopped", ticket_id)
                    breached = rng.random() < 0.05
                resolved_at = created + dt.timedelta(hours=rng.randint(1, 60)) if status in ("resolved", "closed") else None
                reference = f"{code}-{year}-{numbers[year]:04d}"
                row = (ticket_id, cid, reference, year, numbers[year], title, description, status, priority, category,
                       rng.choices(("web", "phone", "email", "whatsapp", "chat"), weights=(62, 20, 12, 4, 2))[0],
                       clerk_of[cid], assignee, clerk_of[cid], _stamp(name, created), _stamp(name, resolved_at or created),
                       _stamp(name, created + dt.timedelta(minutes=20)) if answered or resolved_at else None,
                       _stamp(name, resolved_at), _stamp(name, resolved_at) if status == "closed" else None,
                       _stamp(name, first_due), _stamp(name, resolution_due) if status != "waiting_council" else None,
                       breached and not answered, breached and answered, sla_state,
                       _stamp(name, queue_at) if status in OPEN and status != "waiting_council" else None,
                       _stamp(name, queue_at))
                text = (ticket_id, cid, fold(f"{reference} {title} {description}"),
                        fold(reply) if answered or resolved_at else "")
                yield row, text

    ticket_columns = ("id", "council_id", "reference", "year", "number", "title", "description", "status",
                      "priority", "category", "channel", "requester_id", "assignee_id", "created_by_id",
                      "created_at", "updated_at", "first_response_at", "resolved_at", "closed_at",
                      "first_response_due_at", "resolution_due_at", "first_response_breached",
                      "resolution_breached", "sla_state", "sla_next_at", "queue_at")
    search_columns = ("ticket_id", "council_id", "public_text", "internal_text")
    began = time.perf_counter()
    if name == "postgresql":
        with engine.begin() as conn:
            # The GIN indexes are built once over the loaded rows rather than row by row.
            saved = conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ticket_search' "
                                         "AND indexname LIKE :pattern"), {"pattern": "ix_ticket_search_%_fts"}).all()
            for index, _definition in saved:
                conn.exec_driver_sql(f'DROP INDEX "{index}"')
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur:
                with cur.copy(f"COPY tickets ({', '.join(ticket_columns)}) FROM STDIN") as tcopy:
                    texts = []
                    for row, text in tickets():
                        tcopy.write_row(row)
                        texts.append(text)
                with cur.copy(f"COPY ticket_search ({', '.join(search_columns)}) FROM STDIN") as scopy:
                    for text in texts:
                        scopy.write_row(text)
                cur.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))")
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            for _index, definition in saved:
                conn.exec_driver_sql(definition)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        insert_ticket = (f"INSERT INTO tickets ({', '.join(ticket_columns)}) "
                         f"VALUES ({', '.join('?' * len(ticket_columns))})")
        insert_text = (f"INSERT INTO ticket_search ({', '.join(search_columns)}) "
                       f"VALUES ({', '.join('?' * len(search_columns))})")
        with engine.begin() as conn:
            # The FTS index is rebuilt once at the end rather than row by row through its trigger.
            trigger = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ticket_search_fts_insert'"
                                           ).scalar_one()
            conn.exec_driver_sql("DROP TRIGGER ticket_search_fts_insert")
            rows, texts = [], []
            for row, text in tickets():
                rows.append(row)
                texts.append(text)
                if len(rows) == 50_000:
                    conn.exec_driver_sql(insert_ticket, rows)
                    conn.exec_driver_sql(insert_text, texts)
                    rows, texts = [], []
            if rows:
                conn.exec_driver_sql(insert_ticket, rows)
                conn.exec_driver_sql(insert_text, texts)
            conn.exec_driver_sql("INSERT INTO ticket_search_fts(ticket_search_fts) VALUES ('rebuild')")
            conn.exec_driver_sql(trigger)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    db.session.commit()  # the session's snapshot predates the load (SQLite)
    count = db.session.scalar(sa.text("SELECT count(*) FROM tickets"))
    opened = db.session.scalar(sa.text(f"SELECT count(*) FROM tickets WHERE status IN {OPEN_SQL}"))
    db.session.commit()
    print(f"  ({count:,} tickets of {len(council_ids)} councils, {opened:,} open, written and indexed in "
          f"{time.perf_counter() - began:.0f} s)")
    return technicians[0]


# --- the pages and their bare queries ---------------------------------------------------------------

def _literal(engine_name: str, value: dt.datetime) -> str:
    if engine_name == "postgresql":
        return f"'{value.isoformat()}'::timestamptz"
    return f"'{_stamp(engine_name, value)}'"


def pages(engine_name: str, council_slug: str, council_id: int, technician_id: int, deep: tuple[int, dt.datetime, int],
          deep_cursor: str) -> list[tuple[str, str, str]]:
    """(label, URL, the bare SQL of the same rows).

    The bare SQL is the page's query as the app sends it to that database, written by hand:
    the same conditions (on SQLite, the `queue_at < QUEUE_DONE` bound of open tickets included)
    and, for searches, the same form (on SQLite, a common word is tested ticket by ticket while
    reading the queue's index in order: `id + 0 IN (...)`; see support.search).
    """
    from support.tickets.queue import QUEUE_DONE

    order = "ORDER BY queue_at, id LIMIT 51"
    is_open = f"status IN {OPEN_SQL}"
    if engine_name == "sqlite":
        is_open += f" AND queue_at < {_literal(engine_name, QUEUE_DONE)}"
    overdue = "(sla_state = 'breached' OR first_response_breached OR resolution_breached)"

    def search(word: str, common: bool) -> str:
        if engine_name == "postgresql":
            return ("id IN (SELECT ticket_id FROM ticket_search WHERE to_tsvector('simple'::regconfig, "
                    f"public_text || ' ' || internal_text) @@ to_tsquery('simple'::regconfig, '{word}:*'))")
        column = "id + 0" if common else "id"
        return f"{column} IN (SELECT rowid FROM ticket_search_fts WHERE ticket_search_fts MATCH '\"{word}\"*')"

    deep_row, deep_at, deep_id = deep
    return [
        ("queue, first page", "/tickets", f"SELECT * FROM tickets WHERE {is_open} {order}"),
        ("queue, first page (API)", "/api/v1/tickets?status=open&sort=due&limit=50",
         f"SELECT * FROM tickets WHERE {is_open} {order}"),
        ("filter: mine", "/tickets?assignee=mine",
         f"SELECT * FROM tickets WHERE {is_open} AND assignee_id = {technician_id} {order}"),
        ("filter: one council, closed too", f"/tickets?council={council_slug}&status=all",
         f"SELECT * FROM tickets WHERE council_id = {council_id} {order}"),
        ("filter: network, overdue", "/tickets?category=network&sla=breached",
         f"SELECT * FROM tickets WHERE {is_open} AND category = 'network' AND {overdue} {order}"),
        ("filter: overdue (API)", "/api/v1/tickets?status=open&sla=breached&sort=due&limit=50",
         f"SELECT * FROM tickets WHERE {is_open} AND {overdue} {order}"),
        ("search: 'impressora', open", "/tickets?q=impressora",
         f"SELECT * FROM tickets WHERE {is_open} AND {search('impressora', True)} {order}"),
        ("search: 'impressora', all", "/tickets?q=impressora&status=all",
         f"SELECT * FROM tickets WHERE {search('impressora', True)} {order}"),
        ("search: 'kyocera' (rare), all", "/tickets?q=kyocera&status=all",
         f"SELECT * FROM tickets WHERE {search('kyocera', False)} {order}"),
        ("search: 'impressora', all (API)", "/api/v1/tickets?q=impressora&sort=due&limit=50",
         f"SELECT * FROM tickets WHERE {search('impressora', True)} {order}"),
        ("search + filter: 'impressora', hardware", "/tickets?q=impressora&category=hardware&status=all",
         f"SELECT * FROM tickets WHERE category = 'hardware' AND {search('impressora', True)} {order}"),
        (f"keyset page at row {deep_row:,}", f"/tickets?status=all&after={deep_cursor}",
         f"SELECT * FROM tickets WHERE (queue_at, id) > ({_literal(engine_name, deep_at)}, {deep_id}) {order}"),
    ]


def run(app, n: int, rounds: int) -> int:
    from core.db import utcnow
    from core.keyset import encode_cursor
    from extensions import db

    engine_name = db.engine.dialect.name
    print(f"ticket queue, {n:,} tickets, {engine_name}, median of {rounds} rounds")
    technician = seed(n, utcnow())

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = technician.get_id()
        sess["_fresh"] = True
    from accounts import services as accounts

    _token, secret = accounts.create_token(technician, "bench", actor=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    council_id = db.session.scalar(sa.text("SELECT id FROM councils WHERE slug = 'vila-042'"))
    assert council_id is not None
    middle = db.session.execute(sa.text("SELECT queue_at, id FROM tickets ORDER BY queue_at, id LIMIT 1 OFFSET :n"),
                                {"n": n // 2}).one()
    queue_at = middle.queue_at
    if isinstance(queue_at, str):
        queue_at = dt.datetime.fromisoformat(queue_at).replace(tzinfo=dt.UTC)
    with app.test_request_context():
        deep_cursor = encode_cursor([queue_at, middle.id])
    db.session.commit()
    measured = pages(engine_name, "vila-042", council_id, technician.id, (n // 2, queue_at, middle.id), deep_cursor)

    def fetch(url):
        resp = client.get(url, headers=headers if url.startswith("/api/") else None)
        assert resp.status_code == 200, (url, resp.status_code)
        return resp

    def bare(sql):
        with db.engine.connect() as conn:
            return conn.exec_driver_sql(sql).all()

    def timed(fn, *args) -> float:
        began = time.perf_counter()
        fn(*args)
        return (time.perf_counter() - began) * 1000

    # Warm-up, and the page shows the rows the bare query finds.
    for label, url, sql in measured:
        body = fetch(url).get_data(as_text=True)
        rows = bare(sql)
        assert rows, label
        shown = [r.reference for r in rows[:50]]
        assert all(ref in body for ref in shown), (label, [ref for ref in shown if ref not in body][:3])

    figures = {label: {"bare": [], "page": []} for label, _url, _sql in measured}
    for _ in range(rounds):
        for label, url, sql in measured:
            gc.collect()
            figures[label]["bare"].append(timed(bare, sql))
            figures[label]["page"].append(timed(fetch, url))
    ok = True
    print(f"  {'page':<40} {'bare SQL':>9} {'page':>9} {'ratio':>7}   target <= {PAGE_TARGET_MS} ms")
    for label, _url, _sql in measured:
        page = statistics.median(figures[label]["page"])
        base = statistics.median(figures[label]["bare"])
        met = page <= PAGE_TARGET_MS
        ok &= met
        print(f"  {label:<40} {base:6.1f} ms {page:6.1f} ms {page / base:6.1f}x   {'met' if met else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
