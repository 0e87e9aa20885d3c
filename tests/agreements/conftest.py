"""Fixtures of the agreements tests: an app speaking the hours ledger's pending translations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_HELPER = Path(__file__).resolve().parent.parent / "support" / "hours_i18n.py"


def _i18n():
    spec = importlib.util.spec_from_file_location("hours_i18n", _HELPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def agreements_catalogs(tmp_path_factory):
    return _i18n().build_catalogs(tmp_path_factory.mktemp("agreements-translations"))


@pytest.fixture
def translated_app(app, make_app, agreements_catalogs):
    """An app (on the test database) whose catalogs include the pending entries of hours.json."""
    from extensions import babel, db

    babel.domain_instance.cache.clear()
    translated = make_app(BABEL_TRANSLATION_DIRECTORIES=str(agreements_catalogs))
    yield translated
    babel.domain_instance.cache.clear()
    db.session.rollback()  # make_app's cleanup TRUNCATEs on PostgreSQL: hold no transaction


@pytest.fixture
def login_to():
    def login(app, user):
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
        return client

    return login
