"""The reflector: keep a local copy of one collection in sync with the API server.

Lifecycle (client-go's ``ListAndWatch``, adapted to asyncio):

1. **List** (paginated, ``limit`` + ``continue``). The first list asks for ``resourceVersion="0"``
   (served from the apiserver's watch cache); later relists ask for the last seen RV with
   ``NotOlderThan`` semantics, so the cache never moves back in time (kubernetes PR #83520).
   If that fails with 410 Expired or "too large resource version" (kubernetes#91073,
   kubernetes#107133), it is retried at once with ``resourceVersion=""`` (a quorum read).
2. **Watch** from the list's RV with bookmarks, a jittered server ``timeoutSeconds`` (5-10 min by
   default), a socket read timeout and a bookmark-aware inactivity timer on the injected clock.
   A normal server close re-opens the watch at once from the last RV (no relist). A stalled stream
   is dropped and re-opened the same way.
3. **Errors**: 410 on the watch → back off, then relist. 429, 5xx and connection failures →
   back off and re-watch without relisting (relisting a struggling server only adds load).
   Anything else → back off, then relist. Backoff is 800 ms doubling to 30 s with full jitter,
   reset after 2 min without failures.

Stored RV rule: the RV advances on a list, a BOOKMARK or a watch event, except during the
synthetic ADDED burst a watch from RV ``""``/``"0"`` replays first: those arrive in arbitrary
order, so persisting their RVs could skip events after a reconnect.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from framework.clock import REAL_CLOCK, Clock
from framework.informer.backoff import Backoff, BackoffPolicy
from framework.informer.keys import resource_version
from framework.informer.transform import Transform, strip_managed_fields
from framework.informer.watchdog import InactivityWatchdog, WatchStalled
from framework.kube import (
    KubeApiError,
    KubeClient,
    KubeConnectionError,
    KubeError,
    KubeObject,
    KubeTimeoutError,
    Resource,
)
from framework.objects import meta_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReflectorSettings:
    page_size: int = 500
    """``limit`` per list page."""
    list_page_timeout: float = 60.0
    """Timeout for one list page request (seconds, real time)."""
    min_watch_timeout: float = 300.0
    """Server-side ``timeoutSeconds`` is drawn from [min, 2*min] per watch (client-go: 5-10 min)."""
    inactivity_timeout: float = 75.0
    """Drop a watch that delivered no event or bookmark for this long (clock time). The apiserver
    sends bookmarks about every 60 s when asked, so this only fires for dead streams."""
    watch_read_timeout: float = 90.0
    """Socket read timeout on the watch (real time): a second layer under the inactivity timer."""
    short_watch: float = 1.0
    """A watch that ends this soon with no events counts as a failure and is backed off."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.min_watch_timeout < 1 or self.inactivity_timeout <= 0:
            raise ValueError(f"invalid reflector settings {self!r}")


DEFAULT_REFLECTOR_SETTINGS = ReflectorSettings()


