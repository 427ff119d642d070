"""Watch streams: one JSON event per line, replay from a resourceVersion, bookmarks, timeouts,
410 Expired for compacted history, and the drop/stall hooks tests use to exercise client recovery."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError, expired
from .registry import Target
from .selectors import FieldSelector, LabelSelector
from .store import Entry, HistoryExpired, Store, StoredEvent

# How many event lines are joined into one write while replaying or sending initial state.
_WRITE_BATCH = 256


@dataclass(frozen=True)
class WatchRequest:
    target: Target
    labels: LabelSelector
    fields: FieldSelector
    resource_version: str  # "" / "0" mean "current state first"
    allow_bookmarks: bool
    send_initial_events: bool
    timeout_seconds: float | None


ObjectEncoder = Callable[[Entry, Target], bytes]
BookmarkEncoder = Callable[[Target, dict[str, Any]], bytes]


def plain_bookmark(target: Target, metadata: dict[str, Any]) -> bytes:
    """A bookmark's object: the kind with nothing but the metadata (resourceVersion, annotations)."""
    obj = {"kind": target.resource.kind, "apiVersion": target.api_version, "metadata": metadata}
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WatchEncoding:
    """How one watch renders its events' objects: as the objects themselves, or (kubectl get -w)
    each as a Table, bookmarks included."""

    object: ObjectEncoder
    bookmark: BookmarkEncoder = plain_bookmark


@dataclass(frozen=True)
class _Close:
    abort: bool


_WAKE = b""  # queued to wake a waiting stream after `close()`


class Watcher:
    """One open watch. Events reach it synchronously from the store, in commit order."""

    def __init__(self, request: WatchRequest, encoding: WatchEncoding, min_rv: int) -> None:
        self.request = request
        self.encoding = encoding
        self.min_rv = min_rv
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.running = asyncio.Event()
        self.running.set()
        self.closing: _Close | None = None

    @property
    def resource_plural(self) -> str:
        return self.request.target.resource.plural

    def matches(self, entry: Entry | None) -> bool:
        if entry is None:
            return False
        namespace = self.request.target.namespace
        if namespace and entry.namespace != namespace:
            return False
        if not self.request.labels.empty and not self.request.labels.matches(
            entry.obj["metadata"].get("labels")
        ):
            return False
        return self.request.fields.empty or self.request.fields.matches(entry.obj)

    def line(self, event_type: str, entry: Entry) -> bytes:
        return (
            b'{"type":"'
            + event_type.encode()
            + b'","object":'
            + self.encoding.object(entry, self.request.target)
            + b"}\n"
        )

    def event_line(self, event: StoredEvent) -> bytes | None:
        """The line this watcher sends for a stored event, if any (selector transitions included)."""
        if event.rv <= self.min_rv or event.resource != self.request.target.resource.storage_key:
            return None
        if event.type == "ADDED":
            return self.line("ADDED", event.entry) if self.matches(event.entry) else None
        if event.type == "DELETED":
            return self.line("DELETED", event.entry) if self.matches(event.prev) else None
        now, before = self.matches(event.entry), self.matches(event.prev)
        if now and before:
            return self.line("MODIFIED", event.entry)
        if now:
            return self.line("ADDED", event.entry)
        if before:
            return self.line("DELETED", event.entry)
        return None

    def offer(self, event: StoredEvent) -> None:
        line = self.event_line(event)
        if line is not None:
            self.queue.put_nowait(line)

    def close(self, *, abort: bool = False) -> None:
        self.closing = _Close(abort)
        self.running.set()
        self.queue.put_nowait(_WAKE)


def bookmark_line(watcher: Watcher, rv: int, *, initial_events_end: bool = False) -> bytes:
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_events_end:
        metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = watcher.encoding.bookmark(watcher.request.target, metadata)
    return b'{"type":"BOOKMARK","object":' + obj + b"}\n"


def error_line(error: ApiError) -> bytes:
    return json.dumps({"type": "ERROR", "object": error.status()}, separators=(",", ":")).encode() + b"\n"


