"""Every string of the scale-out (scale/, templates/scale/) has its Catalan and Spanish in the
catalogs (translations/pending/scale.json)."""

from __future__ import annotations

import i18n_catalogs as cats

SOURCES = ((cats.ROOT / "scale", cats.PYTHON), (cats.ROOT / "templates" / "scale", cats.JINJA))


def test_every_scale_string_is_translated():
    messages = cats.extract_messages(SOURCES)
    assert "Operations" in messages and "Failed tasks" in messages
    catalogs = {lang: cats.catalog(lang) for lang in ("ca", "es")}
    missing = [(lang, key) for lang, catalog in catalogs.items() for key in messages
               if not ((entry := cats.known(catalog, key)) is not None and entry.string)]
    assert not missing, missing
    pending = cats.pending("scale")
    used = {**messages, **cats.extract_messages([(cats.ROOT / "core", cats.PYTHON)])}  # the API's 503 message
    assert set(pending) <= set(used), "entries no code uses any more"
