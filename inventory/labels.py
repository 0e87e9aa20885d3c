"""The asset fields as people see them: the names of kinds, statuses and media, the label of
each field (a few read differently for a kind: a domain's registrar), and which fields each
kind of asset shows in its form.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from inventory.models import HARDWARE_KINDS

# The fields each kind needs; the rest stay hidden in its form (but are shown whenever they
# hold a value, so nothing stored is ever out of reach). Location, assignee and notes apply
# to every kind.
_HARDWARE_FIELDS = ("manufacturer", "model", "serial", "hostname", "ip_address", "os",
                    "purchased_on", "warranty_until")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(HARDWARE_KINDS, _HARDWARE_FIELDS),
    "certificate": ("holder", "issuer", "media", "serial", "expires_on"),
    "license": ("manufacturer", "model", "serial", "seats", "purchased_on", "expires_on"),
    "domain": ("holder", "issuer", "expires_on"),
    "other": ("manufacturer", "model", "serial", "hostname", "ip_address", "os", "holder", "issuer",
              "seats", "purchased_on", "warranty_until", "expires_on"),
}
COMMON_FIELDS = ("location", "assigned_to", "notes")


def kind_labels() -> dict[str, object]:
    return {
        "desktop": _l("Desktop PC"), "laptop": _l("Laptop"), "server": _l("Server or NAS"),
        "printer": _l("Printer"), "network": _l("Network device"), "mobile": _l("Mobile phone or tablet"),
        "certificate": _l("Digital certificate"), "license": _l("Licence"), "domain": _l("Domain"),
        "other": _l("Other"),
    }


def status_labels() -> dict[str, object]:
    return {"in_use": _l("In use"), "stock": _l("In stock"), "repair": _l("Under repair"),
            "retired": _l("Retired")}


def media_labels() -> dict[str, object]:
    return {"software": _l("Software (file or browser)"), "card": _l("Smart card"),
            "usb_token": _l("USB token"), "cloud": _l("Cloud (remote signature)")}


KIND_LABELS: dict[str, dict[str, object]] = {
    "certificate": {"issuer": _l("Certification authority"), "serial": _l("Certificate serial number"),
                    "media": _l("Where the key is kept")},
    "license": {"manufacturer": _l("Vendor"), "model": _l("Product and edition"),
                "serial": _l("Licence key or contract number"), "expires_on": _l("Renewal date")},
    "domain": {"holder": _l("Registrant"), "issuer": _l("Registrar")},
}


def field_labels(kind: str | None = None) -> dict[str, object]:
    """Labels of the asset fields; a few read differently for a kind (a domain's registrar)."""
    labels = {
        "tag": _l("Tag"), "kind": _l("Kind"), "name": _l("Name"), "status": _l("Status"),
        "manufacturer": _l("Manufacturer"), "model": _l("Model"), "serial": _l("Serial number"),
        "hostname": _l("Host name"), "ip_address": _l("IP address"), "os": _l("Operating system"),
        "location": _l("Location"), "assigned_to": _l("Assigned to"), "holder": _l("Holder"),
        "issuer": _l("Issuer"), "media": _l("Medium"), "seats": _l("Seats"),
        "purchased_on": _l("Purchased on"), "warranty_until": _l("Warranty until"),
        "expires_on": _l("Expires on"), "notes": _l("Notes"), "council": _l("Council"),
        "council_id": _l("Council"), "last_seen_at": _l("Last seen"),
    }
    labels.update(KIND_LABELS.get(kind, {}))
    return labels


def fields_for_kind(kind: str | None) -> tuple[str, ...]:
    return KIND_FIELDS.get(kind or "other", KIND_FIELDS["other"])



# --- the same words read back (imports of our own, translated, exports) ---------------------

def header_key(text: str) -> str:
    """How an import reads a header cell: "Serial number" and "serial_number" are one key."""
    return re.sub(r"[\s-]+", "_", str(text).strip().lstrip("\ufeff").strip().lower())


def _build_aliases() -> dict[str, dict[str, str]]:
    """Every language's labels of the fields, kinds, statuses and media, to their codes: an
    export made in Catalan imports back as well as one made in English."""
    from flask import current_app
    from flask_babel import force_locale

    aliases: dict[str, dict[str, str]] = {"header": {}, "kind": {}, "status": {}, "media": {}}
    for language in current_app.config.get("LANGUAGES", ("en",)):
        with force_locale(language):
            for kind in (None, *KIND_LABELS):
                for name, label in field_labels(kind).items():
                    aliases["header"].setdefault(header_key(label), "council" if name == "council_id" else name)
            aliases["header"].setdefault(header_key(_l("ID")), "id")
            for group, labels in (("kind", kind_labels()), ("status", status_labels()), ("media", media_labels())):
                aliases[group].update({str(label).strip().casefold(): code for code, label in labels.items()})
    return aliases


_ALIASES: dict[str, dict[str, dict[str, str]]] = {}


def aliases(group: str) -> dict[str, str]:
    """{label in any language: code} of `group` ("header", "kind", "status" or "media")."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return {}
    key = current_app.import_name + str(id(current_app))
    if key not in _ALIASES:
        _ALIASES.clear()  # one app at a time (tests make several)
        _ALIASES[key] = _build_aliases()
    return _ALIASES[key][group]


def code_for(group: str, raw: str) -> str:
    """A code, or the label an export in any language gives it ("En ús" → in_use)."""
    return aliases(group).get(raw.strip().casefold(), raw.strip().lower())
