"""The support domain's strings and their pending Catalan and Spanish (translations/pending/hours.json
for the hours ledger, translations/pending/tickets.json for tickets: both cover these sources).

`build_catalogs(out)` compiles the project's catalogs plus the pending entries into `out`, so
that language tests hold before the entries are merged into the .po files, and after.
Used by tests/support/conftest.py and tests/agreements/conftest.py (loaded by path: this
directory's name is also the application's `support` package).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PENDING = ROOT / "translations" / "pending" / "hours.json"
TICKETS_PENDING = ROOT / "translations" / "pending" / "tickets.json"
SOURCES = ((ROOT / "agreements", [("**.py", "python")]),
           (ROOT / "support", [("**.py", "python")]),
           (ROOT / "templates" / "agreements", [("**.html", "jinja2.ext:babel_extract")]),
           (ROOT / "templates" / "support", [("**.html", "jinja2.ext:babel_extract")]))


def split_key(key: str) -> tuple[str | None, str]:
    """(context, msgid) of a key: a msgid with a context is keyed "context\x04msgid", as
    gettext and translations/fill.py key it."""
    context, _sep, msgid = key.rpartition("\x04")
    return context or None, msgid


def known(cat, key: str):
    """The catalog's entry for a key (context included), or None."""
    context, msgid = split_key(key)
    return cat.get(msgid, context=context)


def extract_messages() -> dict[str, str | None]:
    """{msgid or singular (with its context, "context\x04msgid"): plural or None} of the
    agreements and support sources."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    found: dict[str, str | None] = {}
    for dirname, method_map in SOURCES:
        for _file, _line, message, _comments, context in extract_from_dir(str(dirname), method_map,
                                                                          keywords=keywords):
            prefix = f"{context}\x04" if context else ""
            if isinstance(message, tuple | list):
                found[prefix + message[0]] = message[1]
            else:
                found.setdefault(prefix + message, None)
    return found


def pending() -> dict:
    entries = json.loads(PENDING.read_text(encoding="utf-8"))
    if TICKETS_PENDING.exists():
        entries.update(json.loads(TICKETS_PENDING.read_text(encoding="utf-8")))
    return entries


def catalog(lang: str):
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def build_catalogs(out: Path) -> Path:
    from babel.messages.mofile import write_mo

    entries, messages = pending(), extract_messages()
    for lang in ("ca", "es", "en"):
        cat = catalog(lang)
        for entry_key, plural in messages.items():
            found = known(cat, entry_key)
            if found is not None and found.string:
                continue
            context, msgid = split_key(entry_key)
            key = (msgid, plural) if plural else msgid
            if lang == "en":
                cat.add(key, key, context=context)
            elif entry_key in entries:
                value = entries[entry_key][lang]
                cat.add(key, tuple(value) if plural else value, context=context)
        target = out / lang / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "messages.mo").open("wb") as fh:
            write_mo(fh, cat)
    return out
