"""A work queue whose keys can be added after a delay (client-go ``delaying_queue.go``).

Waiting keys live in a min-heap ordered by ready time. Instead of client-go's waiting goroutine
(which also polls every 10 s as a safety net) the queue keeps exactly one clock timer, armed for
the earliest ready time; it is re-armed when an earlier key arrives and after each firing. With a
``FakeClock`` the whole mechanism runs in virtual time, and there is no background task to leak.

If a key is already waiting, ``add_after`` only ever moves its ready time *earlier* (earliest wins).
Replaced heap entries are left in place and skipped when popped (lazy deletion); the heap is rebuilt
when stale entries outnumber live ones, so repeated rescheduling cannot grow memory without bound.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable
from typing import TypeVar

from framework.clock import Clock, TimerHandle
from framework.workqueue.metrics import QueueMetrics
from framework.workqueue.queue import WorkQueue

__all__ = ["DelayingQueue"]

K = TypeVar("K", bound=Hashable)

_COMPACT_SLACK = 64  # stale heap entries tolerated before a rebuild, on top of the live count


class DelayingQueue(WorkQueue[K]):
    """``WorkQueue`` plus ``add_after``. Shutdown drops every key that is still waiting."""

    def __init__(self, *, clock: Clock | None = None, metrics: QueueMetrics | None = None) -> None:
        super().__init__(clock=clock, metrics=metrics)
        self._ready_at: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()  # FIFO among equal ready times; keys need no ordering
        self._timer: TimerHandle | None = None
        self._timer_deadline = math.inf

    def add_after(self, item: K, delay: float, *, retry: bool = True) -> None:
        """Add ``item`` once ``delay`` seconds have passed (at once if ``delay <= 0``).

        Counts as a retry in ``workqueue_retries_total``, as upstream, unless ``retry`` is False
        (a caller that delays on purpose to coalesce a burst of changes is not retrying anything).
        """
        if self._shutting_down:
            return
        if retry and self._metrics is not None:
            self._metrics.on_retry()
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._now() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready_at:
            return
        self._ready_at[item] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._sequence), item))
        if len(self._heap) > 2 * len(self._ready_at) + _COMPACT_SLACK:
            self._compact()
        if ready_at < self._timer_deadline:
            self._arm_timer(ready_at)

    @property
    def waiting_count(self) -> int:
        """Keys scheduled by ``add_after`` that are not ready yet."""
        return len(self._ready_at)

    def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = math.inf
        self._ready_at.clear()
        self._heap.clear()
        super().shutdown()

    def _arm_timer(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = self._clock.call_later(deadline - self._now(), self._on_timer)

    def _on_timer(self) -> None:
        # Everything due by the armed deadline is ready, even if the loop fired a hair early.
        due_by = max(self._timer_deadline, self._now())
        self._timer = None
        self._timer_deadline = math.inf
        heap = self._heap
        while heap and heap[0][0] <= due_by:
            ready_at, _, item = heapq.heappop(heap)
            if self._ready_at.get(item) == ready_at:  # otherwise a stale, superseded entry
                del self._ready_at[item]
                self.add(item)
        while heap and self._ready_at.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        if heap:
            self._arm_timer(heap[0][0])

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if self._ready_at.get(entry[2]) == entry[0]]
        heapq.heapify(self._heap)
