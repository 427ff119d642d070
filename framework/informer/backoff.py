"""Exponential backoff with jitter and a reset after a quiet period (client-go's reflector backoff)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Defaults are client-go's reflector values: 800 ms doubling to 30 s, jitter 1.0, reset after
    2 min without failures, about 0.22 requests/s per reflector against an unhealthy server."""

    initial: float = 0.8
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 1.0
    """Each delay is ``d * (1 + jitter * U[0,1))`` for the current step ``d``."""
    reset_after: float = 120.0
    """A failure this long after the previous one starts again from ``initial``."""

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.cap < self.initial or self.jitter < 0:
            raise ValueError(f"invalid backoff policy {self!r}")


class Backoff:
    """Stateful delay sequence; ``now`` values come from the caller's clock."""

    def __init__(self, policy: BackoffPolicy = BackoffPolicy(), rng: random.Random | None = None):
        self._policy = policy
        self._rng = rng or random.Random()
        self._step = policy.initial
        self._last_failure: float | None = None

    @property
    def policy(self) -> BackoffPolicy:
        return self._policy

    def next_delay(self, now: float) -> float:
        """Record a failure at ``now`` and return how long to wait before the next attempt."""
        policy = self._policy
        if self._last_failure is not None and now - self._last_failure >= policy.reset_after:
            self._step = policy.initial
        self._last_failure = now
        step = self._step
        self._step = min(policy.cap, step * policy.factor)
        return step * (1.0 + policy.jitter * self._rng.random())

    def reset(self) -> None:
        self._step = self._policy.initial
        self._last_failure = None
