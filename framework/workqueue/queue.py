"""The base work queue: deduplicating, and never hands one key to two workers at once.

Semantics follow client-go's ``util/workqueue/queue.go``, on asyncio instead of a mutex and
condition variable. Three structures describe every key:

* ``_queue`` (a deque): ready keys in FIFO order, each at most once;
* ``_dirty``: keys that need processing (queued, or re-added while being processed), mapped to the
  clock reading of the add that made them dirty (the start of ``workqueue_queue_duration_seconds``);
* ``_processing``: keys handed to a worker whose ``done()`` has not been called yet, mapped to the
  clock reading of the hand-over (the start of ``workqueue_work_duration_seconds``).

``add`` of a dirty key is a no-op (dedup). ``add`` of a key being processed only marks it dirty;
``done`` then queues it again, so N adds during one run collapse into exactly one follow-up run and
the key is never processed concurrently. The dictionaries double as the metric timestamp maps, so
metrics add no extra bookkeeping to the hot path.

Shutdown behaves like client-go: new adds are ignored, ``get`` keeps returning keys that are still
queued and raises ``QueueShutDown`` once the queue is empty. ``shutdown_with_drain`` additionally
waits until no key is being processed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from framework.clock import REAL_CLOCK, Clock
from framework.workqueue.metrics import QueueMetrics

__all__ = ["QueueShutDown", "WorkQueue"]

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by ``get()`` once the queue is shut down and holds no more ready keys."""


class WorkQueue(Generic[K]):
    """A FIFO of distinct keys with client-go's dirty/processing rules (see the module docstring).

    Not thread-safe: use it from the event loop that runs the workers.
    """

    def __init__(self, *, clock: Clock | None = None, metrics: QueueMetrics | None = None) -> None:
        self._clock = clock if clock is not None else REAL_CLOCK
        self._now = self._clock.now
        self._queue: deque[K] = deque()
        self._dirty: dict[K, float] = {}
        self._processing: dict[K, float] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False
        self._metrics = metrics
        # Resolved once: the hot path pays one call per observation and nothing when unset.
        self._observe_wait = metrics.queue_duration.observe if metrics is not None else None
        self._observe_work = metrics.work_duration.observe if metrics is not None else None
        if metrics is not None:
            metrics.attach(self)

    @property
    def clock(self) -> Clock:
        return self._clock

    def add(self, item: K) -> None:
        """Mark ``item`` as needing processing; no-op if already pending or after shutdown."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty[item] = self._now()
        if item in self._processing:
            return  # done() re-queues it, so the key is never handed out twice at once
        self._queue.append(item)
        if self._getters:
            self._wake_one_getter()

    async def get(self) -> K:
        """Wait for the next ready key and mark it as processing; the caller must call ``done``.

        Raises ``QueueShutDown`` when the queue is shut down and empty.
        """
        queue = self._queue
        while not queue:
            if self._shutting_down:
                raise QueueShutDown
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # We were handed a wake-up but got cancelled before using it: pass it on so
                    # the key that triggered it is not left waiting for the next add.
                    self._wake_one_getter()
                else:
                    self._discard_getter(waiter)
                raise
        # _start_processing, written out: this is the hottest line of every worker loop.
        item = queue.popleft()
        now = self._now()
        added = self._dirty.pop(item)
        self._processing[item] = now
        if self._observe_wait is not None:
            self._observe_wait(now - added)
        return item

    def get_nowait(self) -> K:
        """Like ``get`` but raises ``LookupError`` instead of waiting when nothing is ready."""
        if not self._queue:
            if self._shutting_down:
                raise QueueShutDown
            raise LookupError("no ready item")
        return self._start_processing(self._queue.popleft())

    def done(self, item: K) -> None:
        """Finish processing ``item``; if it was re-added meanwhile, queue it again now."""
        try:
            started = self._processing.pop(item)
        except KeyError:
            raise ValueError(f"done({item!r}) for an item that is not being processed") from None
        if self._observe_work is not None:
            self._observe_work(self._now() - started)
        if item in self._dirty:
            self._queue.append(item)
            if self._getters:
                self._wake_one_getter()
        elif not self._processing and self._drain_waiters:
            self._release_drain_waiters()

    def __len__(self) -> int:
        """Keys ready to be handed out (excludes dirty keys still being processed)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing_count(self) -> int:
        return len(self._processing)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def is_processing(self, item: K) -> bool:
        return item in self._processing

    def shutdown(self) -> None:
        """Ignore further adds and wake every waiting ``get`` (they raise once nothing is queued)."""
        self._shutting_down = True
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shutdown_with_drain(self) -> None:
        """``shutdown()``, then wait until every key handed out has been marked ``done``."""
        self.shutdown()
        while self._processing:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._drain_waiters:
                    self._drain_waiters.remove(waiter)

    # QueueStateSource, read by the metrics collector at scrape time.
    def metrics_depth(self) -> int:
        return len(self._dirty)

    def metrics_processing_since(self) -> list[float]:
        return list(self._processing.values())

    def metrics_now(self) -> float:
        return self._now()

    def _start_processing(self, item: K) -> K:
        now = self._now()
        added = self._dirty.pop(item)
        self._processing[item] = now
        if self._observe_wait is not None:
            self._observe_wait(now - added)
        return item

    def _wake_one_getter(self) -> None:
        getters = self._getters
        while getters:
            waiter = getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _discard_getter(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):  # already popped by a wake-up
            self._getters.remove(waiter)

    def _release_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ready={len(self._queue)}, dirty={len(self._dirty)}, "
            f"processing={len(self._processing)}, shutting_down={self._shutting_down})"
        )
