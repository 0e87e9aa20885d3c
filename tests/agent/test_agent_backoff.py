"""Backoff: exponential ceiling from the interval, capped, full jitter, reset, Retry-After."""

from __future__ import annotations

import random

import pytest

from remote.agent.backoff import MIN_DELAY, Backoff


def test_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base=60, cap=900, rng=random.Random(1))
    ceilings = []
    for _ in range(8):
        backoff.failure()
        ceilings.append(backoff.ceiling())
    assert ceilings == [60, 120, 240, 480, 900, 900, 900, 900]


def test_delays_stay_within_bounds_and_are_jittered() -> None:
    rng = random.Random(42)
    for base, cap in ((60.0, 900.0), (0.2, 1.0), (300.0, 900.0), (3600.0, 900.0)):
        backoff = Backoff(base, cap, rng)
        delays = []
        for _ in range(200):
            ceiling_next = min(cap, base * 2 ** min(backoff.failures, 62))
            delay = backoff.failure()
            assert min(MIN_DELAY, base / 10, ceiling_next) <= delay <= ceiling_next
            delays.append(delay)
        tail = delays[50:]
        assert len(set(tail)) > 100, "full jitter: retries must not line up"
        assert max(tail) <= cap
        assert sum(tail) / len(tail) == pytest.approx(cap / 2, rel=0.25)


def test_huge_failure_counts_do_not_overflow() -> None:
    backoff = Backoff(60, 900, random.Random(3))
    backoff.failures = 10_000
    assert backoff.failure() <= 900


def test_success_resets() -> None:
    backoff = Backoff(60, 900, random.Random(5))
    for _ in range(6):
        backoff.failure()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.failure() <= 60


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    backoff = Backoff(10, 900, random.Random(7))
    assert backoff.failure(retry_after=120) >= 120
    assert backoff.failure(retry_after=5000) <= 900


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 900)
    with pytest.raises(ValueError):
        Backoff(60, 0)
