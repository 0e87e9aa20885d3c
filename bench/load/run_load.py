"""`make load`: 100 UI users and 500 agents reporting every 60 s, for 5 minutes, against
gunicorn and PostgreSQL on loopback, with `flask scheduler` running beside them as in
production. Targets: UI p95 < 500 ms, agent p95 < 200 ms, no errors.

Steps: a throwaway PostgreSQL database; `flask db upgrade` and `flask seed-demo` (the Bages
demo: 18 councils, their history); the agents enrolled through the enrollment service; the
servers started in production mode; locust headless (bench/load/locustfile.py); the per-group
percentiles printed and checked; everything stopped and the database dropped.

Not a CI step: five minutes of load on a shared 2-core machine, where locust, PostgreSQL and
the app share the cores. Options: --duration, --ui-users, --agents, --workers, --threads,
--keep (keep the database). Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get("PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TARGETS = {"UI": 500.0, "agent": 200.0}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_engine():
    return sa.create_engine(f"{PG_URL}/postgres", isolation_level="AUTOCOMMIT")


def _run(args, env, **kw):
    print("$", " ".join(str(a) for a in args), flush=True)
    subprocess.run(args, cwd=ROOT, env=env, check=True, **kw)


def prepare(env: dict, agents: int, fixture: Path) -> None:
    """Enroll the agents and write what locust needs: logins, councils, tickets, tokens."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("COUNCILDESK_", "DATABASE_", "SECRET_"))})
    sys.path.insert(0, str(ROOT))
    from app import create_app

    app = create_app()
    with app.app_context():
        from accounts.demo import DEMO_PASSWORD
        from accounts.models import User
        from agreements.models import Council
        from extensions import db
        from remote import agent_protocol, ingest
        from remote.agents import create_enrollment_key
        from support.tickets.models import Ticket

        councils = db.session.scalars(sa.select(Council).order_by(Council.id)).all()
        out = {"password": DEMO_PASSWORD, "councils": {}, "agents": [],
               "people": {"admin": [], "manager": [], "technician": [], "clerk": []}}
        for council in councils:
            tickets = db.session.scalars(sa.select(Ticket.id).where(Ticket.council_id == council.id)
                                         .order_by(Ticket.id.desc()).limit(30)).all()
            out["councils"][council.slug] = {"id": council.id, "slug": council.slug, "tickets": tickets}
        for user in db.session.scalars(sa.select(User).where(User.active.is_(True))):
            entry = {"email": user.email, "role": user.role}
            if user.role == "clerk":
                entry["council"] = user.council.slug
            out["people"][user.role].append(entry)
        keys = {council.id: create_enrollment_key(council, actor=None) for council in councils}
        for i in range(agents):
            council = councils[i % len(councils)]
            hostname = f"{council.slug}-pc-{i:03d}"
            body = agent_protocol.EnrollIn.model_validate({
                "enrollment_key": keys[council.id], "hostname": hostname, "os": "Debian GNU/Linux 12 (bookworm)",
                "inventory": {"hostname": hostname, "os_name": "Linux"}})
            _agent, token = ingest.enroll(body)
            out["agents"].append({"hostname": hostname, "token": token})
        db.session.commit()
    fixture.write_text(json.dumps(out))
    print(f"prepared {len(out['agents'])} agents, {sum(len(v) for v in out['people'].values())} logins, "
          f"{len(councils)} councils", flush=True)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of steady state (all users running)")
    parser.add_argument("--ui-users", type=int, default=100)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--agent-interval", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started a second (ramp-up)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    name = f"councildesk_load_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="councildesk-load-"))
    with _admin_engine().connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_URL}/{name}"
    port = _free_port()
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "COUNCILDESK_ENV": "production",
                "FLASK_APP": "app", "COUNCILDESK_INSTANCE_PATH": str(work / "instance"),
                # Every simulated person signs in from 127.0.0.1: the per-address login limit
                # (5 a minute) would refuse all but five of them.
                "COUNCILDESK_LOGIN_RATE_LIMIT": "100000 per minute",
                # The simulated admin signs in with the password only (production requires a
                # second step of admins).
                "COUNCILDESK_TOTP_REQUIRED_ROLES": "none",
                "COUNCILDESK_REMOTE_AGENT_REPORT_INTERVAL": str(int(args.agent_interval)),
                "COUNCILDESK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
    processes: list[subprocess.Popen] = []
    status = 1
    try:
        _run([BIN / "flask", "db", "upgrade"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _run([BIN / "flask", "seed-demo"], env, stdout=subprocess.DEVNULL)
        fixture = work / "fixture.json"
        prepare(env, args.agents, fixture)
        logs = work / "logs"
        logs.mkdir()
        processes.append(subprocess.Popen(
            [BIN / "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers), "--threads",
             str(args.threads), "--access-logfile", "-", "app:create_app()"], cwd=ROOT, env=env,
            stdout=open(logs / "gunicorn.log", "wb"), stderr=subprocess.STDOUT))  # noqa: SIM115
        processes.append(subprocess.Popen([BIN / "flask", "scheduler"], cwd=ROOT, env=env,
                                          stdout=open(logs / "scheduler.log", "wb"),  # noqa: SIM115
                                          stderr=subprocess.STDOUT))
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        summary = work / "summary.json"
        load_env = {**env, "LOAD_FIXTURE": str(fixture), "LOAD_SUMMARY": str(summary),
                    "LOAD_UI_USERS": str(args.ui_users), "LOAD_AGENTS": str(args.agents),
                    "LOAD_AGENT_INTERVAL": str(args.agent_interval)}
        users = args.ui_users + args.agents
        ramp = users / args.spawn_rate
        print(f"load: {args.ui_users} UI users + {args.agents} agents, {ramp:.0f}s of ramp-up then "
              f"{args.duration:.0f}s measured; gunicorn "
              f"{args.workers} workers x {args.threads} threads; {os.cpu_count()} CPU cores shared by locust, "
              f"PostgreSQL, gunicorn and the scheduler", flush=True)
        _run([BIN / "locust", "-f", ROOT / "bench" / "load" / "locustfile.py", "--headless", "--users", str(users),
              "--spawn-rate", str(args.spawn_rate), "--run-time", f"{int(ramp + args.duration + 1)}s", "--host",
              f"http://127.0.0.1:{port}", "--only-summary", "--csv", work / "locust", "--stop-timeout", "10",
              "--exit-code-on-error", "0"], load_env)
        result = json.loads(summary.read_text())
        status = 0 if result["ramp_up"]["failures"] == 0 else 1
        print(f"\nramp-up: {result['ramp_up']['requests']} requests, {result['ramp_up']['failures']} failures")
        print(f"{'group':<7}{'requests':>10}{'failures':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"  target")
        for group, target in TARGETS.items():
            r = result[group]
            ok = r["failures"] == 0 and r["p95_ms"] is not None and r["p95_ms"] < target
            status |= 0 if ok else 1
            print(f"{group:<7}{r['requests']:>10}{r['failures']:>10}{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}"
                  f"{r['p99_ms']:>9.0f}{r['max_ms']:>9.0f}  p95 < {target:.0f}, 0 errors: {'met' if ok else 'MISSED'}")
            for error in r["first_errors"]:
                print("   ", error)
        print(f"(CSV statistics and logs in {work})")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            with _admin_engine().connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return status


if __name__ == "__main__":
    sys.exit(main())
