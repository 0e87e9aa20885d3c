"""A test-only job for the scheduler process tests: it appends the trigger it runs for, and
the process that ran it, to the file named by PROBE_FILE (one O_APPEND write per line, so two
processes could never interleave a line)."""

from __future__ import annotations

import datetime as dt
import os

from remote.scheduler import interval, register_job


def probe(scheduled_at: dt.datetime) -> dict:
    line = f"{scheduled_at.isoformat()} {os.getpid()}\n".encode()
    fd = os.open(os.environ["PROBE_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return {"pid": os.getpid()}


def register() -> None:
    # Every trigger matters to this job (coalesce=False), and a takeover replays the missed ones.
    register_job("test.probe", probe, interval(float(os.environ.get("PROBE_SECONDS", "1"))), coalesce=False,
                 catch_up=dt.timedelta(seconds=60), description="test probe")
