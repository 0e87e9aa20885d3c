"""Check rounds over many hosts: one kept connection per host, a bounded thread pool.

A round takes `HostJob`s (a target and the catalogue checks to run on it), logs in to each host
once (remote.ssh_connect), runs its checks' commands one after the other on that connection and
returns a `HostOutcome` per host. The scheduler's job (remote.jobs.run_ssh_round) builds the
jobs from the database and stores the outcomes.

Sizing (lessons.md "Measured limits"): fan-out saturates near 16 threads on 2 cores, so that
is the default pool size. sshd refuses bursts to one host (MaxStartups, default 10), so jobs
that share a host:port are spread over at most `per_endpoint_limit` lanes that each run their
jobs one after the other; the remaining threads keep serving other hosts meanwhile, and a
host that never answers only ever blocks its own lane, for its own timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import paramiko

from remote.catalogue import (
    definition,
    interpret_output,
    invalid_result,
    not_run_result,
    reachability_result,
    resolve_thresholds,
    validate_params,
)
from remote.judging import CheckConfigError, CheckResult, CheckSpec
from remote.ssh_connect import (
    ConnectOutcome,
    KeyLoadError,
    SshCredentials,
    SshTarget,
    connect,
    load_private_key,
)
from remote.ssh_transport import ConnectionStatus, SshConnection, SshTimeouts, probe_banner

DEFAULT_WORKERS = 16
DEFAULT_PER_ENDPOINT = 2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HostJob:
    """One host and the checks to run on it this round; `ref` is the caller's host id."""

    target: SshTarget
    checks: tuple[CheckSpec, ...]
    ref: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.checks, tuple):
            object.__setattr__(self, "checks", tuple(self.checks))


@dataclass(frozen=True)
class HostOutcome:
    """Everything a round learnt about one host.

    ``status`` is the connection status (``ok``, ``host_key_pending``, ``host_key_changed``,
    ``timeout``...). ``connection`` carries the details (offered key and fingerprints for the
    approval step or the alert); it is None when no login was needed (reachability only).
    ``results`` has one entry per requested check, in the requested order.
    """

    ref: str | None
    host: str
    port: int
    status: ConnectionStatus
    detail: str
    connection: ConnectOutcome | None
    results: tuple[CheckResult, ...]
    started_at: datetime
    duration_ms: float


class KeyCache:
    """Loads each distinct private key once per round; an encrypted OpenSSH key costs a
    bcrypt run, which must not be paid again for each of the hosts sharing it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A failure is cached as its message: the same key text fails the same way.
        self._keys: dict[tuple[str, str | None], paramiko.PKey | str] = {}

    def get(self, credentials: SshCredentials) -> paramiko.PKey:
        cache_key = (credentials.private_key, credentials.passphrase)
        with self._lock:
            loaded = self._keys.get(cache_key)
            if loaded is None:
                try:
                    loaded = load_private_key(credentials.private_key, credentials.passphrase)
                except KeyLoadError as exc:
                    loaded = str(exc)
                self._keys[cache_key] = loaded
        if isinstance(loaded, str):
            raise KeyLoadError(loaded)
        return loaded


class _Reach(NamedTuple):
    status: ConnectionStatus
    reached: bool
    latency_ms: float | None
    banner: str | None
    detail: str


@dataclass
class _Planned:
    spec: CheckSpec
    command: str | None = None
    result: CheckResult | None = None

    @property
    def reachability(self) -> bool:
        # Valid checks that run no command are judged from the connection itself.
        return self.command is None and self.result is None


def _plan(spec: CheckSpec) -> _Planned:
    try:
        defn = definition(spec.check)
        params = validate_params(spec.check, spec.params)
        resolve_thresholds(spec)
    except CheckConfigError as exc:
        return _Planned(spec, result=invalid_result(spec, exc))
    if defn.build_command is None:
        return _Planned(spec)
    return _Planned(spec, command=defn.build_command(params))


def run_host(job: HostJob, *, keys: KeyCache | None = None) -> HostOutcome:
    """Run all checks of one host over a single connection. Never raises."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    try:
        return _run_host(job, keys or KeyCache(), started_at, started)
    except Exception as exc:  # one broken host must not end the round
        log.exception("SSH checks failed unexpectedly for %s:%s", job.target.host, job.target.port)
        detail = f"unexpected {type(exc).__name__}"
        return HostOutcome(
            job.ref,
            job.target.host,
            job.target.port,
            ConnectionStatus.INTERNAL_ERROR,
            detail,
            None,
            tuple(
                not_run_result(s, ConnectionStatus.INTERNAL_ERROR.value, detail) for s in job.checks
            ),
            started_at,
            round((time.perf_counter() - started) * 1000.0, 2),
        )


