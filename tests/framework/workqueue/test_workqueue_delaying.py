"""DelayingQueue and RateLimitingQueue in virtual time."""

from __future__ import annotations

import asyncio

from framework.clock import FakeClock
from framework.workqueue import (
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    RateLimitingQueue,
)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_add_after_makes_the_key_ready_exactly_at_its_deadline() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("a", 1.0)
    assert len(queue) == 0
    assert queue.waiting_count == 1
    clock.advance(0.999)
    assert len(queue) == 0
    clock.advance(0.001)
    assert len(queue) == 1
    assert queue.waiting_count == 0
    assert await queue.get() == "a"


async def test_a_blocked_getter_is_woken_by_a_delayed_key() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    getter = asyncio.create_task(queue.get())
    queue.add_after("a", 5)
    await settle()
    assert not getter.done()
    clock.advance(5)
    assert await asyncio.wait_for(getter, timeout=5) == "a"


async def test_earliest_ready_time_wins_and_later_ones_are_ignored() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("a", 10)
    queue.add_after("a", 2)  # earlier: replaces
    queue.add_after("a", 5)  # later than 2: ignored
    assert queue.waiting_count == 1
    clock.advance(2)
    assert len(queue) == 1
    queue.done(await queue.get())
    clock.advance(20)  # the superseded 5 s and 10 s entries must not fire
    assert len(queue) == 0
    assert queue.dirty_count == 0
    assert clock.pending_timers == 0


async def test_keys_become_ready_in_ready_time_order() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("c", 3)
    queue.add_after("a", 1)
    queue.add_after("b", 2)
    queue.add_after("a2", 1)
    clock.advance(3)
    assert [await queue.get() for _ in range(4)] == ["a", "a2", "b", "c"]


async def test_non_positive_delay_adds_immediately_and_dedups_with_queued_key() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add("a")
    queue.add_after("a", 0)
    queue.add_after("b", -1)
    assert len(queue) == 2
    assert clock.pending_timers == 0


async def test_shutdown_drops_waiting_keys_and_cancels_the_timer() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)
    queue.add_after("a", 1)
    queue.add_after("b", 2)
    queue.shutdown()
    assert queue.waiting_count == 0
    assert clock.pending_timers == 0
    queue.add_after("c", 1)
    clock.advance(5)
    assert len(queue) == 0


async def test_waiting_state_is_bounded_under_rescheduling_churn() -> None:
    clock = FakeClock()
    queue: DelayingQueue[int] = DelayingQueue(clock=clock)
    for round_ in range(200):
        for key in range(50):
            queue.add_after(key, 1000 - round_)  # always earlier: leaves a stale heap entry
    assert queue.waiting_count == 50
    assert len(queue._heap) <= 2 * 50 + 64 + 1  # internal: stale entries are compacted away
    clock.advance(1000)
    assert queue.waiting_count == 0
    assert len(queue._heap) == 0
    assert clock.pending_timers == 0
    assert len(queue) == 50


async def test_rate_limited_adds_back_off_exponentially_and_forget_resets() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(
        ItemExponentialFailureRateLimiter(1.0, 100.0), clock=clock
    )
    queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 1
    clock.advance(0.99)
    assert len(queue) == 0
    clock.advance(0.01)
    assert len(queue) == 1
    queue.done(await queue.get())
    queue.add_rate_limited("a")  # second failure: 2 s
    clock.advance(1.99)
    assert len(queue) == 0
    clock.advance(0.01)
    assert len(queue) == 1
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.done(await queue.get())
    queue.add_rate_limited("a")  # history forgotten: back to 1 s
    clock.advance(1)
    assert len(queue) == 1


async def test_default_rate_limiter_is_used_when_none_is_given() -> None:
    clock = FakeClock()
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=clock)
    queue.add_rate_limited("a")
    clock.advance(0.004)
    assert len(queue) == 0
    clock.advance(0.001)
    assert len(queue) == 1


async def test_rate_limited_add_after_shutdown_keeps_no_history() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue(clock=FakeClock())
    queue.shutdown()
    queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 0


async def test_delayed_keys_arrive_on_the_real_loop_clock_too() -> None:
    queue: RateLimitingQueue[str] = RateLimitingQueue()  # REAL_CLOCK: loop.call_later timers
    queue.add_after("later", 0.02)
    queue.add_after("sooner", 0.01)
    # Waits on the queue itself (an event), with a generous guard; no sleep paces the test.
    assert await asyncio.wait_for(queue.get(), timeout=5) == "sooner"
    assert await asyncio.wait_for(queue.get(), timeout=5) == "later"
    queue.shutdown()
