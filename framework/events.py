"""An ``events.k8s.io/v1`` event recorder: fire-and-forget, deduplicated, rate limited.

Semantics follow client-go (``tools/events`` plus the spam filter of ``tools/record``):

* ``record(...)`` never blocks and never raises: it updates in-memory state and, when something has
  to be written, puts a job on a bounded queue drained by one background task. A full queue drops
  the event (logged); a failed write is logged and retried a few times for transient errors.
* **Series**: the same (object, type, reason, action, note) seen again within ``series_window``
  (client-go's 6 minutes) is not a new Event: ``series.count`` goes up and the existing Event is
  PATCHed. Occurrences that arrive while a write for that series is still queued share that write,
  so a hot loop costs one request per queue turn, not one per call. If the Event vanished (404), a
  new one is created carrying the series.
* **Spam filter**: per involved object a token bucket (burst 25, one token per 5 minutes) on the
  injected clock; an occurrence without a token is dropped, as client-go's
  ``EventSourceObjectSpamFilter`` does.
* ``stop(timeout)`` stops accepting events, lets the queue drain for up to ``timeout`` seconds (on
  the injected clock), then cancels the worker: no task outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.kube import (
    MERGE_PATCH_CONTENT_TYPE,
    KubeApiError,
    KubeClient,
    KubeConnectionError,
    KubeError,
    KubeObject,
    KubeTimeoutError,
    Resource,
)
from framework.objects import name_of, namespace_of, uid_of

__all__ = [
    "EVENTS_V1",
    "EventRecorder",
    "EventRecorderSettings",
    "EventType",
    "ObjectReference",
]

logger = logging.getLogger(__name__)

EVENTS_V1: Final = Resource("events.k8s.io", "v1", "events", "Event")
NORMAL: Final = "Normal"
WARNING: Final = "Warning"
EventType = Literal["Normal", "Warning"]
MAX_NOTE_BYTES: Final = 1024
"""events.k8s.io/v1 rejects a ``note`` longer than 1 kB."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _truncate_note(note: str) -> str:
    encoded = note.encode()
    if len(encoded) <= MAX_NOTE_BYTES:
        return note
    return encoded[: MAX_NOTE_BYTES - 3].decode(errors="ignore") + "..."


