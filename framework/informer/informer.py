"""The shared informer: one reflector and one cache per collection, fanned out to many handlers.

Delivery rules (client-go's ``sharedIndexInformer`` with InOrderInformers/AtomicFIFO):

* the store is always updated *before* any handler hears about the change;
* an ADDED for a key already cached becomes ``on_update(old, new)``;
* after a relist the whole store is replaced first, then objects that vanished are delivered as
  deletes carrying :class:`DeletedFinalStateUnknown` (their last known state), then the rest as
  adds/updates;
* a handler registered after start receives synthetic adds (``is_initial_list=True``) for the
  current cache;
* periodic resync replays the cache as ``on_update(obj, obj)`` to the handlers that asked for
  it, per handler period (at least 1 s), without contacting the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass

from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.informer.handlers import (
    SYNCED_MARKER,
    AddNotification,
    DeleteNotification,
    EventHandler,
    Notification,
    ProcessorListener,
    UpdateNotification,
)
from framework.informer.keys import DeletedFinalStateUnknown, object_key
from framework.informer.reflector import (
    DEFAULT_REFLECTOR_SETTINGS,
    Reflector,
    ReflectorSettings,
    ReflectorStats,
)
from framework.informer.store import IndexFunc, Store
from framework.informer.transform import Transform, strip_managed_fields
from framework.kube import KubeClient, KubeObject, Resource

logger = logging.getLogger(__name__)

MINIMUM_RESYNC_PERIOD = 1.0


@dataclass(frozen=True, slots=True)
class HandlerRegistration:
    """Returned by :meth:`SharedInformer.add_handler`; tells whether that handler has synced."""

    listener: ProcessorListener

    @property
    def has_synced(self) -> bool:
        """True once the handler has processed every notification of the initial list."""
        return self.listener.has_synced

    async def wait_for_sync(self) -> None:
        await self.listener.wait_synced()


class SharedInformer:
    """Cache plus event fan-out for one (resource, namespace, selectors)."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        transform: Transform | None = strip_managed_fields,
        settings: ReflectorSettings = DEFAULT_REFLECTOR_SETTINGS,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ):
        self.resource = resource
        self.namespace = namespace or None
        self._clock = clock
        self._store = Store(indexers)
        self._listeners: list[ProcessorListener] = []
        self._synced = asyncio.Event()
        self._resync_changed = asyncio.Event()
        self._reflector = Reflector(
            client,
            resource,
            self,
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            transform=transform,
            settings=settings,
            clock=clock,
            rng=rng,
        )
        self.name = self._reflector.name
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    # --- public API ------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The cache (read-only for everyone but this informer; see :mod:`framework.informer.store`)."""
        return self._store

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and queued to every handler."""
        return self._synced.is_set()

    @property
    def last_sync_resource_version(self) -> str:
        return self._reflector.last_sync_resource_version

    @property
    def stats(self) -> ReflectorStats:
        return self._reflector.stats

    @property
    def is_running(self) -> bool:
        return self._started

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self._store.add_indexer(name, func)

    def add_handler(
        self, handler: EventHandler, *, resync_period: float | None = None, name: str | None = None
    ) -> HandlerRegistration:
        """Register a handler; ``resync_period`` (seconds, min 1 s) asks for periodic cache replays."""
        if resync_period is not None:
            resync_period = max(resync_period, MINIMUM_RESYNC_PERIOD)
        label = name or f"{self.name}#{len(self._listeners)}"
        listener = ProcessorListener(handler, label, resync_period)
        self._listeners.append(listener)
        if self._synced.is_set():
            for obj in self._store.list():
                listener.enqueue(AddNotification(obj, True))
            listener.enqueue(SYNCED_MARKER)
        if self._started:
            listener.start()
        if resync_period is not None:
            self._resync_changed.set()
        return HandlerRegistration(listener)

    async def remove_handler(self, registration: HandlerRegistration) -> None:
        if registration.listener in self._listeners:
            self._listeners.remove(registration.listener)
            await registration.listener.stop()

    def start(self) -> None:
        """Start the reflector, the resync loop and the handler tasks (idempotent)."""
        if self._started:
            return
        self._started = True
        for listener in self._listeners:
            listener.start()
        self._tasks = [
            asyncio.create_task(self._reflector.run(), name=f"reflector:{self.name}"),
            asyncio.create_task(self._resync_loop(), name=f"resync:{self.name}"),
        ]

    async def stop(self) -> None:
        """Stop watching and delivering; the cache keeps its last contents."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for listener in self._listeners:
            await listener.stop()
        self._started = False

    async def wait_for_sync(self, timeout: float | None) -> bool:  # noqa: ASYNC109 - clock-driven
        """Wait until :attr:`has_synced` (on the informer's clock); False on timeout."""
        try:
            async with timeout_after(self._clock, timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return True

    # --- ReflectorSink ---------------------------------------------------------------------------

    def replace(self, objects: list[KubeObject], resource_version: str) -> None:
        previous = self._store.replace(objects)
        if not self._synced.is_set():
            self._distribute_initial(objects, previous)
            return
        current = self._store
        notifications: list[Notification] = [
            DeleteNotification(DeletedFinalStateUnknown(key, old))
            for key, old in previous.items()
            if key not in current
        ]
        for obj in objects:
            old = previous.get(object_key(obj))
            notifications.append(
                UpdateNotification(old, obj) if old is not None else AddNotification(obj, False)
            )
        for listener in self._listeners:
            for notification in notifications:
                listener.enqueue(notification)

    def _distribute_initial(self, objects: list[KubeObject], previous: dict[str, KubeObject]) -> None:
        # ``previous`` is empty here unless objects were cached before the first list (never in practice).
        del previous
        initial = [AddNotification(obj, True) for obj in objects]
        for listener in self._listeners:
            for notification in initial:
                listener.enqueue(notification)
            listener.enqueue(SYNCED_MARKER)
        self._synced.set()

    def apply(self, event_type: str, obj: KubeObject) -> None:
        notification: Notification
        if event_type == "DELETED":
            self._store.delete(object_key(obj))
            notification = DeleteNotification(obj)
        else:
            old = self._store.upsert(obj)
            notification = UpdateNotification(old, obj) if old is not None else AddNotification(obj, False)
        for listener in self._listeners:
            listener.enqueue(notification)

    # --- resync ----------------------------------------------------------------------------------

    async def _resync_loop(self) -> None:
        clock = self._clock
        while True:
            self._resync_changed.clear()
            for listener in self._listeners:
                # A new handler's first replay is one period after the loop first sees it.
                if listener.resync_period is not None and listener.next_resync is None:
                    listener.next_resync = clock.now() + listener.resync_period
            due_times = [lst.next_resync for lst in self._listeners if lst.next_resync is not None]
            if not due_times:
                await self._resync_changed.wait()
                continue
            delay = min(due_times) - clock.now()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with timeout_after(clock, delay):
                        await self._resync_changed.wait()
                continue
            now = clock.now()
            for listener in self._listeners:
                if (
                    listener.next_resync is None
                    or listener.next_resync > now
                    or listener.resync_period is None
                ):
                    continue
                listener.next_resync = now + listener.resync_period
                if self._synced.is_set():
                    for obj in self._store.list():
                        listener.enqueue(UpdateNotification(obj, obj))
