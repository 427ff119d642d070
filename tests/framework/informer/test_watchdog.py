"""The inactivity watchdog on a fake clock: fires only after a full quiet window."""

from __future__ import annotations

import asyncio

import pytest

from framework.clock import FakeClock
from framework.informer import InactivityWatchdog, WatchStalled


async def test_fires_after_window_without_activity() -> None:
    clock = FakeClock()
    reached_read = asyncio.Event()

    async def quiet_stream() -> None:
        async with InactivityWatchdog(clock, 10.0):
            reached_read.set()
            await asyncio.Event().wait()  # a read that never returns

    task = asyncio.create_task(quiet_stream())
    await reached_read.wait()
    clock.advance(9.9)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    with pytest.raises(WatchStalled):
        await task


async def test_activity_pushes_the_deadline() -> None:
    clock = FakeClock()
    touched = asyncio.Event()
    go_on = asyncio.Event()

    async def busy_stream() -> None:
        async with InactivityWatchdog(clock, 10.0) as dog:
            await go_on.wait()
            dog.touch()
            touched.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(busy_stream())
    await asyncio.sleep(0)
    clock.advance(8.0)
    go_on.set()
    await touched.wait()
    clock.advance(8.0)  # 16 s since start, 8 s since the touch
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(2.0)
    with pytest.raises(WatchStalled):
        await task


async def test_outside_cancellation_stays_a_cancellation() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def stream() -> None:
        async with InactivityWatchdog(clock, 10.0):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stream())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending_timers == 0


async def test_body_finishing_normally_cancels_timer() -> None:
    clock = FakeClock()
    async with InactivityWatchdog(clock, 5.0):
        pass
    assert clock.pending_timers == 0
