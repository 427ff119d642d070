"""A burst of changes to one endpoint SG's wanted rules costs one reconcile pass (virtual time)."""

from __future__ import annotations

from controller.endpointsg.setup import enqueue_coalesced
from framework.clock import FakeClock
from framework.workqueue import DelayingQueue


def test_changes_inside_the_window_join_the_pass_the_first_one_scheduled() -> None:
    clock = FakeClock()
    queue: DelayingQueue[str] = DelayingQueue(clock=clock)

    enqueue_coalesced(queue, "sg-node", 2.0)
    clock.advance(1.5)
    enqueue_coalesced(queue, "sg-node", 2.0)  # does not push the pass back
    enqueue_coalesced(queue, "sg-other", 2.0)
    assert len(queue) == 0

    clock.advance(0.5)
    assert queue.get_nowait() == "sg-node"
    assert len(queue) == 0 and queue.waiting_count == 1  # sg-other, 1.5 s later
    clock.advance(1.5)
    assert queue.get_nowait() == "sg-other"


def test_a_zero_window_enqueues_at_once() -> None:
    queue: DelayingQueue[str] = DelayingQueue(clock=FakeClock())
    enqueue_coalesced(queue, "sg-node", 0)
    assert queue.get_nowait() == "sg-node"
