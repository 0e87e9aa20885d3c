"""Locust scenario of `make load` (bench/load/run_load.py prepares the data and the servers).

Two kinds of users, in fixed numbers (LOAD_UI_USERS, LOAD_AGENTS):

- **UI users**: people signed in through the login form (CSRF and all, as a browser does)
  who read pages with a think time of LOAD_THINK_MIN..MAX seconds: technicians (the ticket
  queue, a ticket, the hours dashboard, logging hours through the form), clerks (their
  tickets, a ticket, their assets, opening a ticket now and then), managers (councils, a
  council, the months, the health overview) and an admin (users, the audit log).
- **agents**: enrolled monitoring agents that POST a report every LOAD_AGENT_INTERVAL
  seconds (60), as remote/agent does, each with its own token and host name.

Every request is named "UI ..." or "agent ..." so that the two groups' percentiles can be
told apart; at the end the per-group figures of the steady state (from the moment every user
is running) are written to LOAD_SUMMARY (JSON), the ramp-up's counted apart.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import threading
import uuid

from locust import HttpUser, between, constant_pacing, events, task

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"]).read())  # noqa: SIM115 - read once at import
UI_USERS = int(os.environ.get("LOAD_UI_USERS", "100"))
AGENTS = int(os.environ.get("LOAD_AGENTS", "500"))
THINK = (float(os.environ.get("LOAD_THINK_MIN", "5")), float(os.environ.get("LOAD_THINK_MAX", "15")))
AGENT_INTERVAL = float(os.environ.get("LOAD_AGENT_INTERVAL", "60"))
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

_times: dict[str, list[float]] = {"UI": [], "agent": []}
_errors: dict[str, list[str]] = {"UI": [], "agent": []}
_lock = threading.Lock()
_agent_tokens = iter(FIXTURE["agents"])


_steady = threading.Event()  # set once every user is running: the figures count from then on
_ramp = {"requests": 0, "failures": 0}


@events.spawning_complete.add_listener
def _all_running(user_count, **_kw):
    _steady.set()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, **_kw):
    group = "agent" if name.startswith("agent") else "UI"
    with _lock:
        if not _steady.is_set():
            # The ramp-up: a hundred people signing in within a minute (scrypt on purpose).
            _ramp["requests"] += 1
            _ramp["failures"] += exception is not None
            if exception is not None:
                _errors[group].append(f"(ramp-up) {name}: {exception}"[:300])
            return
        _times[group].append(response_time)
        if exception is not None:
            _errors[group].append(f"{name}: {exception}"[:300])


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@events.quitting.add_listener
def _summary(environment, **_kw):
    out = {"ramp_up": dict(_ramp)}
    for group, values in _times.items():
        out[group] = {"requests": len(values), "failures": len(_errors[group]), "p50_ms": _percentile(values, 0.5),
                      "p95_ms": _percentile(values, 0.95), "p99_ms": _percentile(values, 0.99),
                      "max_ms": max(values) if values else None, "first_errors": _errors[group][:10]}
    with open(os.environ.get("LOAD_SUMMARY", "load-summary.json"), "w") as fh:
        json.dump(out, fh, indent=1)


def _login_plan() -> list[dict]:
    """Who the UI users are: in every ten, four technicians, four clerks, two managers; and
    one admin among them all."""
    people = FIXTURE["people"]
    roles = ["technician"] * 4 + ["clerk"] * 4 + ["manager"] * 2
    plan = [people[roles[i % 10]][i % len(people[roles[i % 10]])] for i in range(UI_USERS)]
    if plan:
        plan[0] = people["admin"][0]
    return plan


_plan = _login_plan()
_plan_lock = threading.Lock()


class UIUser(HttpUser):
    fixed_count = UI_USERS
    wait_time = between(*THINK)

    def on_start(self):
        with _plan_lock:
            self.person = _plan.pop() if _plan else random.choice(FIXTURE["people"]["technician"])
        page = self.client.get("/login", name="UI GET /login")
        token = CSRF.search(page.text)
        resp = self.client.post("/login", name="UI POST /login", allow_redirects=False, data={
            "csrf_token": token.group(1) if token else "", "email": self.person["email"],
            "password": FIXTURE["password"]})
        if resp.status_code != 302:
            resp.failure(f"login of {self.person['email']} answered {resp.status_code}")
        self.role = self.person["role"]
        self.rng = random.Random(self.person["email"] + str(id(self)))

    def _get(self, path: str, name: str):
        with self.client.get(path, name=f"UI GET {name}", catch_response=True, allow_redirects=False) as resp:
            if resp.status_code not in (200, 302):
                resp.failure(f"{resp.status_code}")

    def _form_post(self, page: str, path: str, name: str, data: dict):
        form = self.client.get(page, name=f"UI GET {name} (form)")
        token = CSRF.search(form.text)
        data = {"csrf_token": token.group(1) if token else "", **data}
        with self.client.post(path, name=f"UI POST {name}", data=data, allow_redirects=False,
                              catch_response=True) as resp:
            if resp.status_code != 302:
                resp.failure(f"{resp.status_code}: {resp.text[:200]}")

    def _council(self) -> dict:
        if self.role == "clerk":
            return FIXTURE["councils"][self.person["council"]]
        return FIXTURE["councils"][self.rng.choice(sorted(FIXTURE["councils"]))]

    @task(4)
    def tickets(self):
        self._get("/tickets", "/tickets")

    @task(4)
    def ticket(self):
        tickets = self._council()["tickets"]
        if tickets:
            self._get(f"/tickets/{self.rng.choice(tickets)}", "/tickets/<id>")

    @task(2)
    def assets(self):
        self._get(f"/councils/{self._council()['slug']}/assets", "/councils/<slug>/assets")

    @task(2)
    def council(self):
        self._get(f"/councils/{self._council()['slug']}", "/councils/<slug>")

    @task(2)
    def by_role(self):
        if self.role == "technician":
            self._get("/hours", "/hours")
        elif self.role == "manager":
            self._get(self.rng.choice(["/months", "/health", "/councils"]), "/months|/health|/councils")
        elif self.role == "admin":
            self._get(self.rng.choice(["/admin/users", "/admin/audit"]), "/admin/*")
        else:
            self._get("/notifications", "/notifications")

    @task(1)
    def write(self):
        council = self._council()
        if self.role == "technician":
            self._form_post("/log-hours", "/log-hours", "/log-hours", {
                "council_id": council["id"], "date": dt.date.today().isoformat(), "duration": "45 min",
                "mode": "remote", "travel": "", "description": "Load test: remote support"})
        elif self.role == "clerk" and self.rng.random() < 0.3:
            self._form_post("/tickets/new", "/tickets/new", "/tickets/new", {
                "title": "Load test: the printer jams", "description": "Since this morning.",
                "priority": "normal", "category": "hardware", "asset_id": "0"})
        else:
            self._get(f"/councils/{council['slug']}/health", "/councils/<slug>/health")


class AgentUser(HttpUser):
    fixed_count = AGENTS
    wait_time = constant_pacing(AGENT_INTERVAL)

    def on_start(self):
        import gevent

        self.agent = next(_agent_tokens)
        # Agents report at random moments of their interval, as real ones do.
        gevent.sleep(random.uniform(0, AGENT_INTERVAL))

    @task
    def report(self):
        body = {
            "collected_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "report_id": uuid.uuid4().hex,
            "metrics": {"cpu_percent": round(random.uniform(1, 60), 1),
                        "memory_percent": round(random.uniform(20, 70), 1), "swap_percent": 0.0,
                        "disks": [{"mount": "/", "total_bytes": 100 * 2**30, "used_bytes": 40 * 2**30,
                                   "fstype": "ext4"}],
                        "uptime_seconds": 12345, "load_1": 0.3, "load_5": 0.2, "load_15": 0.1},
            "inventory": {"hostname": self.agent["hostname"], "os": "Debian GNU/Linux 12 (bookworm)",
                          "os_name": "Linux", "ram_bytes": 8 * 2**30},
            "agent": {"version": "1.0.0", "spool_depth": 0, "spool_dropped": 0, "spool_rejected": 0},
        }
        with self.client.post("/api/v1/agents/report", json=body, name="agent POST /api/v1/agents/report",
                              headers={"Authorization": f"Bearer {self.agent['token']}"},
                              catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"{resp.status_code}: {resp.text[:200]}")
