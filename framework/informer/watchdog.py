"""An inactivity timer for watch streams, on an injectable clock.

A silently dead connection (half-open TCP behind a load balancer, a stalled proxy) looks exactly
like a quiet watch. The server sends a BOOKMARK about once a minute when asked, so "nothing at all
for longer than that" means the stream is dead (kopf#585, kubernetes#65012). ``touch()`` is
called for every line received, bookmarks included; when the window passes without one, the
watching task is cancelled and the cancellation becomes :class:`WatchStalled`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from framework.clock import Clock, TimerHandle


class WatchStalled(Exception):
    """No event or bookmark arrived within the inactivity window."""


class InactivityWatchdog:
    """``async with InactivityWatchdog(clock, window) as dog: ... dog.touch() ...``"""

    def __init__(self, clock: Clock, window: float):
        if window <= 0:
            raise ValueError("inactivity window must be positive")
        self._clock = clock
        self._window = window
        self._last_activity = 0.0
        self._task: asyncio.Task[object] | None = None
        self._handle: TimerHandle | None = None
        self._cancelling = 0
        self._fired = False

    def touch(self) -> None:
        # Cheap on purpose (one clock read per event); the timer re-arms itself lazily on expiry.
        self._last_activity = self._clock.now()

    async def __aenter__(self) -> InactivityWatchdog:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("InactivityWatchdog must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self.touch()
        self._arm(self._window)
        return self

    def _arm(self, delay: float) -> None:
        self._handle = self._clock.call_later(delay, self._check)

    def _check(self) -> None:
        self._handle = None
        if self._task is None:
            return
        idle = self._clock.now() - self._last_activity
        if idle < self._window:
            self._arm(self._window - idle)
            return
        self._fired = True
        self._task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        task, self._task = self._task, None
        # Turn only our own cancellation into WatchStalled; an outside cancel still propagates.
        if (
            self._fired
            and task is not None
            and task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise WatchStalled(f"no watch event or bookmark for {self._window:g}s") from exc
