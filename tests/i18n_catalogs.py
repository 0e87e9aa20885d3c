"""A domain's translatable strings, and catalogs compiled with its pending translations.

Each domain's language tests read the msgids of its own sources and the Catalan and Spanish
waiting in its translations/pending/<domain>.json. `build_catalogs` compiles the project's
catalogs plus those entries, so that the tests hold before the entries are merged into the
.po files, and after. Msgids with a context are keyed "context\\x04msgid", as gettext and
translations/fill.py key them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = [("**.py", "python")]
# One level only: remote/agent is a separate, English-only program.
PYTHON_TOP_LEVEL = [("*.py", "python")]
JINJA = [("**.html", "jinja2.ext:babel_extract")]
LANGS = ("ca", "es", "en")


def split_key(key: str) -> tuple[str | None, str]:
    """(context, msgid) of a key."""
    context, _sep, msgid = key.rpartition("\x04")
    return context or None, msgid


def known(cat, key: str):
    """The catalog's entry for a key (context included), or None."""
    context, msgid = split_key(key)
    return cat.get(msgid, context=context)


def extract_messages(sources: Iterable[tuple[Path, list]]) -> dict[str, str | None]:
    """{msgid or singular, keyed with its context: plural or None} of the given sources."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
    found: dict[str, str | None] = {}
    for dirname, method_map in sources:
        for _file, _line, message, _comments, context in extract_from_dir(str(dirname), method_map,
                                                                          keywords=keywords):
            prefix = f"{context}\x04" if context else ""
            if isinstance(message, tuple | list):
                found[prefix + message[0]] = message[1]
            else:
                found.setdefault(prefix + message, None)
    return found


def pending(*names: str) -> dict:
    """The entries of translations/pending/<name>.json, later files winning."""
    entries: dict = {}
    for name in names:
        path = ROOT / "translations" / "pending" / f"{name}.json"
        if path.exists():
            entries.update(json.loads(path.read_text(encoding="utf-8")))
    return entries


def catalog(lang: str):
    from babel.messages.pofile import read_po

    with (ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def build_catalogs(out: Path, messages: dict[str, str | None], entries: dict) -> Path:
    """The project's catalogs, plus `entries` for the `messages` they lack, compiled into `out`."""
    from babel.messages.mofile import write_mo

    for lang in LANGS:
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


@contextlib.contextmanager
def app_with_catalogs(make_app, catalogs: Path):
    """An app (on the test database) that reads its catalogs from `catalogs`."""
    from extensions import babel, db

    # Flask-Babel keeps one translations cache per process, keyed by locale only: empty it so
    # this app loads its own catalogs, and again afterwards for the apps of the next tests.
    babel.domain_instance.cache.clear()
    yield make_app(BABEL_TRANSLATION_DIRECTORIES=str(catalogs))
    babel.domain_instance.cache.clear()
    # make_app empties the tables next: the test's own session must not still hold a
    # transaction on them, or PostgreSQL makes that wait forever.
    db.session.rollback()


def login(app, user):
    """A test client of `app` signed in as `user`, without going through the login form (the
    `client_for` fixture uses it too)."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = user.get_id()
        sess["_fresh"] = True
    return client
