"""How the audit log reads in the reader's language: the names of actions, object types and
fields, and how each stored value is shown.

The log stores raw values (codes, minutes, ISO dates, lists of dicts) so it stays exact and
language-free; this registry turns them into words at display time. Core knows no domain:
each domain registers its own object types, field labels and value formats when the app
starts (`register_object`, `register_actions`), so core never imports a domain. Whatever is
not registered falls back to a humanised name and a plain rendering, and nothing here raises
on a value of an unexpected shape: the log is read by people investigating something, and a
page that fails on an old row would hide exactly what they came for.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import lazy_gettext as _l

from core.durations import format_duration

Formatter = Callable[[object], str]
# What a field's format may be: a kind name, a {code: label} map (or a function returning one,
# for labels computed at display time), or a function that renders the value.
FormatSpec = str | Mapping | Callable

EMPTY = "—"


@dataclass
class _ObjectType:
    label: object = None
    fields: dict = field(default_factory=dict)
    formats: dict = field(default_factory=dict)


_ACTIONS: dict[str, object] = {}
_OBJECTS: dict[str, _ObjectType] = {}
# Fields every object type may carry (name, notes, active...), used when the type does not
# name the field itself.
_COMMON = _ObjectType()


def register_actions(labels: Mapping[str, object]) -> None:
    _ACTIONS.update(labels)


def register_object(object_type: str | None, label=None, *, fields: Mapping[str, object] | None = None,
                    formats: Mapping[str, FormatSpec] | None = None) -> None:
    """Name an object type, its fields and how their values read. `object_type=None`
    registers fields common to every type. Registering the same type again adds to it."""
    target = _COMMON if object_type is None else _OBJECTS.setdefault(object_type, _ObjectType())
    if label is not None:
        target.label = label
    target.fields.update(fields or {})
    target.formats.update(formats or {})


def choices(kind: str) -> list[tuple[str, str]]:
    """(code, label) of every registered object type ("object_type") or action ("action"),
    in the reader's language and alphabetical order, for the log's filters."""
    if kind == "action":
        items = {code: action_label(code) for code in _ACTIONS}
    else:
        items = {code: object_type_label(code) for code in _OBJECTS}
    return sorted(items.items(), key=lambda item: item[1].casefold())


def humanise(code: str) -> str:
    """'min_population' → 'Min population', 'service.wave_target' → 'Service wave target'."""
    words = re.sub(r"[._\-]+", " ", str(code or "")).strip()
    return words[:1].upper() + words[1:] if words else EMPTY


def action_label(action: str) -> str:
    label = _ACTIONS.get(action)
    return str(label) if label is not None else humanise(action)


def object_type_label(object_type: str) -> str:
    spec = _OBJECTS.get(object_type)
    return str(spec.label) if spec is not None and spec.label is not None else humanise(object_type)


def _field(object_type: str, name: str):
    spec = _OBJECTS.get(object_type)
    return (spec.fields.get(name) if spec is not None else None) or _COMMON.fields.get(name)


def field_label(object_type: str, name: str) -> str:
    label = _field(object_type, name)
    if label is None and "." in name:
        # "disk.warning": a part of something (a check's warning level), each part named.
        head, _dot, tail = name.partition(".")
        return f"{field_label(object_type, head)} · {field_label(object_type, tail)}"
    return str(label) if label is not None else humanise(name)


def _format_of(object_type: str, name: str):
    spec = _OBJECTS.get(object_type)
    if spec is not None and name in spec.formats:
        return spec.formats[name]
    if name in _COMMON.formats:
        return _COMMON.formats[name]
    if "." in name:
        return _format_of(object_type, name.partition(".")[2])
    return None


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _as_date(value):
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return dt.date.fromisoformat(value)
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return dt.datetime.fromisoformat(value).date()
    return None


def _as_datetime(value):
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and _ISO_DATETIME.match(value):
        moment = dt.datetime.fromisoformat(value)
    else:
        return None
    # Stored in UTC; flask_babel shows it in the reader's time zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def format_minutes(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return plain(value)
    return format_duration(int(value), str(get_locale() or "en"))


def format_bool(value) -> str:
    if isinstance(value, bool):
        return str(_l("Yes") if value else _l("No"))
    return plain(value)


def format_a_date(value) -> str:
    day = _as_date(value)
    return format_date(day, "medium") if day is not None else plain(value)


def format_a_datetime(value) -> str:
    moment = _as_datetime(value)
    if moment is not None:
        return format_datetime(moment, "short")
    return format_a_date(value)


def format_number(value) -> str:
    if isinstance(value, str):  # a Decimal is logged as its text ("29.40")
        try:
            value = Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return format_decimal(value)
    return plain(value)


KINDS: dict[str, Formatter] = {
    "duration": format_minutes, "bool": format_bool, "date": format_a_date, "datetime": format_a_datetime,
    "number": format_number, "text": lambda v: plain(v),
}


def plain(value) -> str:
    """Any stored value, readably: never a Python repr."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return format_a_date(value)
        if _ISO_DATETIME.match(value):
            try:
                return format_a_datetime(value)
            except ValueError:
                return value
        return value
    if isinstance(value, dt.datetime):
        return format_a_datetime(value)
    if isinstance(value, dt.date):
        return format_a_date(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{humanise(k)}: {plain(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, list | tuple | set):
        return "; ".join(plain(v) for v in value) or EMPTY
    return str(value)


def format_value(object_type: str, name: str, value) -> str:
    """`value` of field `name` of an `object_type`, as the reader should see it."""
    if value is None or value == "":
        return EMPTY
    spec = _format_of(object_type, name)
    try:
        if spec is None:
            return plain(value)
        if isinstance(spec, str):
            return KINDS.get(spec, plain)(value)
        if isinstance(spec, Mapping):
            return _coded(spec, value)
        if _takes_no_argument(spec):  # a function returning the code → label map
            return _coded(spec(), value)
        return str(spec(value))
    except Exception:  # an odd old row must not take the page down (see the docstring)
        return plain(value)


@functools.cache
def _takes_no_argument(function) -> bool:
    try:
        return not inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _coded(labels: Mapping, value) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_coded(labels, v) for v in value) or EMPTY
    label = labels.get(value)
    return str(label) if label is not None else plain(value)


@dataclass
class ChangeRow:
    label: str
    before: str | None  # None when the change is a single value (not a before/after pair)
    after: str


def change_rows(object_type: str, changes) -> list[ChangeRow]:
    """The rows of an entry's changes: {field: [before, after]} or {field: value}."""
    if not isinstance(changes, Mapping):
        return [ChangeRow("", None, plain(changes))] if changes else []
    pairs = {name: isinstance(v, list | tuple) and len(v) == 2 and not _is_list_of_records(v)
             for name, v in changes.items()}
    # A creation logs [None, value] for every field: its values alone read better than a
    # column of "— →".
    created = all(pairs.values()) and all(changes[name][0] is None for name in changes)
    rows = []
    for name, value in changes.items():
        label = field_label(object_type, name)
        if created:
            rows.append(ChangeRow(label, None, format_value(object_type, name, value[1])))
        elif pairs[name]:
            rows.append(ChangeRow(label, format_value(object_type, name, value[0]),
                                  format_value(object_type, name, value[1])))
        else:
            rows.append(ChangeRow(label, None, format_value(object_type, name, value)))
    return rows


def _is_list_of_records(value) -> bool:
    """A two-item list of records ([{...}, {...}]) is a value, not a before/after pair; a pair
    of lists ([[...], [...]]) is a pair."""
    return all(isinstance(v, Mapping) for v in value)


def register_core_labels() -> None:
    """Actions and fields shared by every domain."""
    register_actions({
        "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
        "cancel": _l("Cancelled"), "archive": _l("Archived"), "comment": _l("Commented"),
    })
    register_object(None, fields={
        "name": _l("Name"), "notes": _l("Notes"), "active": _l("Active"), "description": _l("Description"),
        "status": _l("Status"), "council_id": _l("Council"), "enabled": _l("Enabled"), "email": _l("Email"),
        "reason": _l("Reason"), "date": _l("Date"), "starts_on": _l("Starts on"), "ends_on": _l("Ends on"),
    }, formats={"active": "bool", "enabled": "bool", "date": "date", "starts_on": "date", "ends_on": "date"})
    register_object("office_holiday", _l("Office holiday"), fields={"day": _l("Day")}, formats={"day": "date"})
