"""Concurrent writes of hours through real HTTP (a live server, threads), on SQLite and on
PostgreSQL alike: nothing lost, no 5xx, thresholds announced exactly once, and no entry
slipping into a month that a concurrent close has closed."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from core.models import Notification, OutboxMail
from support.hours.models import TimeEntry, UsageAlert

pytestmark = pytest.mark.slow


def _post(url: str, token: str, body: dict | None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _run_together(calls) -> list[tuple[int, dict]]:
    """Start every call at the same instant (a barrier), each in its own thread."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i, fn):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_fifty_concurrent_entries(world, make_agreement, live_server, api_for, db, year):
    # 25 on-site entries of 15 min against 300 (80 % at 240, 100 % at 300), 25 remote of 5 min
    # against 100: both thresholds of both modes are crossed while the requests race.
    make_agreement(onsite=300, remote=100)
    tokens = [api_for(u).token for u in (world.technician, world.manager, world.admin)]
    day = f"{year}-03-04"
    calls = []
    for i in range(50):
        mode = "onsite" if i % 2 == 0 else "remote"
        body = {"council_id": world.council_a.id, "date": day, "minutes": 15 if mode == "onsite" else 5,
                "mode": mode, "description": f"Concurrent {i}", "travel_minutes": 10 if mode == "onsite" else 0}
        calls.append(lambda body=body, token=tokens[i % 3]: _post(f"{live_server.url}/api/v1/time-entries",
                                                                   token, body))
    results = _run_together(calls)
    assert [status for status, _body in results] == [201] * 50, results
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(TimeEntry)) == 50
    assert len({body["id"] for _status, body in results}) == 50
    sums = dict(db.session.execute(select(TimeEntry.mode, func.sum(TimeEntry.minutes)).group_by(TimeEntry.mode)).all())
    assert sums == {"onsite": 375, "remote": 125}
    # Exactly once per mode and threshold: one claim, one notification, two mails each.
    assert sorted(db.session.execute(select(UsageAlert.mode, UsageAlert.threshold)).all()) == [
        ("onsite", 80), ("onsite", 100), ("remote", 80), ("remote", 100)]
    notes = db.session.scalars(select(Notification).where(Notification.user_id == world.manager.id)).all()
    assert sorted((n.params["mode"], n.params["threshold"]) for n in notes) == [
        ("onsite", 80), ("onsite", 100), ("remote", 80), ("remote", 100)]
    assert db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.to_address == world.council_a.contact_email)) == 4
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 4
    usage = api_for(world.clerk_a).get(f"/api/v1/councils/{world.council_a.id}/usage?month={year}-03").json
    assert (usage["onsite"]["used_minutes"], usage["remote"]["used_minutes"], usage["travel_minutes"]) == (375, 125, 250)


def test_entries_racing_a_close(world, make_agreement, live_server, api_for, db, year):
    """Every entry either committed before the close (201) or was refused by it (409)."""
    from agreements.models import MonthClose

    make_agreement(onsite=300, remote=100)
    tech = api_for(world.technician).token
    manager = api_for(world.manager).token
    body = {"council_id": world.council_a.id, "date": f"{year}-05-06", "minutes": 10, "mode": "remote"}
    calls = [lambda: _post(f"{live_server.url}/api/v1/time-entries", tech, body) for _ in range(30)]
    calls.insert(15, lambda: _post(f"{live_server.url}/api/v1/councils/{world.council_a.id}/months/{year}-05/close",
                                   manager, None))
    results = _run_together(calls)
    statuses = [status for status, _body in results]
    assert statuses[15] == 200
    entries = [r for i, r in enumerate(results) if i != 15]
    assert {status for status, _body in entries} <= {201, 409}
    assert all(body["error"]["code"] == "month_closed" for status, body in entries if status == 409)
    db.session.commit()
    closed_at = db.session.scalar(select(MonthClose.closed_at))
    created = db.session.scalars(select(TimeEntry.created_at)).all()
    assert len(created) == sum(1 for status, _ in entries if status == 201)
    # No entry was written after the close took the month.
    assert all(at < closed_at for at in created)
