"""Injectable time: a ``Clock`` protocol, the real loop clock and a virtual ``FakeClock`` for tests.

Everything in ``framework`` that waits or measures time takes a ``Clock`` instead of calling
``asyncio.sleep`` or ``loop.time()`` directly (client-go does the same with ``clock.WithTicker``).
Tests then drive time with ``FakeClock.advance()`` and never sleep for real to wait for a deadline.

A clock offers three things:

* ``now()``: monotonic seconds (only differences are meaningful);
* ``await sleep(seconds)``;
* ``call_later(delay, callback)``: a cancellable timer. The delaying queue uses one timer for its
  earliest deadline instead of a waker task, so it has no task to leak and no polling interval.

``timeout_after(clock, seconds)`` is ``asyncio.timeout`` driven by a ``Clock``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

__all__ = ["Clock", "FakeClock", "LoopClock", "TimerHandle", "timeout_after"]


class TimerHandle(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None:
        """Prevent the callback from running; a no-op if it already ran or was cancelled."""


class Clock(Protocol):
    """Monotonic time plus the two ways of waiting for it."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings are meaningful."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds`` (a value <= 0 only yields to the loop)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` on the event loop once ``delay`` seconds have passed."""


class LoopClock:
    """The real clock: the running event loop's ``time()``, ``asyncio.sleep`` and ``call_later``.

    Stateless, so one instance can be shared by everything in a process (``REAL_CLOCK``).
    """

    # asyncio's BaseEventLoop.time() *is* time.monotonic(); calling it directly saves a loop lookup
    # and a method call on every reading, which matters on the work queue's hot path (3 per key).
    # Timers are relative (call_later), so they stay consistent with this reading by construction.
    now = staticmethod(time.monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)

    def __repr__(self) -> str:
        return "LoopClock()"


REAL_CLOCK: Clock = LoopClock()
"""The shared real clock; the default wherever a ``clock`` parameter is optional."""


class _FakeTimer:
    __slots__ = ("_clock", "callback", "deadline", "done")

    def __init__(self, clock: FakeClock, deadline: float, callback: Callable[[], object]) -> None:
        self._clock = clock
        self.deadline = deadline
        self.callback = callback
        self.done = False  # fired or cancelled

    def cancel(self) -> None:
        if not self.done:
            self.done = True
            self._clock._live_timers -= 1


class FakeClock:
    """Virtual time for tests. Time stands still until ``advance()`` moves it.

    ``advance(seconds)`` fires every timer whose deadline falls inside the window, in deadline
    order (ties in scheduling order), with ``now()`` set to each timer's deadline while its callback
    runs. Sleepers are woken by resolving their futures, so they resume the next time the test
    yields to the loop (for example with ``await asyncio.sleep(0)``).

    Timers scheduled with a delay <= 0 are due immediately: they fire on the next loop iteration
    without any ``advance()``, the way ``loop.call_later(0, ...)`` behaves.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._sequence = itertools.count()
        self._live_timers = 0
        self._timer_watchers: list[tuple[int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handle = self.call_later(seconds, lambda: _resolve(wakeup))
        try:
            await wakeup
        finally:
            handle.cancel()

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        timer = _FakeTimer(self, self._now + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.deadline, next(self._sequence), timer))
        self._live_timers += 1
        if delay <= 0:
            asyncio.get_running_loop().call_soon(self._fire_due, self._now)
        self._notify_timer_watchers()
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and fire the timers that became due, in order."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance({seconds}))")
        self._fire_due(self._now + seconds)

    def advance_to_next_timer(self) -> float:
        """Advance exactly to the earliest pending deadline and fire it; returns the step taken."""
        deadline = self.next_deadline()
        if deadline is None:
            raise RuntimeError("no pending timers")
        step = max(deadline - self._now, 0.0)
        self.advance(step)
        return step

    @property
    def pending_timers(self) -> int:
        """Timers (including sleepers) that have neither fired nor been cancelled."""
        return self._live_timers

    def next_deadline(self) -> float | None:
        """The earliest deadline among pending timers, or None."""
        self._drop_dead_heads()
        return self._timers[0][0] if self._timers else None

    async def wait_for_timers(self, count: int = 1) -> None:
        """Wait (in loop steps, not time) until at least ``count`` timers are pending.

        Lets a test wait until the code under test has really gone to sleep before advancing.
        """
        if self._live_timers >= count:
            return
        reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._timer_watchers.append((count, reached))
        try:
            await reached
        finally:
            self._timer_watchers = [(n, f) for n, f in self._timer_watchers if f is not reached]

    def _fire_due(self, until: float) -> None:
        while True:
            self._drop_dead_heads()
            if not self._timers or self._timers[0][0] > until:
                break
            deadline, _, timer = heapq.heappop(self._timers)
            timer.done = True
            self._live_timers -= 1
            self._now = max(self._now, deadline)
            timer.callback()
        self._now = max(self._now, until)

    def _drop_dead_heads(self) -> None:
        while self._timers and self._timers[0][2].done:
            heapq.heappop(self._timers)

    def _notify_timer_watchers(self) -> None:
        for count, reached in self._timer_watchers:
            if self._live_timers >= count and not reached.done():
                reached.set_result(None)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, pending_timers={self._live_timers})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class timeout_after:
    """``async with timeout_after(clock, seconds):`` raises ``TimeoutError`` when the clock passes.

    Same contract as ``asyncio.timeout`` (the body is cancelled at the deadline and the
    cancellation is turned into ``TimeoutError``; an outside cancellation stays a cancellation),
    but the deadline is measured on the injected clock so tests can reach it in virtual time.
    ``seconds=None`` disables the deadline.
    """

    def __init__(self, clock: Clock, seconds: float | None) -> None:
        self._clock = clock
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._handle: TimerHandle | None = None
        self._cancelling = 0
        self._expired = False

    @property
    def expired(self) -> bool:
        """True once the deadline has fired."""
        return self._expired

    async def __aenter__(self) -> timeout_after:
        if self._seconds is None:
            return self
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("timeout_after must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = self._clock.call_later(self._seconds, self._on_deadline)
        return self

    def _on_deadline(self) -> None:
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # Only our own cancellation becomes a TimeoutError; if someone else also cancelled the
        # task, ``uncancel()`` stays above the entry count and the CancelledError propagates.
        if (
            self._expired
            and self._task is not None
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc
