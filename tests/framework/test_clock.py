"""FakeClock drives sleepers and timers deterministically; timeout_after follows asyncio.timeout."""

from __future__ import annotations

import asyncio

import pytest

from framework.clock import REAL_CLOCK, FakeClock, timeout_after


async def settle() -> None:
    """Let woken tasks run (loop iterations, not time)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sleepers_wake_in_deadline_order_only_when_time_reaches_them() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper("late", 5)), asyncio.create_task(sleeper("early", 2))]
    await clock.wait_for_timers(2)
    clock.advance(1.999)
    await settle()
    assert woke == []
    clock.advance(0.001)
    await settle()
    assert woke == [("early", 2.0)]
    clock.advance(10)
    await settle()
    assert woke == [("early", 2.0), ("late", 12.0)]
    await asyncio.gather(*tasks)
    assert clock.pending_timers == 0


async def test_timers_fire_with_now_at_their_deadline_and_cancel_works() -> None:
    clock = FakeClock(start=100.0)
    seen: list[float] = []
    clock.call_later(3, lambda: seen.append(clock.now()))
    cancelled = clock.call_later(1, lambda: seen.append(-1.0))
    clock.call_later(2, lambda: seen.append(clock.now()))
    cancelled.cancel()
    assert clock.pending_timers == 2
    assert clock.next_deadline() == 102.0
    clock.advance(5)
    assert seen == [102.0, 103.0]
    assert clock.now() == 105.0


async def test_zero_delay_timer_fires_on_next_loop_iteration_without_advance() -> None:
    clock = FakeClock()
    fired = asyncio.Event()
    clock.call_later(0, fired.set)
    await settle()
    assert fired.is_set()
    await clock.sleep(0)  # yields, never blocks


async def test_advance_to_next_timer_and_backwards_time_is_rejected() -> None:
    clock = FakeClock()
    clock.call_later(7, lambda: None)
    assert clock.advance_to_next_timer() == 7
    with pytest.raises(RuntimeError):
        clock.advance_to_next_timer()
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_timeout_after_raises_timeout_error_at_the_virtual_deadline() -> None:
    clock = FakeClock()

    async def slow() -> None:
        async with timeout_after(clock, 5):
            await clock.sleep(60)

    task = asyncio.create_task(slow())
    await clock.wait_for_timers(2)  # the deadline and the sleep
    clock.advance(4.9)
    await settle()
    assert not task.done()
    clock.advance(0.1)
    with pytest.raises(TimeoutError):
        await task
    assert clock.pending_timers == 0


async def test_timeout_after_leaves_fast_bodies_and_outside_cancellation_alone() -> None:
    clock = FakeClock()
    async with timeout_after(clock, 5) as deadline:
        await asyncio.sleep(0)
    assert not deadline.expired
    assert clock.pending_timers == 0

    async def cancelled_from_outside() -> None:
        async with timeout_after(clock, 5):
            await asyncio.Event().wait()

    task = asyncio.create_task(cancelled_from_outside())
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with timeout_after(clock, None):  # no deadline at all
        await asyncio.sleep(0)
    assert clock.pending_timers == 0


async def test_loop_clock_reads_the_loop_time_and_schedules_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    assert abs(REAL_CLOCK.now() - loop.time()) < 1.0
    fired = asyncio.Event()
    REAL_CLOCK.call_later(0, fired.set)
    await REAL_CLOCK.sleep(0)
    await asyncio.wait_for(fired.wait(), timeout=5)
