"""Agents cannot flood (issue 14, item 1): a cap on disk checks per asset with one alert to
the office, and reports without an id deduplicated by their whole content."""

from __future__ import annotations

import datetime as dt

from remote_support import report_body
from sqlalchemy import func, select

from support.tickets.models import Ticket


def _count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _full_disks(n: int, tag: str = "") -> list[dict]:
    return [{"mount": f"/mnt/{tag}{i}", "total_bytes": 100 * 2**30, "used_bytes": 99 * 2**30, "fstype": "ext4"}
            for i in range(n)]


def flood(db, agent, paced: bool = True) -> dict:
    """`paced`: each report a quarter interval after the last (the most the frequency rule lets
    through); otherwise back to back, as an attacker sends them."""
    from core.models import Notification, OutboxMail
    from remote.models import Check

    for round_ in range(3):
        resp = agent.report(report_body(disks=_full_disks(64, tag=f"r{round_}-")), paced=paced)
        assert resp.status_code in (202, 429), resp.get_data(as_text=True)
    return {"checks": _count(db, Check, Check.asset_id == agent.asset_id, Check.kind == "disk"),
            "tickets": _count(db, Ticket), "notifications": _count(db, Notification), "mails": _count(db, OutboxMail)}


def test_three_64_mount_reports_stay_under_the_cap_with_one_alert(app, db, world, enroll, capsys):
    from core.models import Notification

    agent = enroll()
    figures = flood(db, agent)
    with capsys.disabled():
        print(f"\nflood of three 64-mount reports, paced: {figures}")
    assert figures["checks"] == app.config["REMOTE_AGENT_MAX_DISK_CHECKS"] == 32
    # Main before issue 14's last part: 32 tickets, 65 notifications, 33 mails. Now one
    # ticket lists the burst, and each technician gets one notification per subject.
    assert figures["tickets"] == 1
    assert figures["notifications"] <= 4
    assert figures["mails"] <= 3
    cap_notes = _count(db, Notification, Notification.kind == "remote.disk_cap")
    assert cap_notes == 1  # one technician in the world, told once
    # A later report naming the same extra mounts tells nobody again.
    agent.report(report_body(disks=_full_disks(64, tag="r0-")))
    assert _count(db, Notification, Notification.kind == "remote.disk_cap") == 1


def test_reports_without_id_are_deduplicated_by_their_whole_content(app, db, world, enroll):
    from remote.models import Result

    agent = enroll()
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    first = report_body(at, cpu=10.0)
    first.pop("report_id")
    second = report_body(at, cpu=20.0)
    second.pop("report_id")
    assert agent.report(first).json["status"] == "accepted"
    assert agent.report(first).json["status"] == "duplicate"
    # Another report in the same second is another report, not a replay.
    assert agent.report(second).json["status"] == "accepted"
    assert _count(db, Result) >= 2


def test_the_flood_sent_back_to_back_is_mostly_refused(app, db, world, enroll, capsys):
    agent = enroll()
    figures = flood(db, agent, paced=False)
    with capsys.disabled():
        print(f"\nflood of three 64-mount reports, back to back: {figures}")
    assert figures["checks"] <= 32 and figures["tickets"] == 1
    assert figures["notifications"] <= 4 and figures["mails"] <= 3
