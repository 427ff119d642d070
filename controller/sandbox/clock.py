"""A stepping virtual clock for tests of code that paces itself (token buckets, retry backoff).

Unlike ``framework.clock.FakeClock``, whose sleepers wait until a test calls ``advance()``, this
clock moves forward by exactly the requested amount whenever someone sleeps, so a self-pacing
caller runs in zero wall time and the test reads the schedule it followed from ``sleeps``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from framework.clock import TimerHandle


class SteppingClock:
    """Implements ``framework.clock.Clock``; sleeping advances virtual time instantly."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._now += seconds
        await asyncio.sleep(0)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Time jumps to the deadline and the callback runs on the next loop iteration."""
        self._now += max(delay, 0.0)
        return asyncio.get_running_loop().call_soon(callback)

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (for code that only reads the clock)."""
        self._now += seconds
