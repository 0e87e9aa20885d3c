"""The delivery logic in-process (fast): replay order, poison reports, 401, endpoint errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from agent_support import TOKEN, StubServer

from remote.agent.client import DELIVERED, REJECTED, RETRY, UNAUTHORIZED
from remote.agent.config import AgentConfig, save_config
from remote.agent.runner import (
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_TEMPFAIL,
    Agent,
    StopSignal,
)


def _agent(stub: StubServer, tmp_path: Path, **kwargs: Any) -> Agent:
    config = AgentConfig(server=stub.url, agent_id=4, token=TOKEN, report_interval_seconds=60)
    path = tmp_path / "agent.json"
    save_config(str(path), config)
    return Agent(config, str(path), rng=random.Random(1), **kwargs)


def _marked(agent: Agent, mark: str) -> bytes:
    report = json.loads(agent.collect())
    report["inventory"]["mark"] = mark
    return json.dumps(report).encode()


def _marks(stub: StubServer) -> list[str]:
    return [r["inventory"].get("mark", "new") for r in stub.state.reports]


def test_spooled_reports_are_replayed_oldest_first_before_the_new_one(stub: StubServer, tmp_path: Path) -> None:
    agent = _agent(stub, tmp_path)
    assert agent.spool is not None
    for mark in ("a", "b", "c"):
        agent.spool.push(_marked(agent, mark))
    outcome, _response, _reason = agent.deliver(_marked(agent, "d"), attempt=True)
    assert outcome == DELIVERED
    assert _marks(stub) == ["a", "b", "c", "d"]
    assert agent.spool.depth() == 0


def test_a_poison_report_is_dropped_and_the_queue_moves_on(stub: StubServer, tmp_path: Path) -> None:
    stub.state.report_override = lambda r: (
        (422, {"error": {"code": "validation", "message": "bad", "fields": {}}}, {})
        if r["inventory"].get("mark") == "poison"
        else None
    )
    agent = _agent(stub, tmp_path)
    assert agent.spool is not None
    for mark in ("a", "poison", "c"):
        agent.spool.push(_marked(agent, mark))
    outcome, _response, _reason = agent.deliver(None, attempt=True)
    assert outcome == DELIVERED
    assert _marks(stub) == ["a", "c"]
    stats = agent.spool.stats()
    assert (stats["depth"], stats["rejected"]) == (0, 1)
    # The next report tells the server about it.
    assert json.loads(agent.collect())["agent"]["spool_rejected"] == 1


def test_a_fresh_report_rejected_by_the_server_is_counted_not_spooled(stub: StubServer, tmp_path: Path) -> None:
    stub.state.report_override = lambda _r: (413, {"error": {"code": "too_large"}}, {})
    agent = _agent(stub, tmp_path)
    outcome, _response, _reason = agent.deliver(agent.collect(), attempt=True)
    assert outcome == REJECTED
    assert agent.spool is not None
    assert agent.spool.stats()["depth"] == 0
    assert agent.spool.stats()["rejected"] == 1


@pytest.mark.parametrize("status", [500, 503, 429, 408, 404, 405, 403, 307])
def test_server_and_endpoint_errors_keep_the_queue(stub: StubServer, tmp_path: Path, status: int) -> None:
    stub.state.report_override = lambda _r: (status, {}, {})
    agent = _agent(stub, tmp_path)
    assert agent.spool is not None
    agent.spool.push(_marked(agent, "old"))
    outcome, _response, _reason = agent.deliver(_marked(agent, "new"), attempt=True)
    assert outcome == RETRY
    assert [json.loads(b)["inventory"]["mark"] for _i, b in agent.spool.items()] == ["old", "new"]


def test_revoked_token_stops_without_spooling(stub: StubServer, tmp_path: Path) -> None:
    stub.state.revoked = True
    agent = _agent(stub, tmp_path)
    outcome, _response, _reason = agent.deliver(agent.collect(), attempt=True)
    assert outcome == UNAUTHORIZED
    assert agent.spool is not None
    assert agent.spool.depth() == 0


def test_a_token_renewed_on_disk_is_picked_up_after_a_401(stub: StubServer, tmp_path: Path) -> None:
    agent = _agent(stub, tmp_path)
    stub.state.token = "renewed-token"
    config = AgentConfig(server=stub.url, agent_id=5, token="renewed-token")
    save_config(agent.config_path, config)
    outcome, _response, _reason = agent.deliver(agent.collect(), attempt=True)
    assert outcome == DELIVERED
    assert stub.state.headers[0]["Authorization"] == "Bearer renewed-token"


def test_while_backing_off_reports_are_only_spooled(stub: StubServer, tmp_path: Path) -> None:
    agent = _agent(stub, tmp_path)
    outcome, _response, _reason = agent.deliver(agent.collect(), attempt=False)
    assert outcome == "deferred"
    assert stub.state.reports == []
    assert agent.spool is not None and agent.spool.depth() == 1


def test_the_server_may_change_the_interval_in_its_answer(stub: StubServer, tmp_path: Path) -> None:
    stub.state.report_reply = {"report_interval_seconds": 120}
    agent = _agent(stub, tmp_path)
    agent.deliver(agent.collect(), attempt=True)
    assert agent.interval == 120
    assert agent.backoff.base == 120


def test_an_interval_override_wins_over_the_server(stub: StubServer, tmp_path: Path) -> None:
    stub.state.report_reply = {"report_interval_seconds": 120}
    agent = _agent(stub, tmp_path, interval=0.5)
    agent.deliver(agent.collect(), attempt=True)
    assert agent.interval == 0.5


def test_once_exit_statuses(stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("remote.agent.runner.FIRST_SAMPLE_SECONDS", 0.01)
    assert _agent(stub, tmp_path).run_once() == EXIT_OK
    stub.state.report_override = lambda _r: (422, {}, {})
    assert _agent(stub, tmp_path).run_once() == EXIT_REJECTED
    stub.state.report_override = lambda _r: (503, {}, {})
    assert _agent(stub, tmp_path).run_once() == EXIT_TEMPFAIL
    stub.state.revoked = True
    assert _agent(stub, tmp_path).run_once() == EXIT_NOPERM


def test_loop_spools_through_an_outage_and_backs_off(stub: StubServer, tmp_path: Path) -> None:
    """A simulated clock drives run_forever: collection keeps its pace while sends back off."""
    clock = _FakeClock()
    stop = StopSignal()
    agent = _agent(stub, tmp_path, interval=60.0, stop=stop)
    stub.state.report_override = lambda _r: (503, {}, {})
    attempts: list[float] = []
    real_send = agent._send

    def counting_send(body: bytes) -> Any:
        attempts.append(clock.now)
        return real_send(body)

    agent._send = counting_send  # type: ignore[method-assign]

    def sleep_until(deadline: float, _clock: Any = None) -> bool:
        clock.now = max(clock.now, deadline)
        return clock.now <= 3600

    stop.sleep_until = sleep_until  # type: ignore[method-assign]
    assert agent.run_forever(clock=clock) == EXIT_OK
    assert agent.spool is not None
    collected = agent.spool.depth()
    assert 58 <= collected <= 61, "one report per minute, none lost"
    assert len(attempts) < collected / 2, "backoff: far fewer attempts than reports"
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert max(gaps) <= 900 + 60, "capped at 15 minutes (plus the wait for the next tick)"


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_spool_overflow_drops_the_oldest_and_tells_the_server(stub: StubServer, tmp_path: Path) -> None:
    config = AgentConfig(server=stub.url, agent_id=4, token=TOKEN, spool_max_reports=3)
    path = tmp_path / "agent.json"
    save_config(str(path), config)
    agent = Agent(config, str(path), rng=random.Random(1))
    url_port = stub.port
    stub.stop()
    for mark in ("r1", "r2", "r3", "r4", "r5"):
        outcome, _response, _reason = agent.deliver(_marked(agent, mark), attempt=True)
        assert outcome == RETRY
    assert stub.port == url_port
    stub.start()
    outcome, _response, _reason = agent.deliver(agent.collect(), attempt=True)
    assert outcome == DELIVERED
    # r1 and r2 were dropped, then the new report pushed r3 out too (bound 3 includes it).
    assert _marks(stub) == ["r4", "r5", "new"]
    assert stub.state.reports[-1]["agent"]["spool_dropped"] == 2
    assert agent.spool is not None and agent.spool.stats()["dropped"] == 3


@pytest.mark.parametrize(("status", "code"), [(429, "too_many_requests"), (403, "enrollment_pending")])
def test_429_and_a_pending_enrollment_keep_the_report_and_wait_retry_after(
    stub: StubServer, tmp_path: Path, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's report-frequency rule (429) and a re-enrollment waiting for approval (403
    `enrollment_pending`) both carry Retry-After: the report stays in the spool, the next
    attempt waits at least that long, and it goes when the server takes it."""
    stub.state.report_override = lambda _r: (status, {"error": {"code": code, "message": "later"}},
                                             {"Retry-After": "40"})
    agent = _agent(stub, tmp_path)
    caplog.set_level("WARNING", logger="councildesk.agent")
    outcome, response, reason = agent.deliver(_marked(agent, "first"), attempt=True)
    assert outcome == RETRY and response is not None and response.retry_after == 40.0
    assert agent.spool is not None and agent.spool.depth() == 1
    assert agent._record_failure(response, reason) >= 40.0
    if code == "enrollment_pending":
        assert "waiting for the office's approval" in caplog.text
    assert "check the server URL" not in caplog.text
    stub.state.report_override = lambda _r: None
    outcome, _response, _reason = agent.deliver(None, attempt=True)
    assert outcome == DELIVERED
    assert _marks(stub) == ["first"] and agent.spool.depth() == 0
