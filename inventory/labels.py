"""The asset fields as people see them: the names of kinds, statuses and media, the label of
each field (a few read differently for a kind: a domain's registrar), and which fields each
kind of asset shows in its form.
"""

from __future__ import annotations

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

