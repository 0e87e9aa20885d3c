"""The audit log's words for agents, checks and SSH settings (see core.audit_labels)."""

from __future__ import annotations

import json

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.audit_labels import format_minutes, register_actions, register_object
from remote import texts


def format_check(value) -> str:
    """"disk {"mount": "/srv"}" (how a check is logged) → "Disk /srv"."""
    kind, _sep, params = str(value).partition(" ")
    try:
        parsed = json.loads(params) if params else {}
    except ValueError:
        parsed = {}
    return texts.check_label(kind, parsed if isinstance(parsed, dict) else {})


def _check_kinds() -> dict:
    kinds = ("cpu", "memory", "disk", "offline", "load", "systemd_unit", "backup_freshness", "reachability",
             "host_key")
    # Named when the page is drawn, in its language.
    return {kind: LazyString(texts.check_label, kind) for kind in kinds}


def _seconds(value) -> str:
    return format_minutes(value // 60) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def register() -> None:
    register_actions({
        "agent_enroll": _l("Agent enrolled"), "agent_revoke": _l("Agent revoked"),
        "agent_disk_cap": _l("Agent's disks capped"), "check_create": _l("Check added"),
        "check_update": _l("Check changed"), "check_delete": _l("Check deleted"),
        "host_key_approve": _l("SSH host key approved"), "host_key_reject": _l("SSH host key rejected"),
        "ssh_settings_create": _l("SSH access set up"), "ssh_settings_update": _l("SSH access changed"),
        "ssh_settings_delete": _l("SSH access removed"), "ssh_key_generate": _l("SSH key generated"),
    })
    severities = {"critical": _l("Critical: it should always be on (servers, network)"),
                  "warning": _l("Warning: it may be switched off (PCs at night)")}
    register_object("asset", fields={
        "agent": _l("Agent"), "check": _l("Check"), "host_key": _l("SSH host key"),
        "key_fingerprint": _l("Key fingerprint"), "host": _l("Host name or IP address"), "port": _l("Port"),
        "username": _l("User name"), "enabled": _l("Check turned on"), "warning": _l("Warning at"),
        "critical": _l("Critical at"), "interval_seconds": _l("Every (minutes)"),
        "severity": texts.param_labels()["severity"], "refused_mounts": _l("Refused mount points"),
        "cap": _l("Most disks reported"), **_check_kinds(),
    }, formats={"check": format_check, "severity": severities, "interval_seconds": _seconds, "port": "text",
                "agent": lambda v: _("Agent #%(id)s", id=v)})
