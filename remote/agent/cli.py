"""Command line: ``enroll``, ``run`` and ``status``.

Exit statuses are listed in README.md and in ``runner.EXIT_*``; the systemd unit relies on
77 (token revoked) and 78 (configuration) to stop restarting an agent that cannot succeed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from . import __version__
from .client import DELIVERED, ENROLL_PATH, REJECTED, Client, TransportError, classify
from .collect import Collector, utc_now_iso
from .config import (
    AgentConfig,
    ConfigError,
    clamp_interval,
    default_config_path,
    load_config,
    save_config,
    state_path,
    validate_server_url,
)
from .runner import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_TEMPFAIL,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Agent,
    InstanceLock,
    Interrupted,
    StopSignal,
)
from .spool import Spool

# Not `from typing import TYPE_CHECKING`: importing typing costs ~0.5 MB of RSS.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

log = logging.getLogger("councildesk.agent")

ENV_ENROLLMENT_KEY = "COUNCILDESK_ENROLLMENT_KEY"


# --- logging ------------------------------------------------------------------------------


class _JournalFormatter(logging.Formatter):
    """Prefix lines with ``<N>`` so journald stores the real priority of each message."""

    _PRIORITY: ClassVar[dict[int, int]] = {
        logging.DEBUG: 7,
        logging.INFO: 6,
        logging.WARNING: 4,
        logging.ERROR: 3,
        logging.CRITICAL: 2,
    }

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self._PRIORITY.get(record.levelno, 6)}>{super().format(record)}"


def setup_logging(verbose: bool, log_file: str | None) -> None:
    logger = logging.getLogger("councildesk.agent")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        # journald adds its own timestamps.
        handler.setFormatter(_JournalFormatter("%(levelname)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    if log_file:
        # A Windows scheduled task has no console: this is where its messages go. Imported
        # here because logging.handlers pulls in socket servers, pickle and queues.
        from logging.handlers import RotatingFileHandler

        file_handler = RotatingFileHandler(
            log_file, maxBytes=1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(file_handler)


# --- argument parsing ---------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an option given before the subcommand is not reset by the subparser default.
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="config file (default: /etc/councildesk-agent/agent.json as root, "
        "~/.config/councildesk-agent/agent.json otherwise, "
        r"%%ProgramData%%\CouncilDesk\agent.json on Windows; env COUNCILDESK_AGENT_CONFIG)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    common.add_argument(
        "--log-file", default=argparse.SUPPRESS, help="also log to this file (rotated at 1 MB)"
    )

    parser = argparse.ArgumentParser(
        prog="python -m remote.agent",
        description="CouncilDesk monitoring agent: reports metrics and inventory.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"councildesk-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enroll = commands.add_parser(
        "enroll", parents=[common], help="register this machine and store the agent token"
    )
    enroll.add_argument("--server", required=True, help="CouncilDesk base URL (https://...)")
    enroll.add_argument(
        "--enrollment-key",
        help=f"the council's enrollment key (or set {ENV_ENROLLMENT_KEY}, which keeps it "
        "out of the process list and shell history)",
    )
    enroll.add_argument(
        "--ca-file", help="PEM file of the CA that signed the server certificate (private CA)"
    )
    enroll.add_argument(
        "--force", action="store_true", help="enroll again even if a config already exists"
    )

    run = commands.add_parser("run", parents=[common], help="report periodically")
    run.add_argument("--once", action="store_true", help="one report (plus spool replay), exit")
    run.add_argument(
        "--dry-run", action="store_true", help="print reports as JSON lines, send nothing"
    )
    run.add_argument(
        "--interval",
        type=_positive_float,
        help="seconds between reports, overriding the server's value (testing)",
    )
    run.add_argument(
        "--max-backoff",
        type=_positive_float,
        help="cap of the retry delay in seconds (default: config, 900)",
    )

    commands.add_parser("status", parents=[common], help="show enrollment and spool state")
    return parser


# --- commands -----------------------------------------------------------------------------


def cmd_enroll(args: argparse.Namespace, config_path: str) -> int:
    key = args.enrollment_key or os.environ.get(ENV_ENROLLMENT_KEY)
    if not key:
        log.error("an enrollment key is required (--enrollment-key or %s)", ENV_ENROLLMENT_KEY)
        return EXIT_USAGE
    server = validate_server_url(args.server)
    if os.path.exists(config_path) and not args.force:
        raise ConfigError(
            f"{config_path} already exists (this machine is enrolled); pass --force to enroll again"
        )
    ca_file = os.path.abspath(args.ca_file) if args.ca_file else None
    if ca_file and not os.path.isfile(ca_file):
        raise ConfigError(f"CA file {ca_file} does not exist")
    _check_writable(config_path)
    client = Client(server, None, ca_file)
    collector = Collector()
    inventory = collector.inventory()
    body = json.dumps(
        {
            "enrollment_key": key,
            "hostname": inventory["hostname"],
            "os": inventory["os"],
            "inventory": inventory,
        },
        ensure_ascii=False,
    ).encode("utf-8", "replace")
    try:
        response = client.post(ENROLL_PATH, body, auth=False)
    except TransportError as exc:
        log.error("enrollment failed: cannot reach %s: %s", server, exc)
        if exc.tls_verification:
            log.error("if the server uses a private CA, pass its certificate with --ca-file")
        return EXIT_UNAVAILABLE
    finally:
        client.close()
    if response.status in (401, 403):
        log.error("enrollment key refused: %s", response.error_text())
        return EXIT_NOPERM
    outcome = classify(response.status)
    if outcome != DELIVERED:
        log.error("enrollment failed: %s", response.error_text())
        return EXIT_REJECTED if outcome == REJECTED else EXIT_UNAVAILABLE
    config = _config_from_enrollment(response.json(), server, ca_file, collector)
    if config is None:
        log.error("enrollment failed: unexpected answer from the server: %s", response.error_text())
        return EXIT_FAILURE
    try:
        save_config(config_path, config)
    except OSError as exc:
        log.error(
            "enrolled as agent %s but cannot write %s (%s): revoke that agent in CouncilDesk "
            "and enroll again",
            config.agent_id,
            config_path,
            exc.strerror or exc,
        )
        return EXIT_CONFIG
    print(
        f"enrolled as agent {config.agent_id} (asset {config.asset_id}), reporting every "
        f"{config.report_interval_seconds} s; config written to {config_path}"
    )
    data = response.json()
    if isinstance(data, dict) and data.get("status") == "pending":
        # Another agent reports for this host name: the office must approve this one. The
        # agent may run meanwhile; its reports wait in the spool until then.
        print(
            "this enrollment is waiting for the office's approval (another agent reports for "
            "this host name); reports are kept and sent once it is approved"
        )
    return EXIT_OK


def _check_writable(config_path: str) -> None:
    """Fail before enrolling, not after: a token the server issued but we could not store
    would leave an orphan agent behind."""
    directory = os.path.dirname(os.path.abspath(config_path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK):
        raise ConfigError(
            f"cannot write to {directory}: run as root/Administrator or pass --config"
        )


def _config_from_enrollment(
    data: Any, server: str, ca_file: str | None, collector: Collector
) -> AgentConfig | None:
    if not isinstance(data, dict):
        return None
    agent_id = data.get("agent_id")
    token = data.get("token")
    if isinstance(agent_id, bool) or not isinstance(agent_id, int):
        return None
    if not isinstance(token, str) or not token:
        return None
    asset_id = data.get("asset_id")

    return AgentConfig(
        server=server,
        agent_id=agent_id,
        token=token,
        report_interval_seconds=clamp_interval(data.get("report_interval_seconds")),
        asset_id=asset_id if isinstance(asset_id, int) and not isinstance(asset_id, bool) else None,
        ca_file=ca_file,
        enrolled_at=utc_now_iso(),
        # Enrollment usually runs as root and can read the DMI serial; the service user
        # cannot, so the value is kept here for its reports.
        hardware=collector.hardware(),
    )


def cmd_run(args: argparse.Namespace, config_path: str) -> int:
    config: AgentConfig | None
    if args.dry_run:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            log.debug("dry run without config: %s", exc)
            config = None
    else:
        config = load_config(config_path)
    lock: InstanceLock | None = None
    if not args.dry_run:
        lock = InstanceLock(state_path(config_path, "lock"))
        if not lock.acquire():
            log.error("another agent is already running with %s", config_path)
            return EXIT_TEMPFAIL
    stop = StopSignal()
    stop.install()
    agent: Agent | None = None
    try:
        agent = Agent(
            config,
            config_path,
            interval=args.interval,
            max_backoff=args.max_backoff,
            dry_run=args.dry_run,
            stop=stop,
        )
        return agent.run_once() if args.once else agent.run_forever()
    except Interrupted:
        log.info("interrupted")
        return EXIT_OK
    finally:
        stop.restore()
        if agent is not None and agent.spool is not None:
            agent.spool.close()
        if lock is not None:
            lock.release()


def cmd_status(_args: argparse.Namespace, config_path: str) -> int:
    config = load_config(config_path)
    spool_path = state_path(config_path, "spool.sqlite3")
    spool = Spool(spool_path, config.spool_max_reports, config.spool_max_bytes)
    try:
        stats = spool.stats()
    finally:
        spool.close()
    status = {
        "version": __version__,
        "config": os.path.abspath(config_path),
        "server": config.server,
        "agent_id": config.agent_id,
        "asset_id": config.asset_id,
        "report_interval_seconds": config.report_interval_seconds,
        "ca_file": config.ca_file,
        "enrolled_at": config.enrolled_at,
        "spool": {
            "path": spool_path,
            "max_reports": config.spool_max_reports,
            "max_bytes": config.spool_max_bytes,
            **stats,
        },
    }
    print(json.dumps(status, indent=2))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(getattr(args, "verbose", False), getattr(args, "log_file", None))
    except OSError as exc:
        print(f"cannot open log file: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    config_path = getattr(args, "config", None) or default_config_path()
    commands = {"enroll": cmd_enroll, "run": cmd_run, "status": cmd_status}
    try:
        return commands[args.command](args, config_path)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