class ReflectorSink(Protocol):
    """Where a reflector delivers what it sees (the shared informer)."""

    def replace(self, objects: list[KubeObject], resource_version: str) -> None:
        """The full, current collection after a (re)list."""

    def apply(self, event_type: str, obj: KubeObject) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED``."""


class _RelistNeeded(Exception):
    """The watch cannot continue from the stored RV (or failed in a way that calls for a relist)."""


@dataclass(slots=True)
class ReflectorStats:
    """Counters for observability and tests."""

    lists: int = 0
    list_failures: int = 0
    watches: int = 0
    watch_failures: int = 0
    stalls: int = 0
    backoffs: int = 0
    events: int = 0
    bookmarks: int = 0


class Reflector:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        sink: ReflectorSink,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = strip_managed_fields,
        settings: ReflectorSettings = DEFAULT_REFLECTOR_SETTINGS,
        clock: Clock = REAL_CLOCK,
        rng: random.Random | None = None,
    ):
        self._client = client
        self._resource = resource
        self._sink = sink
        self._namespace = namespace or None
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._transform: Callable[[KubeObject], KubeObject] = transform or (lambda obj: obj)
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._backoff = Backoff(settings.backoff, self._rng)
        self._resource_version = ""
        self._resource_version_unavailable = False
        self.stats = ReflectorStats()
        self.name = f"{resource}" + (f"/{namespace}" if namespace else "")

    @property
    def last_sync_resource_version(self) -> str:
        return self._resource_version

    # --- the infinite loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch forever; only cancellation stops it.

        No exception ends the loop: a reflector task that dies leaves a cache that silently stops
        changing (the "zombie operator" of kopf#787). Unexpected errors (a transform or handler
        bookkeeping bug, a malformed object) are logged with their traceback and answered with a
        backoff and a relist.
        """
        while True:
            try:
                await self._list()
            except KubeError as error:
                self.stats.list_failures += 1
                delay = self._backoff_delay(error)
                logger.warning("%s: list failed (%s); retrying in %.1fs", self.name, error, delay)
                await self._back_off(delay)
                continue
            except Exception:
                self.stats.list_failures += 1
                delay = self._backoff_delay()
                logger.exception("%s: unexpected error while listing; retrying in %.1fs", self.name, delay)
                await self._back_off(delay)
                continue
            try:
                await self._watch_until_relist()
            except _RelistNeeded as reason:
                logger.info("%s: relisting: %s", self.name, reason)
            except Exception:
                self.stats.watch_failures += 1
                delay = self._backoff_delay()
                logger.exception("%s: unexpected error while watching; relisting in %.1fs", self.name, delay)
                await self._back_off(delay)

    async def _back_off(self, delay: float) -> None:
        self.stats.backoffs += 1  # counted as the sleep starts, so tests can tell it is waiting
        await self._clock.sleep(delay)

    def _backoff_delay(self, error: BaseException | None = None) -> float:
        delay = self._backoff.next_delay(self._clock.now())
        if isinstance(error, KubeApiError) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        return delay

    # --- list ------------------------------------------------------------------------------------

    def _relist_resource_version(self) -> str:
        if self._resource_version_unavailable:
            return ""  # the last RV is gone or ahead of the server: a consistent quorum read
        return self._resource_version or "0"

    async def _list(self) -> None:
        requested = self._relist_resource_version()
        try:
            objects, list_rv = await self._list_pages(requested)
        except KubeApiError as error:
            if requested == "" or not (error.is_gone or error.is_too_large_resource_version):
                raise
            logger.info('%s: list at RV %s failed (%s); listing at RV ""', self.name, requested, error)
            self._resource_version_unavailable = True
            objects, list_rv = await self._list_pages("")
        self._resource_version_unavailable = False
        self.stats.lists += 1
        self._sink.replace(objects, list_rv)
        self._resource_version = list_rv

    async def _list_pages(self, requested_rv: str) -> tuple[list[KubeObject], str]:
        objects: list[KubeObject] = []
        transform = self._transform
        kind, api_version = self._resource.kind, self._resource.api_version
        continue_token = ""
        list_rv = ""
        while True:
            query: list[tuple[str, str]] = [("limit", str(self._settings.page_size))]
            if continue_token:
                # The server pins later pages to the first page's snapshot; RV must not be repeated.
                query.append(("continue", continue_token))
            else:
                query.append(("resourceVersion", requested_rv))
                if requested_rv not in ("", "0"):
                    query.append(("resourceVersionMatch", "NotOlderThan"))
            query.extend(self._selector_query())
            page = await self._client.list(
                self._resource, self._namespace, query=query, request_timeout=self._settings.list_page_timeout
            )
            for item in page.get("items") or ():
                # List items carry no kind/apiVersion; fill them so cached objects look like watched ones.
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
                objects.append(transform(item))
            metadata = meta_of(page)
            list_rv = str(metadata.get("resourceVersion") or list_rv)
            continue_token = str(metadata.get("continue") or "")
            if not continue_token:
                return objects, list_rv

    def _selector_query(self) -> list[tuple[str, str]]:
        query = []
        if self._label_selector:
            query.append(("labelSelector", self._label_selector))
        if self._field_selector:
            query.append(("fieldSelector", self._field_selector))
        return query

    # --- watch -----------------------------------------------------------------------------------

    async def _watch_until_relist(self) -> None:
        """Watch, re-watching after normal ends and retriable failures; raise _RelistNeeded otherwise."""
        while True:
            started = self._clock.now()
            events_before = self.stats.events + self.stats.bookmarks
            try:
                await self._watch_once()
            except WatchStalled as stall:
                self.stats.stalls += 1
                logger.warning(
                    "%s: %s; re-opening the watch from RV %s", self.name, stall, self._resource_version
                )
                continue
            except KubeApiError as error:
                self.stats.watch_failures += 1
                delay = self._backoff_delay(error)
                if error.is_too_many_requests or error.is_server_error:
                    logger.warning("%s: watch failed (%s); re-watching in %.1fs", self.name, error, delay)
                    await self._back_off(delay)
                    continue
                # 410 Gone (our RV was compacted) or an unexpected client error: relist after backoff.
                logger.info("%s: watch ended with %s; relisting in %.1fs", self.name, error, delay)
                await self._back_off(delay)
                raise _RelistNeeded(str(error)) from error
            except (KubeConnectionError, KubeTimeoutError) as error:
                self.stats.watch_failures += 1
                delay = self._backoff_delay(error)
                logger.warning(
                    "%s: watch connection failed (%s); re-watching in %.1fs", self.name, error, delay
                )
                await self._back_off(delay)
                continue
            quiet = self.stats.events + self.stats.bookmarks == events_before
            if quiet and self._clock.now() - started < self._settings.short_watch:
                # Closed at once without a single event: something is wrong; don't spin.
                self.stats.watch_failures += 1
                delay = self._backoff_delay()
                logger.warning("%s: watch closed immediately; re-watching in %.1fs", self.name, delay)
                await self._back_off(delay)

    async def _watch_once(self) -> None:
        settings = self._settings
        start_rv = self._resource_version
        server_timeout = int(settings.min_watch_timeout * (1.0 + self._rng.random()))
        query: list[tuple[str, str]] = [
            ("resourceVersion", start_rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(server_timeout)),
            *self._selector_query(),
        ]
        self.stats.watches += 1
        # The watchdog is outermost so it also covers a server that never sends response headers.
        async with (
            InactivityWatchdog(self._clock, settings.inactivity_timeout) as watchdog,
            self._client.watch(
                self._resource,
                self._namespace,
                query,
                read_timeout=settings.watch_read_timeout,
                total_timeout=server_timeout + settings.watch_read_timeout,
            ) as stream,
        ):
            # From RV "" or "0" the server first replays the collection as ADDED events in arbitrary
            # order; their RVs must not be stored until a non-ADDED event ends the burst.
            in_synthetic_burst = start_rv in ("", "0")
            while True:
                event = await stream.read_event()
                if event is None:
                    return
                watchdog.touch()
                in_synthetic_burst = self._handle_event(event, in_synthetic_burst)

    def _handle_event(self, event: KubeObject, in_synthetic_burst: bool) -> bool:
        event_type = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise KubeConnectionError(f"watch event without an object: {str(event)[:200]}")
        if event_type == "ERROR":
            raise KubeApiError(int(obj.get("code") or 500), obj)
        if event_type == "BOOKMARK":
            self.stats.bookmarks += 1
            rv = resource_version(obj)
            if rv:
                self._resource_version = rv
            return False
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            logger.warning("%s: ignoring watch event of unknown type %r", self.name, event_type)
            return in_synthetic_burst
        self.stats.events += 1
        obj = self._transform(obj)
        self._sink.apply(event_type, obj)
        if event_type != "ADDED":
            in_synthetic_burst = False
        if not in_synthetic_burst:
            rv = resource_version(obj)
            if rv:
                self._resource_version = rv
        return in_synthetic_burst
