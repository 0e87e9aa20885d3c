"""What checks say, in the reader's language.

Results are stored as a `summary_key` and plain parameters (remote.parsers and
remote.catalogue build them that way, and so do the agent checks here), never as prose: the
same result reads in Catalan for one technician and in Spanish for the next, and in English in
logs and alert payloads.

The parameters come from the monitored machines and are hostile text: they are put into
plain strings here and escaped by Jinja like any other data, never marked safe.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from flask_babel import format_datetime, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


def state_labels() -> dict[str, object]:
    return {"ok": _l("OK"), "warning": _l("Warning"), "critical": _l("Critical"), "unknown": _l("Unknown")}


def state_label(state: str | None) -> str:
    return str(state_labels().get(state or "unknown", state or ""))


def source_labels() -> dict[str, object]:
    return {"agent": _l("Agent"), "ssh": _l("SSH")}


def source_label(source: str | None) -> str:
    return str(source_labels().get(source or "", source or ""))


def catalogue_labels() -> dict[str, object]:
    """The SSH checks a technician can add (remote.catalogue.CATALOGUE), for menus."""
    return {
        "disk": _l("Disk use of a mount point"),
        "load": _l("Load per CPU core"),
        "memory": _l("Memory in use"),
        "systemd_unit": _l("State of a systemd service"),
        "backup_freshness": _l("Age of the newest backup file"),
        "reachability": _l("SSH port answers"),
    }


def param_labels() -> dict[str, object]:
    return {"mount": _l("Mount point"), "window": _l("Load average window (minutes)"),
            "unit": _l("systemd unit"), "path": _l("Folder or file"),
            "severity": _l("When the agent goes silent")}


def check_label(kind: str, params: Mapping | None = None, source: str | None = None) -> str:
    """A check's name as people read it: "Disk /var", "Service nginx.service"..."""
    p = dict(params or {})
    if kind == "cpu":
        return _("CPU")
    if kind == "memory":
        return _("Memory")
    if kind == "disk":
        return _("Disk %(mount)s", mount=str(p.get("mount", "/")))
    if kind == "offline":
        return _("Agent reporting")
    if kind == "load":
        return _("Load (%(window)s min)", window=str(p.get("window", 5)))
    if kind == "systemd_unit":
        return _("Service %(unit)s", unit=str(p.get("unit", "")))
    if kind == "backup_freshness":
        return _("Backup %(path)s", path=str(p.get("path", "")))
    if kind == "reachability":
        return _("SSH reachability")
    if kind == "host_key":
        return _("SSH host key")
    return kind


