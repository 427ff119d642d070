"""WorkQueue: dedup, per-key exclusivity, follow-up runs, blocking get, shutdown and drain."""

from __future__ import annotations

import asyncio

import pytest

from framework.clock import FakeClock
from framework.workqueue import QueueShutDown, WorkQueue


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_adds_of_a_queued_key_are_deduplicated_and_order_is_fifo() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    for key in ["a", "b", "a", "c", "b"]:
        queue.add(key)
    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(queue) == 0


async def test_many_adds_during_processing_collapse_into_exactly_one_follow_up() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    assert await queue.get() == "a"
    for _ in range(5):
        queue.add("a")
    # Still being processed: not handed out again, only marked dirty.
    assert len(queue) == 0
    assert queue.dirty_count == 1
    with pytest.raises(LookupError):
        queue.get_nowait()
    queue.done("a")
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0
    assert queue.dirty_count == 0
    assert queue.processing_count == 0


async def test_get_blocks_until_an_add_and_each_add_wakes_one_getter() -> None:
    queue: WorkQueue[int] = WorkQueue(clock=FakeClock())
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    assert not any(getter.done() for getter in getters)
    queue.add(1)
    queue.add(2)
    await settle()
    finished = [getter for getter in getters if getter.done()]
    assert sorted(getter.result() for getter in finished) == [1, 2]
    queue.shutdown()
    with pytest.raises(QueueShutDown):
        await next(getter for getter in getters if getter not in finished)


async def test_a_wake_up_given_to_a_cancelled_getter_passes_to_the_next_one() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    first = asyncio.create_task(queue.get())
    await settle()
    second = asyncio.create_task(queue.get())
    await settle()
    queue.add("x")  # wakes `first` ...
    first.cancel()  # ... which is cancelled before it can run
    await settle()
    assert first.cancelled()
    assert await asyncio.wait_for(second, timeout=5) == "x"


async def test_cancelled_waiting_getters_do_not_accumulate() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    for _ in range(50):
        getter = asyncio.create_task(queue.get())
        await settle()
        getter.cancel()
        await settle()
    assert len(queue._getters) == 0  # internal: the waiter list must not grow with cancellations


async def test_shutdown_ignores_new_adds_but_still_hands_out_queued_keys() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    queue.add("b")
    queue.shutdown()
    queue.add("c")
    assert queue.shutting_down
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    with pytest.raises(QueueShutDown):
        await queue.get()
    with pytest.raises(QueueShutDown):
        queue.get_nowait()


async def test_shutdown_with_drain_waits_until_processing_is_empty() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    queue.add("b")
    first, second = await queue.get(), await queue.get()
    drain = asyncio.create_task(queue.shutdown_with_drain())
    await settle()
    assert not drain.done()
    queue.done(first)
    await settle()
    assert not drain.done()
    queue.done(second)
    await asyncio.wait_for(drain, timeout=5)
    # Nothing in flight: returns at once.
    await asyncio.wait_for(queue.shutdown_with_drain(), timeout=5)


async def test_a_key_re_added_during_drain_is_still_handed_out_before_shutdown_completes() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    key = await queue.get()
    queue.add("a")  # dirty while processing, before shutdown
    drain = asyncio.create_task(queue.shutdown_with_drain())
    await settle()
    queue.done(key)  # re-queued: the drain keeps waiting for it
    assert await queue.get() == "a"
    await settle()
    assert not drain.done()
    queue.done("a")
    await asyncio.wait_for(drain, timeout=5)


async def test_done_of_a_key_that_is_not_processing_is_an_error() -> None:
    queue: WorkQueue[str] = WorkQueue(clock=FakeClock())
    queue.add("a")
    with pytest.raises(ValueError, match="not being processed"):
        queue.done("a")
    assert len(queue) == 1  # and the queue was not corrupted by it
