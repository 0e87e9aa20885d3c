"""The reporting loop: collect on a fixed schedule, deliver or spool, back off, stop cleanly.

Scheduling: collection ticks every ``interval`` whatever the network does, so an outage
costs no data (reports pile up in the spool). Delivery attempts follow the backoff: while
the server is failing, ticks that fall before the next allowed attempt only spool, and the
loop also wakes for a replay-only attempt when the backoff ends between two ticks.

Ordering: when the spool is not empty the new report joins its tail and the queue is
replayed oldest first, so the server always receives reports in collection order.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from collections.abc import Callable

from .backoff import Backoff
from .client import (
    DELIVERED,
    REJECTED,
    REPORT_PATH,
    RETRY,
    UNAUTHORIZED,
    Client,
    Response,
    TransportError,
    classify,
)
from .collect import Collector, build_report, encode_report
from .config import AgentConfig, ConfigError, clamp_interval, load_config, state_path
from .spool import Spool, SpoolError

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

log = logging.getLogger("councildesk.agent")

# Exit statuses (sysexits.h values where one fits, so the systemd unit can name them).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 65  # EX_DATAERR: the server refused the data (4xx other than 401)
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: enrollment could not reach the server
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: not delivered now, kept in the spool; or agent already running
EXIT_NOPERM = 77  # EX_NOPERM: token revoked / enrollment key refused
EXIT_CONFIG = 78  # EX_CONFIG: not enrolled, bad config, bad URL, unreadable CA file

DEFERRED = "deferred"  # spooled without trying the network (backoff still running)
FIRST_SAMPLE_SECONDS = 0.25  # CPU-percent window for --once, which has no previous tick


class Interrupted(BaseException):
    """Raised by the signal handler to cut a sleep (BaseException: nothing may swallow it)."""


class StopSignal:
    """SIGTERM/SIGINT (and Ctrl-Break on Windows) handling.

    The first signal sets a flag; it also cuts short a sleep, but never a delivery or a spool
    write, which finish (bounded by the HTTP timeout) so nothing is left half done. A second
    signal interrupts whatever is running; the spool's transactions roll back safely.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._sleeping = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        names = ["SIGINT", "SIGTERM", "SIGBREAK", "SIGHUP"]
        for name in names:
            signum = getattr(signal, name, None)
            if signum is not None:
                self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: object) -> None:
        repeated = self.requested
        self.requested = True
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
        if self._sleeping or repeated:
            raise Interrupted

    def sleep_until(self, deadline: float, clock: Callable[[], float] = time.monotonic) -> bool:
        """Sleep until ``deadline``; False as soon as a stop is requested."""
        self._sleeping = True
        try:
            while not self.requested:
                remaining = deadline - clock()
                if remaining <= 0:
                    return True
                # time.sleep, unlike a lock wait, is interruptible by Ctrl-C on Windows too.
                time.sleep(min(remaining, 3600.0))
        except Interrupted:
            pass
        finally:
            self._sleeping = False
        return False


