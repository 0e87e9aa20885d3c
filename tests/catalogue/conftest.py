"""Fixtures of the catalogue's tests: services and agreements to log hours against."""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture
def make_service():
    from catalogue import services

    def make(code="ETRAM", name="e-TRAM", **values):
        return services.create_service({"code": code, "name": name, "category": "e_administration", **values},
                                       actor=None)

    return make


@pytest.fixture
def covered(world):
    """Both councils have an agreement over 2026 (tests of hours are frozen in 2026)."""
    from agreements import services

    for council in (world.council_a, world.council_b):
        services.create_agreement(council, {"starts_on": dt.date(2026, 1, 1), "ends_on": dt.date(2026, 12, 31),
                                            "onsite_minutes_month": 240, "remote_minutes_month": 120,
                                            "rollover": "none", "signed_on": dt.date(2025, 12, 1)}, actor=None)
