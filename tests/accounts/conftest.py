"""Fixtures of the accounts tests; the helpers are in account_support.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def totp_required(app):
    """Two-step sign-in required for admins, as in production (tests turn it off by default)."""
    saved = app.config["TOTP_REQUIRED_ROLES"]
    app.config["TOTP_REQUIRED_ROLES"] = ("admin",)
    yield app
    app.config["TOTP_REQUIRED_ROLES"] = saved


@pytest.fixture
def configure(app):
    """Set configuration values for one test: configure(KEY=value, ...)."""
    saved = {}

    def set_(**values):
        for key, value in values.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield set_
    app.config.update(saved)