class InstanceLock:
    """One agent per config: two would replay the same spool and send duplicates."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock on both platforms
            self._fd = None


class Agent:
    def __init__(
        self,
        config: AgentConfig | None,
        config_path: str,
        *,
        interval: float | None = None,
        max_backoff: float | None = None,
        dry_run: bool = False,
        out: IO[str] | None = None,
        stop: StopSignal | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if config is None and not dry_run:
            raise ValueError("a config is required unless dry_run")
        self.config = config
        self.config_path = config_path
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.stop = stop or StopSignal()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.interval_overridden = interval is not None
        self.interval = float(
            interval if interval is not None else (config.report_interval_seconds if config else 60)
        )
        cap = max_backoff or (config.max_backoff_seconds if config else 900.0)
        self.backoff = Backoff(self.interval, cap, self._rng)
        self.collector = Collector(config.hardware if config else None)
        self.spool: Spool | None = None
        self.client: Client | None = None
        if config is not None and not dry_run:
            self.spool = Spool(
                state_path(config_path, "spool.sqlite3"),
                config.spool_max_reports,
                config.spool_max_bytes,
            )
            self.client = Client(config.server, config.token, config.ca_file)
        self._failing = False
        self.last_outcome: str | None = None

    # --- one report -----------------------------------------------------------------------

    def collect(self) -> bytes:
        metrics, inventory = self.collector.snapshot()
        return encode_report(build_report(metrics, inventory, self._spool_stats()))

    def _spool_stats(self) -> dict[str, int]:
        if self.spool is None:
            return {}
        try:
            return self.spool.stats()
        except SpoolError as exc:  # a broken spool must not stop the report itself
            log.error("cannot read spool statistics: %s", exc)
            return {}

    def _queue_depth(self) -> int:
        if self.spool is None:
            return 0
        try:
            return self.spool.depth()
        except SpoolError as exc:
            log.error("cannot read spool: %s", exc)
            return 0

    def _send(self, body: bytes) -> tuple[str, Response | None, str]:
        """Deliver one body; (outcome, response, reason for logs)."""
        assert self.client is not None
        try:
            response = self.client.post(REPORT_PATH, body)
        except TransportError as exc:
            if exc.tls_verification:
                log.error(
                    "%s. If the server uses a private CA, enroll again with --ca-file "
                    "(or set ca_file in %s).",
                    exc,
                    self.config_path,
                )
            return RETRY, None, str(exc)
        outcome = _classify(response)
        if outcome == UNAUTHORIZED and self._reload_token():
            try:
                response = self.client.post(REPORT_PATH, body)
            except TransportError as exc:
                return RETRY, None, str(exc)
            outcome = _classify(response)
        if outcome == DELIVERED:
            self._adopt_interval(response)
        elif outcome == RETRY and _pending(response):
            # Enrolled with the host name of a machine whose agent is alive: the office must
            # approve this one first. Reports stay in the spool and go once it has.
            log.warning(
                "the enrollment is waiting for the office's approval; reports are kept in the "
                "spool and sent once it is approved"
            )
        elif outcome == RETRY and (response.status < 500 and response.status not in (408, 429)):
            log.error(
                "server answered %s for %s: check the server URL in %s",
                response.error_text(),
                REPORT_PATH,
                self.config_path,
            )
        return outcome, response, response.error_text()

    def _reload_token(self) -> bool:
        """After a 401, pick up a token from a re-enrollment done while we were running."""
        try:
            fresh = load_config(self.config_path)
        except ConfigError:
            return False
        assert self.client is not None and self.config is not None
        if fresh.token == self.client.token:
            return False
        if fresh.server != self.config.server or fresh.ca_file != self.config.ca_file:
            log.warning("the config file now names another server or CA; restart the agent")
            return False
        log.info("the config file has a new token (re-enrolled); using it")
        self.config = fresh
        self.client.token = fresh.token
        return True

    def _adopt_interval(self, response: Response) -> None:
        """The server may change the interval in its 202 answer; a CLI override wins."""
        if self.interval_overridden:
            return
        data = response.json()
        value = data.get("report_interval_seconds") if isinstance(data, dict) else None
        if value is None:
            return
        interval = float(clamp_interval(value))
        if interval != self.interval:
            log.info("server set the report interval to %d s", interval)
            self.interval = interval
            self.backoff.base = interval

    def _spool(self, body: bytes) -> None:
        assert self.spool is not None
        try:
            dropped = self.spool.push(body)
        except SpoolError as exc:
            log.error("%s; this report is lost", exc)
            return
        if dropped:
            log.warning(
                "spool full (max %d reports / %d bytes): dropped the %d oldest report(s)",
                self.spool.max_reports,
                self.spool.max_bytes,
                dropped,
            )

    def deliver(self, body: bytes | None, attempt: bool) -> tuple[str, Response | None, str]:
        """Deliver ``body`` (or only the queue when None); spool what cannot go now."""
        if self.dry_run:
            if body is not None:
                self.out.write(body.decode("utf-8") + "\n")
                self.out.flush()
            return DELIVERED, None, ""
        assert self.spool is not None and self.client is not None
        try:
            if body is not None and (not attempt or self._queue_depth() > 0):
                self._spool(body)
                body = None
            if not attempt:
                return DEFERRED, None, ""
            if body is not None:
                outcome, response, reason = self._send(body)
                if outcome == RETRY:
                    self._spool(body)
                elif outcome == REJECTED:
                    log.error("server rejected the report, dropped it: %s", reason)
                    self._count_rejected()
                return outcome, response, reason
            return self._drain()
        finally:
            self.client.close()

    def _count_rejected(self) -> None:
        assert self.spool is not None
        try:
            self.spool.count_rejected()
        except SpoolError as exc:
            log.error("cannot record the rejected report in the spool: %s", exc)

    def _drain(self) -> tuple[str, Response | None, str]:
        assert self.spool is not None
        delivered = 0
        try:
            while not self.stop.requested:
                item = self.spool.oldest()
                if item is None:
                    return DELIVERED, None, ""
                item_id, body = item
                outcome, response, reason = self._send(body)
                if outcome == DELIVERED:
                    self.spool.remove(item_id)
                    delivered += 1
                elif outcome == REJECTED:
                    self.spool.reject(item_id)
                    log.error("server rejected a spooled report, dropped it: %s", reason)
                else:
                    return outcome, response, reason
            return DEFERRED, None, "stopping"
        finally:
            if delivered:
                log.info("replayed %d spooled report(s); %d left", delivered, self._queue_depth())

    # --- failure bookkeeping --------------------------------------------------------------

    def _record_failure(self, response: Response | None, reason: str) -> float:
        retry_after = response.retry_after if response is not None else None
        delay = self.backoff.failure(retry_after)
        depth = self._queue_depth()
        if not self._failing:
            log.warning(
                "cannot deliver reports (%s); spooling them (%d queued), next attempt in %.1f s",
                reason,
                depth,
                delay,
            )
        else:
            log.info(
                "still cannot deliver (%s); %d queued, attempt %d, next in %.1f s",
                reason,
                depth,
                self.backoff.failures,
                delay,
            )
        self._failing = True
        return delay

    def _record_success(self) -> None:
        if self._failing:
            log.info("server reachable again")
        self._failing = False
        self.backoff.reset()

    # --- modes ----------------------------------------------------------------------------

    def run_once(self) -> int:
        """One collection and delivery (with replay); the exit status says how it went."""
        self.collector.prime()
        if not self.stop.sleep_until(time.monotonic() + FIRST_SAMPLE_SECONDS):
            return EXIT_OK
        body = self.collect()
        outcome, _response, reason = self.deliver(body, attempt=True)
        self.last_outcome = outcome
        if self.dry_run:
            return EXIT_OK
        if outcome == UNAUTHORIZED:
            _log_unauthorized(reason)
            return EXIT_NOPERM
        if outcome == RETRY:
            log.warning("report not delivered (%s); kept in the spool for the next run", reason)
            return EXIT_TEMPFAIL
        if outcome == REJECTED:
            return EXIT_REJECTED
        if outcome == DEFERRED:
            return EXIT_TEMPFAIL
        log.info("report delivered")
        return EXIT_OK

    def run_forever(self, clock: Callable[[], float] = time.monotonic) -> int:
        self.collector.prime()
        now = clock()
        # A short random splay keeps agents that boot together (power back in a town hall)
        # from reporting in lockstep, and gives the first CPU sample a real window.
        next_collect = now + self._rng.uniform(min(1.0, self.interval), min(10.0, self.interval))
        next_attempt = now
        if self.config is not None and not self.dry_run:
            log.info(
                "agent %s reporting to %s every %g s",
                self.config.agent_id,
                self.config.server,
                self.interval,
            )
        while True:
            now = clock()
            wake = next_collect
            if now < next_attempt < wake and self._queue_depth() > 0:
                wake = next_attempt
            if not self.stop.sleep_until(wake, clock):
                break
            now = clock()
            body: bytes | None = None
            if now >= next_collect:
                next_collect += self.interval
                if next_collect <= now:  # suspended or stalled: skip the missed ticks
                    next_collect = now + self.interval
                try:
                    body = self.collect()
                except Exception:
                    log.exception("collection failed; skipping this report")
                    continue
            elif self._queue_depth() == 0:
                continue
            try:
                outcome, response, reason = self.deliver(body, attempt=now >= next_attempt)
            except Exception:
                # An unexpected bug must not kill monitoring; back off like any failure.
                log.exception("delivery failed unexpectedly")
                next_attempt = now + self._record_failure(None, "internal error")
                continue
            self.last_outcome = outcome
            if outcome == UNAUTHORIZED:
                _log_unauthorized(reason)
                return EXIT_NOPERM
            if outcome == RETRY:
                next_attempt = clock() + self._record_failure(response, reason)
            elif outcome in (DELIVERED, REJECTED):
                self._record_success()
                next_attempt = clock()
                if body is not None:
                    log.debug("report delivered")
        log.info("stopping (%s)", self.stop.signal_name or "requested")
        return EXIT_OK


def _pending(response: Response) -> bool:
    if response.status != 403:
        return False
    data = response.json()
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and error.get("code") == "enrollment_pending"


def _classify(response: Response) -> str:
    return classify(response.status)


def _log_unauthorized(reason: str) -> None:
    log.error(
        "the server refused the agent token (%s): it was revoked or the agent was removed. "
        "Stopping; enroll again to resume reporting (the spool is kept).",
        reason,
    )
