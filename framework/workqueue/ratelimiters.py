"""Retry delay policies for the rate-limiting queue (client-go ``default_rate_limiters.go``).

A ``RateLimiter`` answers "how long should this key wait before its next retry?" and keeps
whatever per-key history it needs for that. ``forget`` must drop that history completely: a
controller that churns through many keys would otherwise grow memory forever.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

from framework.clock import REAL_CLOCK, Clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    """The retry policy seam of ``RateLimitingQueue``."""

    def when(self, item: Hashable) -> float:
        """Record one more failure of ``item`` and return the seconds it should wait."""

    def forget(self, item: Hashable) -> None:
        """Drop all history for ``item`` (on success, or when giving up)."""

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of ``item`` are on record."""


class ItemExponentialFailureRateLimiter:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``max_delay``.

    Defaults are client-go's controller defaults: 5 ms base, 1000 s cap. The exponent is checked
    before the power is computed, so no failure count can overflow the float arithmetic.
    """

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        if base_delay <= 0:
            raise ValueError(f"base_delay must be > 0, got {base_delay}")
        if max_delay < base_delay:
            raise ValueError(f"max_delay ({max_delay}) must be >= base_delay ({base_delay})")
        self._base_delay = base_delay
        self._max_delay = max_delay
        # The first failure count whose delay reaches the cap; every later one is just the cap.
        self._capped_from = max(math.ceil(math.log2(max_delay / base_delay)), 0)
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures >= self._capped_from:
            return self._max_delay
        return min(math.ldexp(self._base_delay, failures), self._max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)

    @property
    def tracked_items(self) -> int:
        """Keys with failure history (for leak checks)."""
        return len(self._failures)


class BucketRateLimiter:
    """A token bucket shared by all keys: ``qps`` tokens per second, at most ``burst`` saved up.

    Each ``when`` reserves one token, possibly from the future (like ``rate.Limiter.Reserve``), and
    returns how long until that token exists. It has no per-key state, so ``forget`` is a no-op
    and ``num_requeues`` is always 0. Defaults are client-go's: 10 qps, burst 100.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock | None = None) -> None:
        if qps <= 0:
            raise ValueError(f"qps must be > 0, got {qps}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._qps = qps
        self._burst = burst
        self._clock = clock if clock is not None else REAL_CLOCK
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        if self._last is not None:
            elapsed = max(now - self._last, 0.0)
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, item: Hashable) -> None:
        return None

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """Asks every limiter and uses the longest delay; ``forget`` goes to all of them."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter must see the failure (each keeps its own history), so no short-circuit.
        return max([limiter.when(item) for limiter in self._limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """client-go's ``DefaultControllerRateLimiter``: max of exponential (5 ms .. 1000 s) and a
    10 qps / burst 100 bucket. The bucket only throttles retries; first adds bypass limiters."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock=clock),
    )
