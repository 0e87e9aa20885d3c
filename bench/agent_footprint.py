"""Footprint of the monitoring agent: CPU share and memory of the real process.

Runs ``python -m remote.agent run`` with a 60 s interval against a local stub server for
``--seconds`` (default 180) and measures the child process:

- CPU as % of one core, in steady state (from the first report to the end) and overall
  (startup included). On Linux the CPU time comes from /proc/<pid>/task/*/schedstat
  (nanoseconds); psutil's cpu_times counts 10 ms clock ticks, too coarse for a process that
  works a few milliseconds a minute.
- RSS in MB (peak over the run, sampled each second, and at the end).

Targets (docs/lessons.md): <= 0.01 % of a core on average, <= 25 MB RSS. The figures are
printed next to baselines measured in the same run: a bare ``python -c "time.sleep()"`` and
the same with ``import psutil``, so that the ratio says what the agent adds to the
interpreter on this machine.

    .venv/bin/python bench/agent_footprint.py [--seconds 180] [--interval 60] [--tls]
"""

from __future__ import annotations

import argparse
import glob
import json
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remote.agent.config import AgentConfig, save_config  # noqa: E402 - needs ROOT on sys.path

TOKEN = "bench-token"
CPU_TARGET_PERCENT = 0.01
RSS_TARGET_MB = 25.0


class _Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    reports: list[float] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.headers.get("Authorization") == f"Bearer {TOKEN}" and json.loads(body)
        reply = b"{}"
        self.send_response(202 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
        if ok:
            _Stub.reports.append(time.monotonic())


def _tls_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU time of all threads of ``proc``; nanosecond precision where Linux offers it."""
    total = 0.0
    found = False
    for path in glob.glob(f"/proc/{proc.pid}/task/*/schedstat"):
        try:
            with open(path) as handle:
                total += int(handle.read().split()[0]) / 1e9
            found = True
        except (OSError, ValueError, IndexError):
            continue
    if found:
        return total
    times = proc.cpu_times()
    return times.user + times.system


def rss_mb(proc: psutil.Process) -> float:
    return proc.memory_info().rss / (1024 * 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="measured duration (default 180)")
    parser.add_argument("--interval", type=float, default=60.0, help="report interval (default 60)")
    parser.add_argument("--tls", action="store_true", help="https stub with a self-signed CA")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    context, ca_file = _tls_context(workdir) if args.tls else (None, None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if args.tls else "http"
    config = workdir / "agent.json"
    save_config(
        str(config),
        AgentConfig(
            server=f"{scheme}://127.0.0.1:{server.server_address[1]}",
            agent_id=1,
            token=TOKEN,
            report_interval_seconds=int(args.interval),
            ca_file=str(ca_file) if ca_file else None,
        ),
    )

    sleep_for = str(args.seconds + 60)
    baselines = {
        "bare python": subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({sleep_for})"]),
        "python + psutil": subprocess.Popen([sys.executable, "-c", f"import psutil, time; time.sleep({sleep_for})"]),
    }
    agent_proc = subprocess.Popen(
        [sys.executable, "-m", "remote.agent", "run", "--config", str(config), "--interval", str(args.interval)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    agent = psutil.Process(agent_proc.pid)
    started = time.monotonic()
    try:
        # Steady state starts with the first report (imports, CA loading and the startup
        # splay are one-off costs, shown separately as "overall").
        while not _Stub.reports:
            if agent_proc.poll() is not None:
                print(agent_proc.stderr.read() if agent_proc.stderr else "", file=sys.stderr)
                raise SystemExit("agent exited before its first report")
            time.sleep(0.05)
        t0 = time.monotonic()
        cpu0 = cpu_seconds(agent)
        startup_cpu = cpu0
        peak = rss_mb(agent)
        deadline = t0 + args.seconds
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            peak = max(peak, rss_mb(agent))
        t1 = time.monotonic()
        cpu1 = cpu_seconds(agent)
        final_rss = rss_mb(agent)
        baseline_rss = {name: rss_mb(psutil.Process(p.pid)) for name, p in baselines.items()}
        baseline_cpu = {name: cpu_seconds(psutil.Process(p.pid)) for name, p in baselines.items()}
    finally:
        agent_proc.terminate()
        for proc in baselines.values():
            proc.terminate()
        for proc in (agent_proc, *baselines.values()):
            proc.wait(timeout=10)
        server.shutdown()

    window = t1 - t0
    reports = sum(1 for t in _Stub.reports if t0 <= t <= t1)
    steady_percent = (cpu1 - cpu0) / window * 100
    overall_percent = cpu1 / (t1 - started) * 100
    per_report_ms = (cpu1 - cpu0) / reports * 1000 if reports else float("nan")

    print(f"agent footprint: {scheme}, interval {args.interval:g} s, steady window {window:.0f} s, {reports} reports")
    print(f"  CPU steady      {steady_percent:.4f} % of one core   (target <= {CPU_TARGET_PERCENT} %)")
    print(f"  CPU per report  {per_report_ms:.2f} ms (wake-up, collection, JSON, HTTP)")
    print(
        f"  CPU overall     {overall_percent:.4f} % incl. {startup_cpu * 1000:.0f} ms startup over {t1 - started:.0f} s"
    )
    print(f"  RSS peak        {peak:.1f} MB   (target <= {RSS_TARGET_MB:g} MB), at end {final_rss:.1f} MB")
    for name, rss in baseline_rss.items():
        print(
            f"  baseline {name:<16} RSS {rss:.1f} MB, CPU {baseline_cpu[name] * 1000:.0f} ms; agent/baseline RSS {peak / rss:.2f}x"
        )
    cpu_ok = steady_percent <= CPU_TARGET_PERCENT
    rss_ok = peak <= RSS_TARGET_MB
    print(f"  verdict: CPU {'OK' if cpu_ok else 'OVER'}, RSS {'OK' if rss_ok else 'OVER'}")
    return 0 if cpu_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
