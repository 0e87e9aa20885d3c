"""Retry delays after a failed delivery: exponential, capped, with full jitter.

Why these choices:
- Full jitter (a uniform draw between 0 and the exponential ceiling) spreads a fleet's
  retries after a server outage instead of having every agent knock at the same second;
  of the usual variants it does the least total work for the same recovery time.
- The base is the report interval: the agent already has a natural retry at each collection
  tick, so the first retry lands within one interval, and the ceiling doubles from there.
- The cap (15 minutes by default) bounds how long after the server comes back an agent may
  still wait before replaying its queue; reports keep being collected into the spool at the
  normal interval meanwhile, so a long wait loses nothing. With the default spool bound
  (10,000 reports) a 60 s agent buffers about a week offline.
- A floor (a tenth of the interval, at most 1 s) stops a near-zero draw from turning into an
  immediate hammering retry.
- ``Retry-After`` (429/503) is honoured, up to the cap.
"""

from __future__ import annotations

import random

MIN_DELAY = 1.0


class Backoff:
    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if base <= 0 or cap <= 0:
            raise ValueError("backoff base and cap must be positive")
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def ceiling(self) -> float:
        """Upper bound of the next delay, for the current number of consecutive failures."""
        exponent = min(max(self.failures - 1, 0), 62)  # 2**62 * base overflows nothing
        return min(self.cap, self.base * (2**exponent))

    def floor(self) -> float:
        return min(MIN_DELAY, self.base / 10, self.ceiling())

    def failure(self, retry_after: float | None = None) -> float:
        """Record a failed attempt and return how long to wait before the next one."""
        self.failures += 1
        ceiling = self.ceiling()
        delay = max(self.floor(), self._rng.uniform(0.0, ceiling))
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def reset(self) -> None:
        self.failures = 0