def _run_host(job: HostJob, keys: KeyCache, started_at: datetime, started: float) -> HostOutcome:
    target = job.target
    limits = target.timeouts
    deadline = started + limits.host_total
    plans = [_plan(spec) for spec in job.checks]
    needs_login = any(p.command is not None for p in plans)
    wants_reachability = any(p.reachability for p in plans)

    outcome: ConnectOutcome | None = None
    connection: SshConnection | None = None
    reach: _Reach | None = None
    if needs_login:
        outcome, connection = _login(target, keys)
        if outcome.tcp_connect_ms is not None:
            # The login attempt already measured TCP connect and read the banner: no need
            # for a second connection just for reachability.
            reach = _Reach(
                outcome.status,
                outcome.server_banner is not None,
                outcome.tcp_connect_ms,
                outcome.server_banner,
                outcome.detail,
            )
    if wants_reachability and reach is None:
        probe = probe_banner(target.host, target.port, limits)
        reach = _Reach(
            probe.status,
            probe.status is ConnectionStatus.OK,
            probe.tcp_connect_ms,
            probe.banner,
            probe.detail,
        )

    results: list[CheckResult] = []
    try:
        for plan in plans:
            results.append(_result_for(plan, outcome, connection, reach, deadline, limits))
    finally:
        if connection is not None:
            connection.close()

    if outcome is not None:
        status, detail = outcome.status, outcome.detail
    elif reach is not None:
        status, detail = reach.status, reach.detail or "reachability only"
    else:
        status, detail = ConnectionStatus.OK, "nothing to run"
    return HostOutcome(
        job.ref,
        target.host,
        target.port,
        status,
        detail,
        outcome,
        tuple(results),
        started_at,
        round((time.perf_counter() - started) * 1000.0, 2),
    )


def _login(target: SshTarget, keys: KeyCache) -> tuple[ConnectOutcome, SshConnection | None]:
    if target.credentials is None:
        return connect(target)  # reports the missing credentials without touching the host
    try:
        pkey = keys.get(target.credentials)
    except KeyLoadError as exc:
        return (
            ConnectOutcome(ConnectionStatus.CLIENT_KEY_ERROR, str(exc), target.host, target.port),
            None,
        )
    return connect(target, pkey=pkey)


def _result_for(
    plan: _Planned,
    outcome: ConnectOutcome | None,
    connection: SshConnection | None,
    reach: _Reach | None,
    deadline: float,
    limits: SshTimeouts,
) -> CheckResult:
    if plan.result is not None:
        return plan.result
    if plan.command is None:
        if reach is None:
            return not_run_result(plan.spec, "internal_error", "no reachability data")
        return reachability_result(
            plan.spec,
            reached=reach.reached,
            latency_ms=reach.latency_ms,
            banner=reach.banner,
            failure=reach.detail,
        )
    if connection is None:
        if outcome is None:
            return not_run_result(plan.spec, "internal_error", "no connection attempt")
        return not_run_result(plan.spec, outcome.status.value, outcome.detail)
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        return not_run_result(plan.spec, "host_deadline", "the host's time budget ran out")
    if not connection.active:
        return not_run_result(plan.spec, "connection_lost", "the connection closed")
    timeout = min(limits.command, remaining)
    ran = connection.run(plan.command, timeout=timeout)
    return interpret_output(
        plan.spec,
        ran.stdout,
        exit_status=ran.exit_status,
        stderr=ran.stderr,
        timed_out=ran.timed_out,
        error=ran.error,
        timeout_s=timeout,
        duration_ms=ran.duration_ms,
    )


def run_round(
    jobs: Sequence[HostJob],
    *,
    max_workers: int = DEFAULT_WORKERS,
    per_endpoint_limit: int = DEFAULT_PER_ENDPOINT,
    on_outcome: Callable[[int, HostOutcome], None] | None = None,
) -> list[HostOutcome]:
    """Run every job and return their outcomes in the order of `jobs`. Never raises for a
    host problem.

    `on_outcome(index, outcome)` is called from the worker threads as each host finishes,
    so a caller can store results before the slowest host is done.
    """
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ValueError("max_workers must be a positive integer")
    if (
        isinstance(per_endpoint_limit, bool)
        or not isinstance(per_endpoint_limit, int)
        or per_endpoint_limit < 1
    ):
        raise ValueError("per_endpoint_limit must be a positive integer")
    if not jobs:
        return []
    keys = KeyCache()
    outcomes: list[HostOutcome | None] = [None] * len(jobs)
    queues: dict[tuple[str, int], deque[int]] = {}
    for index, job in enumerate(jobs):
        queues.setdefault(job.target.endpoint, deque()).append(index)

    def lane(queue: deque[int]) -> None:
        while True:
            try:
                index = queue.popleft()
            except IndexError:
                return
            outcome = run_host(jobs[index], keys=keys)
            outcomes[index] = outcome
            if on_outcome is not None:
                try:
                    on_outcome(index, outcome)
                except Exception:  # the caller's hook must not stop the round
                    log.exception("on_outcome hook failed for job %d", index)

    # Longest queues first so a busy endpoint's serial work starts early instead of
    # becoming the tail of the round.
    lanes = [
        queue
        for queue in sorted(queues.values(), key=len, reverse=True)
        for _ in range(min(per_endpoint_limit, len(queue)))
    ]
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(lanes)), thread_name_prefix="ssh-checks"
    ) as pool:
        for future in [pool.submit(lane, queue) for queue in lanes]:
            future.result()
    finished = [o for o in outcomes if o is not None]
    if len(finished) != len(jobs):
        raise RuntimeError("a host job finished without an outcome")
    return finished