@dataclass(frozen=True)
class ObjectReference:
    """The ``regarding`` of an Event."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""

    @classmethod
    def of(cls, obj: KubeObject) -> ObjectReference:
        """From an object as the API returns it (``apiVersion`` and ``kind`` must be present)."""
        return cls(
            api_version=str(obj.get("apiVersion") or ""),
            kind=str(obj.get("kind") or ""),
            name=name_of(obj),
            namespace=namespace_of(obj),
            uid=uid_of(obj),
        )

    def as_dict(self) -> dict[str, str]:
        rendered = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            rendered["namespace"] = self.namespace
        if self.uid:
            rendered["uid"] = self.uid
        return rendered


@dataclass(frozen=True)
class EventRecorderSettings:
    reporting_controller: str = "elbv2.k8s.aws"
    reporting_instance: str = field(default_factory=socket.gethostname)
    """The pod name in a cluster (``$POD_NAME``), else the host name."""
    series_window: float = 360.0
    """Repeats within this many seconds of the last occurrence extend the series (client-go: 6 min)."""
    spam_burst: int = 25
    spam_refill_seconds: float = 300.0
    """One token per this many seconds per object (client-go: qps 1/300)."""
    queue_size: int = 1000
    """Pending writes; more are dropped (client-go's ``maxQueuedEvents``)."""
    cache_size: int = 4096
    """Series and spam buckets remembered (least recently used evicted)."""
    max_attempts: int = 3
    retry_delay: float = 1.0
    """Seconds before the second attempt; doubled for each later one."""
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.spam_burst < 1 or self.queue_size < 1 or self.cache_size < 1 or self.max_attempts < 1:
            raise ValueError("spam_burst, queue_size, cache_size and max_attempts must be >= 1")


@dataclass(frozen=True)
class _SeriesKey:
    regarding: ObjectReference
    type: str
    reason: str
    action: str
    note: str


@dataclass
class _Series:
    """One isomorphic event: what was written and what is still to be written."""

    key: _SeriesKey
    first_seen: datetime
    last_seen: datetime
    last_seen_at: float  # injected clock, for the window
    count: int = 1
    name: str | None = None  # the Event's name once created
    namespace: str = "default"
    written_count: int = 0
    queued: bool = False


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class EventRecorder:
    """Records Events for objects; see the module docstring. Call :meth:`start` then :meth:`stop`."""

    def __init__(
        self,
        client: KubeClient,
        settings: EventRecorderSettings | None = None,
        *,
        clock: Clock = REAL_CLOCK,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._settings = settings or EventRecorderSettings()
        self._clock = clock
        self._wall_clock = wall_clock
        self._queue: asyncio.Queue[_Series] = asyncio.Queue(self._settings.queue_size)
        self._series: OrderedDict[_SeriesKey, _Series] = OrderedDict()
        self._buckets: OrderedDict[ObjectReference, _Bucket] = OrderedDict()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_name_stamp = 0
        self.dropped = 0
        """Occurrences dropped by the spam filter or a full queue (for tests and debugging)."""
        self.failed_writes = 0

    @property
    def settings(self) -> EventRecorderSettings:
        return self._settings

    # ----------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._stopping:
            raise RuntimeError("an EventRecorder cannot be restarted after stop()")
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="event-recorder")

    async def stop(self, timeout: float | None = 5.0) -> None:  # noqa: ASYNC109 - clock-driven
        """Stop accepting events; write what is queued within ``timeout`` seconds, then give up."""
        self._stopping = True
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(TimeoutError):
            async with timeout_after(self._clock, timeout):
                await self._queue.join()
        left = self._queue.qsize()
        if left:
            logger.warning("event recorder stopped with %d event write(s) not sent", left)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until every queued write has been attempted (bound it with a timeout)."""
        await self._queue.join()

    async def __aenter__(self) -> EventRecorder:
        self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------------------- recording

    def normal(self, obj: KubeObject | ObjectReference, reason: str, note: str, *, action: str = "") -> None:
        self.record(obj, NORMAL, reason, note, action=action)

    def warning(self, obj: KubeObject | ObjectReference, reason: str, note: str, *, action: str = "") -> None:
        self.record(obj, WARNING, reason, note, action=action)

    def record(
        self,
        obj: KubeObject | ObjectReference,
        event_type: EventType,
        reason: str,
        note: str,
        *,
        action: str = "",
    ) -> None:
        """Record one occurrence; never raises, never waits. ``action`` defaults to ``reason``."""
        try:
            self._record(obj, event_type, reason, note, action or reason)
        except Exception:  # a bad argument must not break the caller's reconcile
            logger.exception("failed to record event %s/%s", event_type, reason)

    def _record(
        self, obj: KubeObject | ObjectReference, event_type: str, reason: str, note: str, action: str
    ) -> None:
        if self._stopping:
            self.dropped += 1
            logger.debug("event recorder stopped; dropping %s %s", event_type, reason)
            return
        if event_type not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, got {event_type!r}")
        regarding = obj if isinstance(obj, ObjectReference) else ObjectReference.of(obj)
        now = self._clock.now()
        if not self._take_token(regarding, now):
            self.dropped += 1
            logger.debug("event spam filter dropped %s %s for %s", event_type, reason, regarding)
            return
        key = _SeriesKey(regarding, event_type, reason, action, _truncate_note(note))
        wall = self._wall_clock()
        series = self._series.get(key)
        if series is not None and now - series.last_seen_at <= self._settings.series_window:
            series.count += 1
            series.last_seen = wall
            series.last_seen_at = now
            self._series.move_to_end(key)
        else:
            series = _Series(key=key, first_seen=wall, last_seen=wall, last_seen_at=now)
            series.namespace = regarding.namespace or "default"
            self._series[key] = series
            self._evict(self._series)
        if series.queued:
            return  # the write already queued will carry this occurrence too
        try:
            self._queue.put_nowait(series)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("event queue full; dropping %s %s for %s", event_type, reason, regarding)
            return
        series.queued = True

    def _take_token(self, regarding: ObjectReference, now: float) -> bool:
        settings = self._settings
        bucket = self._buckets.get(regarding)
        if bucket is None:
            bucket = self._buckets[regarding] = _Bucket(float(settings.spam_burst), now)
            self._evict(self._buckets)
        else:
            self._buckets.move_to_end(regarding)
            refill = max(now - bucket.updated_at, 0.0) / settings.spam_refill_seconds
            bucket.tokens = min(float(settings.spam_burst), bucket.tokens + refill)
            bucket.updated_at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _evict(self, cache: OrderedDict[Any, Any]) -> None:
        while len(cache) > self._settings.cache_size:
            cache.popitem(last=False)

    # ----------------------------------------------------------------------------- writing

    async def _run(self) -> None:
        while True:
            series = await self._queue.get()
            try:
                series.queued = False
                await self._write_with_retries(series)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed_writes += 1
                logger.exception("unexpected failure writing event %s", series.key.reason)
            finally:
                self._queue.task_done()

    async def _write_with_retries(self, series: _Series) -> None:
        delay = self._settings.retry_delay
        for attempt in range(1, self._settings.max_attempts + 1):
            try:
                await self._write(series)
                return
            except KubeError as error:
                transient = isinstance(error, KubeConnectionError | KubeTimeoutError) or (
                    isinstance(error, KubeApiError) and (error.is_server_error or error.is_too_many_requests)
                )
                if not transient or attempt == self._settings.max_attempts or self._stopping:
                    self.failed_writes += 1
                    logger.warning(
                        "failed to write event %s %s for %s: %s",
                        series.key.type,
                        series.key.reason,
                        series.key.regarding,
                        error,
                    )
                    return
            await self._clock.sleep(delay)
            delay *= 2

    async def _write(self, series: _Series) -> None:
        count = series.count
        if count == series.written_count:
            return
        if series.name is not None:
            try:
                await self._client.request(
                    "PATCH",
                    EVENTS_V1.object_path(series.name, series.namespace),
                    body={"series": self._series_body(series, count)},
                    content_type=MERGE_PATCH_CONTENT_TYPE,
                    request_timeout=self._settings.request_timeout,
                )
                series.written_count = count
                return
            except KubeApiError as error:
                if not error.is_not_found:
                    raise
                series.name = None  # the Event expired or was deleted: start it again
        body = self._new_event(series, count)
        await self._client.request(
            "POST",
            EVENTS_V1.collection_path(series.namespace),
            body=body,
            request_timeout=self._settings.request_timeout,
        )
        series.name = str(body["metadata"]["name"])
        series.written_count = count

    def _series_body(self, series: _Series, count: int) -> dict[str, Any]:
        return {"count": count, "lastObservedTime": _micro_time(series.last_seen)}

    def _new_event(self, series: _Series, count: int) -> dict[str, Any]:
        key = series.key
        settings = self._settings
        body: dict[str, Any] = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": self._event_name(key.regarding.name), "namespace": series.namespace},
            "eventTime": _micro_time(series.first_seen),
            "reportingController": settings.reporting_controller,
            "reportingInstance": settings.reporting_instance,
            "action": key.action,
            "reason": key.reason,
            "regarding": key.regarding.as_dict(),
            "note": key.note,
            "type": key.type,
        }
        if count > 1:
            body["series"] = self._series_body(series, count)
        return body

    def _event_name(self, regarding_name: str) -> str:
        # client-go names Events "<object>.<unix nanos in hex>"; keep stamps strictly increasing so
        # two events in the same nanosecond (or a wall clock step back) never collide.
        stamp = max(int(self._wall_clock().timestamp() * 1e9), self._last_name_stamp + 1)
        self._last_name_stamp = stamp
        return f"{regarding_name}.{stamp:x}"
