"""Event handler protocol for shared informers, and the per-handler delivery task.

Each registered handler gets its own :class:`ProcessorListener`: an unbounded FIFO plus one
asyncio task, like client-go's processorListener. A slow or blocked handler therefore delays only
its own notifications; its backlog grows in memory instead. Handlers should stay quick and push
real work into a work queue.

Guarantees per handler (same as client-go): notifications are delivered one at a time and, for
one object, in order; what a handler sees is a subsequence of the object's states (a delete plus
re-create may arrive as one update: compare ``metadata.uid``). Nothing is promised across objects.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from framework.informer.keys import DeletedFinalStateUnknown
from framework.kube import KubeObject

logger = logging.getLogger(__name__)

HandlerResult = Awaitable[None] | None
"""Callbacks may be plain functions or coroutines; coroutines are awaited before the next one."""


class EventHandler(Protocol):
    def on_add(self, obj: KubeObject, is_initial_list: bool) -> HandlerResult:
        """A new object; ``is_initial_list`` marks adds from the first list (or the synthetic adds a
        handler receives when registered after start)."""

    def on_update(self, old: KubeObject, new: KubeObject) -> HandlerResult:
        """A changed object; periodic resyncs deliver ``old is new``."""

    def on_delete(self, obj: KubeObject | DeletedFinalStateUnknown) -> HandlerResult:
        """A deleted object: its final state, or a tombstone when the delete was only inferred at relist."""


@dataclass(frozen=True, slots=True)
class FunctionHandler:
    """An :class:`EventHandler` built from optional callbacks; missing ones ignore the event."""

    add: Callable[[KubeObject, bool], HandlerResult] | None = None
    update: Callable[[KubeObject, KubeObject], HandlerResult] | None = None
    delete: Callable[[KubeObject | DeletedFinalStateUnknown], HandlerResult] | None = None

    def on_add(self, obj: KubeObject, is_initial_list: bool) -> HandlerResult:
        return self.add(obj, is_initial_list) if self.add else None

    def on_update(self, old: KubeObject, new: KubeObject) -> HandlerResult:
        return self.update(old, new) if self.update else None

    def on_delete(self, obj: KubeObject | DeletedFinalStateUnknown) -> HandlerResult:
        return self.delete(obj) if self.delete else None


@dataclass(frozen=True, slots=True)
class AddNotification:
    obj: KubeObject
    is_initial_list: bool


@dataclass(frozen=True, slots=True)
class UpdateNotification:
    old: KubeObject
    new: KubeObject


@dataclass(frozen=True, slots=True)
class DeleteNotification:
    obj: KubeObject | DeletedFinalStateUnknown


@dataclass(frozen=True, slots=True)
class _SyncedMarker:
    """Queued right after a handler's initial adds: reaching it means the handler has synced."""


Notification = AddNotification | UpdateNotification | DeleteNotification
_Item = Notification | _SyncedMarker
SYNCED_MARKER = _SyncedMarker()
_YIELD_EVERY = 64


class ProcessorListener:
    """Delivers notifications to one handler from its own task, in order."""

    def __init__(self, handler: EventHandler, name: str, resync_period: float | None):
        self.handler = handler
        self.name = name
        self.resync_period = resync_period
        self.next_resync: float | None = None
        """Clock time of this handler's next cache replay (managed by the informer)."""
        self._pending: deque[_Item] = deque()
        self._wakeup = asyncio.Event()
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failures = 0

    @property
    def backlog(self) -> int:
        return len(self._pending)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def enqueue(self, item: _Item) -> None:
        self._pending.append(item)
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer-listener:{self.name}")

    async def stop(self) -> None:
        """Stop delivering; notifications still queued are dropped (the informer is going away)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        pending = self._pending
        streak = 0
        while True:
            while not pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            item = pending.popleft()
            if isinstance(item, _SyncedMarker):
                self._synced.set()
                continue
            await self._deliver(item)
            streak += 1
            if streak >= _YIELD_EVERY:
                # Synchronous callbacks never suspend; yield now and then so a long backlog does
                # not starve the other listeners and the reflector.
                streak = 0
                await asyncio.sleep(0)

    async def _deliver(self, item: Notification) -> None:
        handler = self.handler
        try:
            if isinstance(item, AddNotification):
                result = handler.on_add(item.obj, item.is_initial_list)
            elif isinstance(item, UpdateNotification):
                result = handler.on_update(item.old, item.new)
            else:
                result = handler.on_delete(item.obj)
            if inspect.isawaitable(result):
                await result
            self.delivered += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            # One failing callback must not kill the listener: log it and keep delivering.
            self.failures += 1
            logger.exception("informer handler %s failed on %s", self.name, type(item).__name__)