class WatchHub:
    """Opens watches against the store and keeps track of them for the test hooks."""

    def __init__(self, store: Store, render: ObjectEncoder, bookmark_interval: float) -> None:
        self._store = store
        self._encoding = WatchEncoding(render)
        self.bookmark_interval = bookmark_interval
        self._watchers: set[Watcher] = set()
        self.stalled: set[str | None] = set()

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def drop(self, resource: str | None = None, *, abort: bool = False) -> int:
        """End open watches (all, or those on one plural); `abort` cuts the TCP connection instead of
        ending the response cleanly."""
        dropped = 0
        for watcher in list(self._watchers):
            if resource is None or watcher.resource_plural == resource:
                watcher.close(abort=abort)
                dropped += 1
        return dropped

    def stall(self, resource: str | None = None) -> None:
        """Hold back events on open and future watches (all, or one plural) until `resume()`."""
        self.stalled.add(resource)
        for watcher in self._watchers:
            if self._is_stalled(watcher):
                watcher.running.clear()

    def resume(self) -> None:
        self.stalled.clear()
        for watcher in self._watchers:
            watcher.running.set()

    def _is_stalled(self, watcher: Watcher) -> bool:
        return None in self.stalled or watcher.resource_plural in self.stalled

    async def serve(
        self, http_request: web.Request, request: WatchRequest, encoding: WatchEncoding | None = None
    ) -> web.StreamResponse:
        encoding = encoding or self._encoding
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        resource_key = request.target.resource.storage_key
        initial: list[bytes]
        initial_end_bookmark = False
        # Everything from here to `subscribe` runs without awaiting, so no event can slip between
        # the state/replay we send and the live events the watcher receives.
        if request.resource_version in ("", "0") or request.send_initial_events:
            watcher = Watcher(request, encoding, self._store.current_rv)
            initial = [
                watcher.line("ADDED", entry)
                for entry in self._store.iterate(resource_key, request.target.namespace or None)
                if watcher.matches(entry)
            ]
            initial_end_bookmark = request.send_initial_events
        else:
            start_rv = int(request.resource_version)
            watcher = Watcher(request, encoding, start_rv)
            try:
                replay = self._store.events_after(start_rv)
            except HistoryExpired as exc:
                # A real server answers 200 and reports the expiry as the stream's only event.
                await response.prepare(http_request)
                await response.write(error_line(expired(str(exc))))
                await response.write_eof()
                return response
            initial = [line for line in map(watcher.event_line, replay) if line is not None]
            watcher.min_rv = max(start_rv, self._store.current_rv)
        self._store.subscribe(resource_key, watcher)
        self._watchers.add(watcher)
        if self._is_stalled(watcher):
            watcher.running.clear()
        try:
            # Headers go out only once the watcher is registered, so a client that has seen them
            # can rely on the watch being open (events arriving meanwhile are queued).
            await response.prepare(http_request)
            await self._stream(http_request, response, watcher, initial, initial_end_bookmark)
        except ConnectionResetError:
            pass  # the client went away mid-write; nothing is left to tell it
        finally:
            self._store.unsubscribe(resource_key, watcher)
            self._watchers.discard(watcher)
        return response

    async def _stream(
        self,
        http_request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        initial: list[bytes],
        initial_end_bookmark: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        request = watcher.request
        for start in range(0, len(initial), _WRITE_BATCH):
            await watcher.running.wait()
            if watcher.closing is not None:
                break
            await response.write(b"".join(initial[start : start + _WRITE_BATCH]))
        if initial_end_bookmark and watcher.closing is None:
            # The state sent is the one at the watcher's start version; events after it may be
            # queued already, so the bookmark must not claim anything newer.
            await response.write(bookmark_line(watcher, watcher.min_rv, initial_events_end=True))
        deadline = None if request.timeout_seconds is None else loop.time() + request.timeout_seconds
        next_bookmark = loop.time() + self.bookmark_interval if request.allow_bookmarks else None
        while watcher.closing is None:
            now = loop.time()
            if deadline is not None and now >= deadline:
                break
            timers = [t for t in (deadline, next_bookmark) if t is not None]
            wait = max(0.0, min(timers) - now) if timers else None
            try:
                item = await asyncio.wait_for(watcher.queue.get(), wait)
            except TimeoutError:
                if next_bookmark is not None and loop.time() >= next_bookmark:
                    if watcher.running.is_set():
                        # The queue is empty, so every event up to the current version has been sent.
                        await response.write(bookmark_line(watcher, self._store.current_rv))
                    next_bookmark = loop.time() + self.bookmark_interval
                continue
            await watcher.running.wait()
            if watcher.closing is not None:
                break
            batch = [item]
            while len(batch) < _WRITE_BATCH and not watcher.queue.empty():
                batch.append(watcher.queue.get_nowait())
            await response.write(b"".join(batch))
        if watcher.closing is not None and watcher.closing.abort:
            if http_request.transport is not None:
                http_request.transport.abort()
            return
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