def _num(value, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "?"
    return format_decimal(round(float(value), digits), format="#,##0." + "#" * digits if digits else "#,##0")


def _when(value) -> str:
    if not isinstance(value, str):
        return "?"
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return "?"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return format_datetime(stamp, "short")


def _text(value, limit: int = 200) -> str:
    return str(value if value is not None else "")[:limit]


def reason_label(reason: str | None) -> str:
    """Why a check did not run (an ssh.ConnectionStatus value or a round's own word)."""
    labels = {
        "host_key_pending": _("the host key awaits an administrator's approval"),
        "host_key_changed": _("the host key changed"),
        "timeout": _("the host did not answer in time"),
        "auth_failed": _("the host refused the login"),
        "connection_refused": _("the connection was refused"),
        "unreachable": _("the host cannot be reached"),
        "protocol_error": _("the SSH negotiation failed"),
        "client_key_error": _("no usable private key is configured"),
        "internal_error": _("an internal error"),
        "host_deadline": _("the host's time budget ran out"),
        "connection_lost": _("the connection closed"),
    }
    return labels.get(reason or "", _text(reason, 80))


def summary(key: str | None, params: Mapping | None) -> str:
    """A result's summary in the current language; unknown keys fall back to a neutral text."""
    p = dict(params or {})
    try:
        return _summary(key or "", p)
    except (KeyError, TypeError, ValueError):
        return _("No details.")


def _summary(key: str, p: dict) -> str:
    if key == "":
        return _("No result yet.")
    if key == "cpu_use":
        return _("CPU at %(percent)s %%", percent=_num(p["percent"]))
    if key == "memory_use":
        if "available_mib" in p and "total_mib" in p:
            return _("Memory %(percent)s %% used (%(available)s MiB free of %(total)s MiB)",
                     percent=_num(p["percent"]), available=_num(p["available_mib"], 0),
                     total=_num(p["total_mib"], 0))
        return _("Memory %(percent)s %% used", percent=_num(p["percent"]))
    if key == "disk_use":
        return _("%(mount)s: %(percent)s %% used", mount=_text(p["mount"]), percent=_num(p["percent"]))
    if key == "disk_use_other_mount":
        return _("%(mount)s is not a mount point; %(mounted_on)s is %(percent)s %% used",
                 mount=_text(p["mount"]), mounted_on=_text(p["mounted_on"]), percent=_num(p["percent"]))
    if key == "disk_mount_missing":
        return _("%(mount)s does not exist on the host", mount=_text(p["mount"]))
    if key == "disk_no_size":
        return _("%(mount)s reports no size", mount=_text(p["mount"]))
    if key == "disk_not_reported":
        return _("The agent no longer reports %(mount)s", mount=_text(p["mount"]))
    if key == "load_per_core":
        return _("Load per core %(value)s over %(window)s min (%(cores)s cores)",
                 value=_num(p["per_core"], 2), window=_text(p["window"]), cores=_text(p["cores"]))
    if key == "load_no_cpu_count":
        return _("The host did not say how many CPU cores it has")
    if key == "unit_state":
        return _("%(unit)s is %(state)s", unit=_text(p["unit"]), state=_text(p["active_state"], 40))
    if key == "unit_not_loaded":
        return _("%(unit)s is not loaded (%(state)s)", unit=_text(p["unit"]), state=_text(p["load_state"], 40))
    if key == "tool_missing":
        return _("%(tool)s is not available on the host", tool=_text(p["tool"], 40))
    if key == "systemd_unavailable":
        return _("systemd is not running on the host")
    if key == "backup_age":
        return _("%(path)s: newest file %(hours)s h old", path=_text(p["path"]), hours=_num(p["age_hours"]))
    if key == "backup_future_timestamp":
        return _("%(path)s: the newest file is dated in the future", path=_text(p["path"]))
    if key == "backup_no_files":
        return _("%(path)s holds no files", path=_text(p["path"]))
    if key == "backup_path_missing":
        return _("%(path)s does not exist on the host", path=_text(p["path"]))
    if key == "reachable":
        return _("SSH answers in %(ms)s ms", ms=_num(p["latency_ms"]))
    if key == "unreachable":
        return _("SSH does not answer: %(reason)s", reason=reason_label(p.get("reason")))
    if key == "not_run":
        return _("Not run: %(reason)s", reason=reason_label(p.get("reason")))
    if key == "command_timeout":
        return _("The command did not finish in time")
    if key == "command_error":
        return _("The command failed: %(reason)s", reason=_text(p.get("reason"), 160))
    if key == "unparseable_output":
        return _("The output could not be read: %(reason)s", reason=_text(p.get("reason"), 160))
    if key in ("invalid_params", "unknown_check"):
        return _("The check is misconfigured: %(field)s: %(reason)s",
                 field=_text(p.get("field"), 50), reason=_text(p.get("reason"), 160))
    if key == "agent_online":
        return _("The agent is reporting")
    if key == "agent_offline":
        return _("No report since %(since)s", since=_when(p.get("since")))
    if key == "host_key_ok":
        return _("Pinned host key %(fingerprint)s", fingerprint=_text(p["fingerprint"], 80))
    if key == "host_key_pending":
        return _("New host key %(fingerprint)s awaits an administrator's approval",
                 fingerprint=_text(p["fingerprint"], 80))
    if key == "host_key_changed":
        return _("The host key changed: the host offers %(offered)s, the pinned key is %(pinned)s",
                 offered=_text(p["offered"], 80), pinned=_text(p["pinned"], 200))
    if key == "host_key_rejected":
        return _("The host offers %(fingerprint)s, a key an administrator rejected",
                 fingerprint=_text(p["fingerprint"], 80))
    if key == "check_disabled":
        return _("Check turned off")
    return _("No details.")


def job_labels() -> dict[str, object]:
    """The scheduler's jobs as people name them (the ids stay the ids, in monospace, beside)."""
    return {
        "remote.ssh_round": _l("SSH checks that are due"),
        "remote.offline": _l("Agents gone silent"),
        "remote.alert_events": _l("Alert events not handled yet"),
        "core.mail_outbox": _l("Sending queued mail"),
        "inventory.expiry_reminders": _l("Expiry reminders (certificates, licences, domains, warranties)"),
        "remote.rollups": _l("Daily roll-ups of check results"),
        "remote.retention": _l("Clearing old results, reports and runs"),
        "support.sla": _l("Ticket deadlines: warnings and breaches"),
        "support.close_resolved": _l("Closing tickets resolved long ago"),
        "reports.monthly_delivery": _l("Monthly reports: generate, archive and mail"),
        "support.visit_reminders": _l("Visit reminders before each visit"),
    }


def job_label(job_id: str, fallback: str = "") -> str:
    label = job_labels().get(job_id)
    return str(label) if label is not None else (fallback or job_id)
