"""Fill the ca/es/en catalogs from translation files, after `make extract-translations`.

    python translations/fill.py translations/pending/*.json

Each JSON file maps an English msgid to {"ca": "...", "es": "..."} (plural msgids map to
{"ca": ["one", "other"], "es": [...]} keyed by the singular). A msgid with a context
(`pgettext("ticket status", "Closed")`: "Tancada", where the plain "Closed" of months is
"Tancats") is keyed as gettext keys it, "context\u0004msgid". English gets the msgid itself,
so that no catalog has an empty entry. Entries already translated are kept unless the file
says otherwise. Prints what is still missing and exits 1 if anything is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent
LANGS = ("ca", "es", "en")


def main(paths: list[str]) -> int:
    table: dict[str, dict] = {}
    for path in paths:
        table.update(json.loads(Path(path).read_text(encoding="utf-8")))
    missing = 0
    for lang in LANGS:
        po_path = ROOT / lang / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in catalog:
            if not message.id:
                continue
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            if message.context:
                key = f"{message.context}\x04{key}"
            if lang == "en":
                message.string = message.id if isinstance(message.id, tuple) else message.id
            elif key in table and lang in table[key]:
                value = table[key][lang]
                message.string = tuple(value) if isinstance(message.id, tuple) else value
            if isinstance(message.string, tuple):
                empty = not all(message.string)
            else:
                empty = not message.string
            if empty:
                missing += 1
                print(f"{lang}: untranslated: {key!r}")
            message.flags.discard("fuzzy")
        with po_path.open("wb") as fh:
            write_po(fh, catalog, width=100, sort_output=True, omit_header=False)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
