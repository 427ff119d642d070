"""Property tests: random add/get/done interleavings against a reference model of client-go."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from framework.clock import FakeClock
from framework.controller import Controller, Result, WorkerSettings
from framework.workqueue import WorkQueue

KEYS = st.integers(min_value=0, max_value=5)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS),
        st.tuples(st.just("get"), st.just(0)),
        st.tuples(st.just("done"), st.integers(min_value=0, max_value=20)),
    ),
    max_size=200,
)


class ReferenceQueue:
    """client-go's queue.go rules, written as plainly as possible."""

    def __init__(self) -> None:
        self.queue: list[int] = []
        self.dirty: set[int] = set()
        self.processing: set[int] = set()

    def add(self, key: int) -> None:
        if key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.queue.append(key)

    def get(self) -> int:
        key = self.queue.pop(0)
        self.dirty.discard(key)
        self.processing.add(key)
        return key

    def done(self, key: int) -> None:
        self.processing.discard(key)
        if key in self.dirty:
            self.queue.append(key)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS)
def test_queue_matches_the_reference_model_and_never_hands_out_a_held_key(
    operations: list[tuple[str, int]],
) -> None:
    queue: WorkQueue[int] = WorkQueue(clock=FakeClock())
    model = ReferenceQueue()
    held: list[int] = []  # keys handed to "workers" and not yet done
    runs: dict[int, int] = {}
    for operation, argument in operations:
        if operation == "add":
            queue.add(argument)
            model.add(argument)
        elif operation == "get" and model.queue:
            key = queue.get_nowait()
            assert key == model.get()
            assert key not in held, f"key {key} handed to a second worker"
            held.append(key)
            runs[key] = runs.get(key, 0) + 1
        elif operation == "done" and held:
            key = held.pop(argument % len(held))
            queue.done(key)
            model.done(key)
        assert len(queue) == len(model.queue)
        assert queue.dirty_count == len(model.dirty)
        assert queue.processing_count == len(model.processing) == len(held)
    # Finish everything: each key left dirty runs exactly once more, then the queue is empty.
    while held or model.queue:
        if model.queue:
            key = queue.get_nowait()
            assert key == model.get()
            assert key not in held
            held.append(key)
        else:
            key = held.pop()
            queue.done(key)
            model.done(key)
    assert len(queue) == queue.dirty_count == queue.processing_count == 0


@pytest.mark.parametrize("seed", range(5))
async def test_many_async_workers_never_share_a_key(seed: int) -> None:
    """Sixteen controller workers, keys re-added from inside reconciles; an asserting reconciler."""
    rng = random.Random(seed)
    in_flight: set[int] = set()
    violations: list[int] = []  # the controller catches exceptions, so record instead of raising
    reconciles = 0
    budget = {"adds": 300}

    class AssertingReconciler:
        async def reconcile(self, key: int) -> Result:
            nonlocal reconciles
            if key in in_flight:
                violations.append(key)
            in_flight.add(key)
            reconciles += 1
            try:
                for _ in range(rng.randrange(4)):
                    await asyncio.sleep(0)  # interleave with other workers (a yield, not a timer)
                    if budget["adds"] > 0:
                        budget["adds"] -= 1
                        controller.queue.add(rng.randrange(8))
            finally:
                in_flight.discard(key)
            return Result()

    controller: Controller[int] = Controller(
        "stress",
        AssertingReconciler(),
        workers=WorkerSettings(max_concurrent_reconciles=16),
        clock=FakeClock(),
        registry=CollectorRegistry(),
    )
    controller.start()
    for key in range(8):
        controller.queue.add(key)
    queue = controller.queue
    # Idle (nothing queued, nothing running) is final: only reconciles add keys. Bounded in loop
    # iterations so a broken queue fails the test instead of hanging it.
    for _ in range(50_000):
        if len(queue) == queue.processing_count == 0:
            break
        await asyncio.sleep(0)
    idle = len(queue) == queue.processing_count == queue.dirty_count == 0
    # wait_for is only a guard so a broken queue fails instead of hanging; a healthy stop is instant.
    await asyncio.wait_for(controller.stop(timeout=None), timeout=2)
    assert violations == [], f"keys reconciled by two workers at once: {violations}"
    assert idle
    assert not in_flight
    assert reconciles >= 8
