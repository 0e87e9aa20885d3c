"""CSV import of 50,000 assets against a bare bulk insert of the same rows, in the same run.

Baseline
    The same 50,000 rows, already typed (no CSV, no validation), inserted with one SQLAlchemy
    Core executemany into the assets table and committed: the least the database can be asked
    to do to store them.

Measured
    `inventory.importer.import_assets` on the CSV file as Excel writes it in Catalan (UTF-8
    with BOM, `;` separated, dates DD/MM/YYYY): first a dry run (decode, parse, validate,
    look the tags up, write nothing), then the commit (the same, plus the insert of the
    assets and of one audit-log row each). The import does strictly more than the baseline:
    it reads text, checks every cell, and writes a history row per asset.

Target
    (dry run + commit) / baseline <= 3, the whole import a person runs from the preview page.
    The commit alone is printed too, and so is a re-import that changes 10 % of the rows
    (the update path), for information.

Each figure is the median of --rounds runs on a freshly emptied table. SQLite by default
(a temporary file); PostgreSQL when DATABASE_URL says so, in a scratch database created next
to it and dropped at the end (the database named in DATABASE_URL is not touched).

    .venv/bin/python bench/inventory_import.py [--rows 50000] [--rounds 3]
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/councildesk .venv/bin/python bench/inventory_import.py

Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import io
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import _scratch  # noqa: E402
import sqlalchemy as sa  # noqa: E402

TARGET = 3.0
KINDS = ("desktop", "desktop", "desktop", "laptop", "printer", "network", "server", "certificate", "license")


def make_rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    today = dt.date(2026, 3, 1)
    rows = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        purchased = today - dt.timedelta(days=rng.randint(30, 3000))
        row = {
            "tag": f"BENCH-{kind[:3].upper()}-{i:05d}", "kind": kind, "name": f"Equip {i} de la sala {rng.randint(1, 40)}",
            "status": rng.choice(("in_use", "in_use", "in_use", "stock", "repair")),
            "manufacturer": rng.choice(("HP", "Lenovo", "Dell", "Ricoh")), "model": f"Model {rng.randint(100, 999)}",
            "serial": f"SN{rng.randint(10**9, 10**10 - 1)}", "hostname": f"bench-{i:05d}",
            "ip_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", "os": "Windows 11 Pro",
            "location": f"Planta {rng.randint(0, 3)}, despatx {rng.randint(1, 30)}", "assigned_to": "",
            "holder": "Maria Puig i Vila" if kind == "certificate" else "", "issuer": "Consorci AOC" if kind == "certificate" else "",
            "media": "card" if kind == "certificate" else None, "seats": rng.randint(1, 50) if kind == "license" else None,
            "purchased_on": purchased, "warranty_until": purchased + dt.timedelta(days=1095),
            "expires_on": today + dt.timedelta(days=rng.randint(1, 1500)) if kind in ("certificate", "license") else None,
            "notes": "",
        }
        rows.append(row)
    return rows


COLUMNS = ("tag", "kind", "name", "status", "manufacturer", "model", "serial", "hostname", "ip_address", "os",
           "location", "assigned_to", "holder", "issuer", "media", "seats", "purchased_on", "warranty_until",
           "expires_on", "notes")


def to_csv(rows: list[dict], change: float = 0.0) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for i, row in enumerate(rows):
        cells = []
        for name in COLUMNS:
            value = row[name]
            if name == "location" and change and i % int(1 / change) == 0:
                value = value + " (nou)"
            if isinstance(value, dt.date):
                value = value.strftime("%d/%m/%Y")
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def scratch_database():
    return _scratch.scratch_database("inventory")

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from flask_migrate import upgrade

    from app import create_app

    with scratch_database() as url:
        app = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "MAIL_ENABLED": False})
        with app.app_context():
            upgrade(revision="heads")
            return run(app, args.rows, args.rounds)


def run(app, n: int, rounds: int) -> int:
    from accounts import services as accounts
    from accounts.models import AuditEntry
    from agreements import councils
    from extensions import db
    from inventory import importer
    from inventory.models import Asset

    importer.IMPORT_MAX_ROWS = max(importer.IMPORT_MAX_ROWS, n)
    council = councils.create_council({"name": "Castellbell i el Vilar", "population": 3624}, actor=None)
    actor = accounts.create_user(email="bench@example.org", name="Bench", role="technician",
                                 password="bench-password", actor=None)
    rows = make_rows(n)
    data = to_csv(rows)
    changed = to_csv(rows, change=0.1)
    engine = db.engine
    assets = Asset.__table__
    now = dt.datetime.now(dt.UTC)
    typed = [{**row, "council_id": council.id, "created_at": now, "updated_at": now, "last_seen_at": None}
             for row in rows]

    def empty():
        db.session.commit()
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("TRUNCATE assets, asset_reminders")
                conn.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.__table__.c.object_type == "asset"))
            else:
                conn.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.__table__.c.object_type == "asset"))
                conn.execute(sa.delete(assets))
        gc.collect()

    def timed(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def bare():
        with engine.begin() as conn:
            conn.execute(assets.insert(), typed)

    def dry():
        result = importer.import_assets(council, data, actor=actor, dry_run=True)
        assert result.ok and result.created == n, result.errors[:3]
        db.session.rollback()

    def commit():
        result = importer.import_assets(council, data, actor=actor, dry_run=False)
        assert result.committed and result.created == n, result.errors[:3]

    def check_history():
        logged = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.object_type == "asset", AuditEntry.action == "import_create"))
        assert logged == n, f"{logged} creation entries in the audit log for {n} assets"

    def reimport():
        result = importer.import_assets(council, changed, actor=actor, dry_run=False)
        assert result.committed and result.updated == (n + 9) // 10, (result.updated, result.errors[:3])

    figures: dict[str, list[float]] = {"bare": [], "dry": [], "commit": [], "reimport": []}
    for _ in range(rounds):
        empty()
        figures["bare"].append(timed(bare))
        empty()
        figures["dry"].append(timed(dry))
        figures["commit"].append(timed(commit))
        check_history()
        figures["reimport"].append(timed(reimport))
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Asset))
        assert count == n, count
    empty()

    med = {k: statistics.median(v) for k, v in figures.items()}
    ratio = (med["dry"] + med["commit"]) / med["bare"]
    print(f"inventory import, {n:,} rows, {engine.dialect.name}, median of {rounds} rounds")
    print(f"  bare Core executemany insert      {med['bare']:7.3f} s   (baseline)")
    print(f"  import, dry run                   {med['dry']:7.3f} s   {med['dry'] / med['bare']:5.2f}x")
    print(f"  import, commit                    {med['commit']:7.3f} s   {med['commit'] / med['bare']:5.2f}x")
    print(f"  re-import updating 10 % of rows   {med['reimport']:7.3f} s   {med['reimport'] / med['bare']:5.2f}x")
    print(f"  dry run + commit vs baseline      {ratio:5.2f}x   target <= {TARGET:.0f}x: "
          f"{'met' if ratio <= TARGET else 'MISSED'}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
