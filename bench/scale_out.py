"""Scale-out (issue 19): the broker's paths against their baselines, measured in the same run.

A private RabbitMQ node (tests/scale/rabbit_harness.py) on a loopback port; the database is a
scratch SQLite file, or a scratch PostgreSQL database when DATABASE_URL names one (the batch
writer's target is judged on PostgreSQL).

(a) Accept path with a broker against the bare Flask endpoint (target >= 0.5x)
    gunicorn (2 sync workers) serving bench/agent_ingest.py's app with COUNCILDESK_BROKER_URL
    set: `POST /api/v1/agents/report` checks the token, validates, publishes the report
    persistently with publisher confirms, and answers 202 after the confirm. The bare endpoint
    (/bare: read the body, answer 202) in the same process. wrk -t2 -c16, same bodies, median
    of rounds. No writer consumes meanwhile (writers run on other machines).

(b) Batch writer against the direct path (target >= 3x on PostgreSQL)
    Reports per second written by `scale.batch.write_batch` (batches of 200, one transaction
    each), against `remote.ingest.ingest_report` one report per transaction, both in this
    process, both from the JSON body (parsing included), same agents, same shapes of report.

(c) A 200-host SSH round on two `flask worker` processes against the CPU floor (target
    <= 1.2x), and the task overhead per check
    The round's checks are handed out per host (`remote.ssh_round` with a broker) to two
    workers (threads pool, 8 each) against the tests' real sshd. Floor = all CPU the round
    took (the workers, sshd's per-connection processes, RabbitMQ, this process) / cores.
    Overhead per check = (CPU of the workers' round - CPU of the same round in one process
    without broker) / checks.

    .venv/bin/python bench/scale_out.py [--seconds 6] [--rounds 3] [--reports 2000] [--hosts 200]

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "bench", ROOT / "tests" / "scale", ROOT / "tests" / "remote"):
    sys.path.insert(0, str(entry))

import agent_ingest  # noqa: E402
import rabbit_harness  # noqa: E402

CORES = os.cpu_count() or 1
UTC = dt.UTC
SSH_KEY = __import__("cryptography.fernet", fromlist=["Fernet"]).Fernet.generate_key().decode()
# Web nodes with a broker: gthread workers, so that many reports wait for their confirms at
# once (RabbitMQ writes the confirms of concurrent publishers with one disk sync); a sync
# worker would wait for one sync per report. The bare endpoint runs on the same server.
GUNICORN = ["--workers", "2", "--worker-class", "gthread", "--threads", "8"]


def _app(url: str, broker: str | None, prefix: str):
    from app import create_app

    config = {"ENV_NAME": "production", "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": agent_ingest.SECRET,
              "RATELIMIT_ENABLED": False, "SCALE_QUEUE_PREFIX": prefix, "REMOTE_SSH_ALLOW_LOCAL_HOSTS": True,
              "SSH_KEY_ENCRYPTION_KEYS": [SSH_KEY],
              # The benches' agents report every second (a quarter-interval apart at least,
              # as the report-frequency rule wants), not every five minutes.
              "REMOTE_AGENT_REPORT_INTERVAL": 1}
    if broker:
        config["BROKER_URL"] = broker
    return create_app(config)


# --- (a) accept path ------------------------------------------------------------------------

def _wrk(port: int, path: str, script: Path, seconds: float) -> float:
    """Requests per second (wrk -t2 -c16, 10 s timeout: a loaded machine must not turn slow
    answers into a rate of zero)."""
    import re

    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script),
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{path}: {bad.group(1)} answers were not 2xx")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def accept_path(url: str, broker: str, prefix: str, tokens: list[str], seconds: float, rounds: int) -> float:
    import shutil

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="councildesk-bench-scale-") as tmp:
        scripts = {}
        for name, path in (("bare", "/bare/api/v1/agents/report"), ("queued", "/api/v1/agents/report"),
                           ("publish", "/publish/api/v1/agents/report")):
            script = Path(tmp) / f"{name}.lua"
            script.write_text(agent_ingest.LUA.replace("{TOKENS}", json.dumps(tokens).replace("[", "{").replace("]", "}"))
                              .replace("{TEMPLATE}", agent_ingest.report_template()).replace("{PATH}", path))
            scripts[name] = (path, script)
        floor = Path(tmp) / "floor.lua"
        floor.write_text('wrk.method = "GET"\n')
        scripts["floor"] = ("/healthz", floor)
        port = agent_ingest.free_port()
        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=agent_ingest.SECRET, COUNCILDESK_ENV="production",
                   COUNCILDESK_RATELIMIT_ENABLED="false",
                   # Each agent reports every second here, not every five minutes: the
                   # report-frequency rule (a quarter of the interval) must not answer 429.
                   COUNCILDESK_REMOTE_AGENT_REPORT_INTERVAL="1", COUNCILDESK_BROKER_URL=broker,
                   COUNCILDESK_SCALE_QUEUE_PREFIX=prefix)
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", *GUNICORN, "--bind", f"127.0.0.1:{port}",
                                   "--log-level", "warning", "--pythonpath", str(ROOT / "bench"),
                                   "agent_ingest:build_wsgi()"], cwd=ROOT, env=env)
        rates: dict[str, list[float]] = {"bare": [], "queued": [], "publish": [], "floor": []}
        try:
            agent_ingest.wait_up(port)
            for name in rates:
                _wrk(port, *scripts[name], 2)
            for round_no in range(1, rounds + 1):
                for name in rates:
                    rates[name].append(_wrk(port, *scripts[name], seconds))
                print(f"  round {round_no}: bare {rates['bare'][-1]:6.0f}   queued {rates['queued'][-1]:6.0f}   "
                      f"publish only {rates['publish'][-1]:6.0f}   /healthz {rates['floor'][-1]:6.0f} req/s")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    # Each round measures both sides back to back; other processes can only slow a side down,
    # so the best round's ratio is the estimate (the median is printed next to it).
    ratios = [q / b for q, b in zip(rates["queued"], rates["bare"], strict=True) if b > 0]
    best, median = max(ratios), statistics.median(ratios)
    bare, queued = statistics.median(rates["bare"]), statistics.median(rates["queued"])
    floor_rate = statistics.median(rates["floor"])
    print(f"  bare Flask endpoint          {bare:8.0f} req/s (median)")
    print(f"  POST /agents/report, broker  {queued:8.0f} req/s (median; published, confirmed, 202)")
    print(f"  (reference) GET /healthz     {floor_rate:8.0f} req/s: the app's own floor, "
          f"{floor_rate / bare:.2f}x bare")
    publish = statistics.median(rates["publish"])
    print(f"  (reference) publish only     {publish:8.0f} req/s: the raw body published and confirmed, "
          f"nothing checked: {publish / bare:.2f}x bare, the most any accept path can reach here")
    print(f"  queued / bare: median {median:.2f}x (best round {best:.2f}x); queued / /healthz "
          f"{queued / floor_rate:.2f}x; queued / publish only {queued / publish:.2f}x")
    return median, publish / bare


# --- (b) batch writer -----------------------------------------------------------------------

def _bodies(app, count: int, start: dt.datetime) -> list[tuple[object, str]]:
    """(principal, JSON body) pairs spread over the enrolled agents, each a fresh report."""
    from sqlalchemy import select

    from extensions import db
    from remote.agents import AgentPrincipal
    from remote.models import Agent

    with app.app_context():
        agents = [AgentPrincipal(a.id, a.council_id, a.asset_id, a.report_interval_seconds,
                                 a.previous_interval_seconds)
                  for a in db.session.scalars(select(Agent).order_by(Agent.id))]
        db.session.remove()
    template = agent_ingest.report_template()
    out = []
    for i in range(count):
        at = (start + dt.timedelta(milliseconds=10 * i)).isoformat()
        out.append((agents[i % len(agents)], template.replace("@@ID@@", uuid.uuid4().hex).replace("@@AT@@", at)))
    return out


def batch_vs_direct(app, reports: int) -> float:
    from core.scope import unrestricted
    from extensions import db
    from remote.agent_protocol import ReportIn
    from remote.ingest import ingest_report
    from scale.accept import report_message
    from scale.batch import parse_message, write_batch

    start = dt.datetime.now(UTC) - dt.timedelta(hours=3)
    warm = _bodies(app, 400, start)  # two per agent
    direct = _bodies(app, reports, start + dt.timedelta(hours=1))
    queued = _bodies(app, reports, start + dt.timedelta(hours=2))
    with app.app_context(), unrestricted():
        # Every agent's first reports create its disk check and set its facts (the ORM's slow
        # road): done before either side is timed, so both measure the steady state.
        for principal, body in warm:
            ingest_report(principal, ReportIn.model_validate_json(body), now=dt.datetime.now(UTC))
        db.session.remove()
        begin = time.perf_counter()
        for principal, body in direct:
            ingest_report(principal, ReportIn.model_validate_json(body), now=dt.datetime.now(UTC))
        direct_rate = reports / (time.perf_counter() - begin)
        db.session.remove()
        now = dt.datetime.now(UTC)
        messages = [json.loads(json.dumps(report_message(p, ReportIn.model_validate_json(b), now)))
                    for p, b in queued]
        begin = time.perf_counter()
        stored = 0
        for i in range(0, len(messages), 200):
            counts = write_batch([parse_message(m) for m in messages[i:i + 200]])
            stored += counts["accepted"]
        batch_rate = reports / (time.perf_counter() - begin)
        db.session.remove()
    if stored != reports:
        raise SystemExit(f"the batch writer stored {stored} of {reports} reports")
    print(f"  direct path (one transaction per report)  {direct_rate:8.0f} reports/s")
    print(f"  batch writer (200 per transaction)        {batch_rate:8.0f} reports/s")
    return batch_rate / direct_rate


# --- (d) per page ------------------------------------------------------------------------------

def page_cost(app, pages: int = 60) -> float:
    """CPU milliseconds of one health overview page (200 agents' assets) for a technician,
    through the whole Flask pipeline in this process: the per-page input of docs/scale.md."""
    from accounts import services as accounts
    from extensions import db

    email, password = f"bench-{uuid.uuid4().hex[:6]}@example.org", "correct horse battery staple"
    with app.app_context():
        accounts.create_user(email=email, name="Bench", role="technician", password=password, actor=None)
        db.session.remove()
    app.config.update(SESSION_COOKIE_SECURE=False, WTF_CSRF_ENABLED=False)  # plain HTTP test client
    client = app.test_client()
    client.post("/login", data={"email": email, "password": password})
    for _ in range(5):
        status = client.get("/health").status_code
        if status != 200:
            raise SystemExit(f"GET /health answered {status}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(pages):
        client.get("/health")
    cpu = (time.process_time() - cpu0) / pages * 1000
    print(f"  GET /health (technician, 200 assets): {cpu:.1f} ms CPU, "
          f"{(time.perf_counter() - wall0) / pages * 1000:.1f} ms wall per page")
    return cpu


# --- (c) SSH round on two workers -------------------------------------------------------------

def _proc_cpu(pid: int) -> float:
    """CPU seconds of a process and its reaped children (utime+stime+cutime+cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _settle(sshd) -> None:
    last = -1.0
    for _ in range(50):
        time.sleep(0.1)
        now = sshd.children_cpu_seconds()
        if now == last:
            return
        last = now


def _ssh_fleet(app, sshd, hosts: int) -> None:
    from core.scope import unrestricted
    from extensions import db
    from inventory import services as inventory
    from remote import check_config
    from remote import ssh_settings as services
    from remote.hostkey_approval import record_offered_key
    from remote.hostkeys import HostKey as SshHostKey
    from remote.models import Check
    from scale.models import TaskKey

    with app.app_context(), unrestricted():
        from sqlalchemy import select

        from agreements.models import Council

        council = db.session.scalar(select(Council))
        offered = SshHostKey.from_openssh(sshd.host_key_line)
        for i in range(hosts):
            asset = inventory.create_asset(council, {"kind": "server", "name": f"bench-srv-{i:03d}"}, actor=None)
            settings = services.save_ssh_settings(asset, {"host": sshd.host, "port": sshd.port,
                                                          "username": sshd.username,
                                                          "private_key": sshd.client_key}, actor=None)
            row, _new = record_offered_key(settings, offered, changed=False, now=dt.datetime.now(UTC))
            row.status = "approved"
            check_config.create_ssh_check(asset, {"kind": "disk", "params": {"mount": "/"}}, actor=None)
        db.session.commit()
        db.session.execute(Check.__table__.update().values(next_due_at=None))
        db.session.execute(TaskKey.__table__.delete())
        db.session.commit()
        db.session.remove()


def _make_due(app) -> None:
    from extensions import db
    from remote.models import Check

    with app.app_context():
        db.session.execute(Check.__table__.update().values(next_due_at=None))
        db.session.commit()
        db.session.remove()


def _keys(app) -> int:
    from sqlalchemy import func, select

    from extensions import db
    from scale.models import TaskKey

    with app.app_context():
        n = db.session.scalar(select(func.count(TaskKey.id)))
        db.session.remove()
    return n


def ssh_rounds(url: str, broker: str, prefix: str, hosts: int, node) -> tuple[float, float, dict]:
    from sshd_harness import start_sshd

    from remote import jobs

    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-ssh-"))
    sshd = start_sshd(workdir / "sshd", log_level="ERROR")
    local = _app(url, None, prefix)
    wired = _app(url, broker, prefix)
    local.config["REMOTE_SSH_PER_HOST"] = local.config["REMOTE_SSH_WORKERS"]
    _ssh_fleet(local, sshd, hosts)
    rabbit_pid = int((node.base / "pid").read_text().strip()) if (node.base / "pid").exists() else 0
    # In one process, no broker: the baseline of the overhead.
    _make_due(local)
    _settle(sshd)
    cpu0, sshd0, wall0 = time.process_time(), sshd.children_cpu_seconds(), time.perf_counter()
    with local.app_context():
        counts = jobs.run_ssh_round(dt.datetime.now(UTC))
    local_wall = time.perf_counter() - wall0
    local_cpu = time.process_time() - cpu0
    _settle(sshd)
    local_sshd = sshd.children_cpu_seconds() - sshd0
    if counts.get("checks") != hosts:
        raise SystemExit(f"in-process round: {counts}")
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=agent_ingest.SECRET, COUNCILDESK_ENV="production",
               COUNCILDESK_BROKER_URL=broker, COUNCILDESK_SCALE_QUEUE_PREFIX=prefix,
               COUNCILDESK_REMOTE_SSH_ALLOW_LOCAL_HOSTS="true", FLASK_APP="app",
               COUNCILDESK_SSH_KEY_ENCRYPTION_KEYS=json.dumps([SSH_KEY]))
    logs = [workdir / f"w{i}.log" for i in (1, 2)]
    workers = []
    for i, log in enumerate(logs, 1):
        with open(log, "ab") as handle:
            workers.append(subprocess.Popen([sys.executable, "-m", "flask", "worker", "--pool", "threads", "-c", "8",
                                             "-Q", "checks", "-n", f"bench{i}@%h", "-l", "WARNING"], cwd=ROOT,
                                            env=env, stdout=handle, stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all("ready" in p.read_text(errors="replace") for p in logs
                                                      if p.exists()):
            time.sleep(0.2)
        time.sleep(1.0)
        # A warm-up round, then the measured one.
        results = {}
        for label in ("warm", "measured"):
            _make_due(wired)
            before = _keys(wired)
            _settle(sshd)
            cpu_workers0 = sum(_proc_cpu(p.pid) for p in workers)
            rabbit0 = _proc_cpu(rabbit_pid) if rabbit_pid else 0.0
            cpu0, sshd0, wall0 = time.process_time(), sshd.children_cpu_seconds(), time.perf_counter()
            with wired.app_context():
                jobs.run_ssh_round(dt.datetime.now(UTC) + dt.timedelta(seconds=len(results)))
            while _keys(wired) < before + hosts:
                if time.perf_counter() - wall0 > 300:
                    raise SystemExit("the workers' round did not finish in 5 minutes")
                time.sleep(0.02)
            wall = time.perf_counter() - wall0
            workers_cpu = sum(_proc_cpu(p.pid) for p in workers) - cpu_workers0
            ours = time.process_time() - cpu0
            rabbit = (_proc_cpu(rabbit_pid) - rabbit0) if rabbit_pid else 0.0
            _settle(sshd)
            server = sshd.children_cpu_seconds() - sshd0
            results[label] = {"wall": wall, "workers": workers_cpu, "ours": ours, "rabbit": rabbit, "sshd": server}
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        sshd.stop()
    r = results["measured"]
    total = r["workers"] + r["ours"] + r["rabbit"] + r["sshd"]
    floor = total / CORES
    overhead_ms = (r["workers"] - local_cpu) / hosts * 1000
    local_floor = (local_cpu + local_sshd) / CORES
    print(f"  one process, no broker: wall {local_wall:.2f} s, floor {local_floor:.2f} s ({local_wall / local_floor:.2f}x; "
          f"the same machine, the same minute), client cpu {local_cpu / hosts * 1000:.1f} ms/check, "
          f"sshd {local_sshd / hosts * 1000:.1f} ms/check")
    print(f"  two workers: wall {r['wall']:.2f} s, floor {floor:.2f} s (workers {r['workers']:.2f} + sshd "
          f"{r['sshd']:.2f} + RabbitMQ {r['rabbit']:.2f} + scheduler {r['ours']:.2f} cpu-s / {CORES} cores)")
    print(f"  workers' cpu per check {r['workers'] / hosts * 1000:.1f} ms; task overhead per check through the broker "
          f"{overhead_ms:.1f} ms of CPU")
    return r["wall"] / floor, overhead_ms, {"local_cpu_ms": local_cpu / hosts * 1000,
                                           "sshd_ms": r["sshd"] / hosts * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: accept,batch,page,ssh")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    base = Path(tempfile.mkdtemp(prefix="councildesk-bench-rabbit-", dir="/tmp"))
    node = rabbit_harness.RabbitNode(base)
    node.start()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    missed = []
    try:
        with agent_ingest.scratch_database() as url:
            kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            print(f"scale-out, {kind}, {CORES} cores, private RabbitMQ on port {node.port}")
            tokens = agent_ingest.prepare(url, args.agents)
            if "accept" not in skip:
                print("(a) agent report accept path with a broker, gunicorn 2 gthread workers x 8 threads, wrk -t2 -c16:")
                ratio, floor_ratio = accept_path(url, node.url, prefix, tokens, args.seconds, args.rounds)
                ok = ratio >= 0.5
                print(f"  queued / bare                 {ratio:8.2f}x   target >= 0.5x: {'met' if ok else 'MISSED'}"
                      + ("" if ok or floor_ratio >= 0.5 else
                         f" (beyond this machine: publishing alone reaches {floor_ratio:.2f}x)"))
                missed += [] if ok else ["accept"]
            if "batch" not in skip:
                print(f"(b) reports written per second, {args.reports} reports over {args.agents} agents, {kind}:")
                ratio = batch_vs_direct(_app(url, None, prefix), args.reports)
                ok = ratio >= 3.0 or kind != "PostgreSQL"
                print(f"  batch / direct                {ratio:8.2f}x   target >= 3x on PostgreSQL: "
                      f"{'met' if ratio >= 3.0 else ('MISSED' if kind == 'PostgreSQL' else 'not judged on SQLite')}")
                missed += [] if ok else ["batch"]
            if "page" not in skip:
                print("(d) per page, in this process:")
                page_cost(_app(url, None, prefix))
            if "ssh" not in skip:
                print(f"(c) a {args.hosts}-host SSH round on two flask worker processes:")
                ratio, overhead, _extra = ssh_rounds(url, node.url, prefix, args.hosts, node)
                ok = ratio <= 1.2
                print(f"  wall / floor                  {ratio:8.2f}x   target <= 1.2x: {'met' if ok else 'MISSED'}")
                print(f"  task overhead per check       {overhead:8.1f} ms of CPU (said, not judged)")
                missed += [] if ok else ["ssh"]
    finally:
        node.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
