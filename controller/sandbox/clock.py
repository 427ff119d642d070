"""A virtual clock for tests: sleeping advances time instantly, so timing logic runs in zero wall time."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Implements ``controller.aws.clock.Clock`` in virtual time.

    ``sleep(s)`` moves the clock forward by ``s`` and yields once to the event loop, so a single
    task that paces itself sees exactly the delays it asked for. Every sleep is recorded in
    ``sleeps`` so tests can assert on backoff schedules.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping (for code that only reads the clock)."""
        self.now += seconds
