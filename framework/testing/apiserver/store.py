"""Object storage: one dict per resource, a global resourceVersion counter and a watch event log.

Every write that changes an object takes the next resourceVersion and appends exactly one event,
so the event with resourceVersion R sits at index R - first in the log: replaying from any version
is an O(1) seek. The log keeps a bounded window; watching or paging from before it answers
410 Expired, as etcd compaction makes a real API server do.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

JsonObject = dict[str, Any]
ResourceKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(eq=False)
class Entry:
    """One stored version of an object. Its dict is never mutated once stored, so it can be shared
    by the store, the event log and every watcher, and its serialisations can be cached."""

    obj: JsonObject
    rv: int
    _full_json: bytes | None = field(default=None, repr=False)
    _item_json: bytes | None = field(default=None, repr=False)

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    def full_json(self) -> bytes:
        """With kind/apiVersion (single objects and watch events)."""
        if self._full_json is None:
            self._full_json = _dumps(self.obj)
        return self._full_json

    def item_json(self) -> bytes:
        """Without kind/apiVersion, as typed lists of built-in resources render their items."""
        if self._item_json is None:
            prefix = (
                b'{"kind":'
                + _dumps(self.obj.get("kind"))
                + b',"apiVersion":'
                + _dumps(self.obj.get("apiVersion"))
            )
            if self._full_json is not None and self._full_json.startswith(prefix + b","):
                # Objects store kind and apiVersion first: strip them instead of encoding again.
                self._item_json = b"{" + self._full_json[len(prefix) + 1 :]
            else:
                self._item_json = _dumps(
                    {k: v for k, v in self.obj.items() if k not in ("kind", "apiVersion")}
                )
        return self._item_json


@dataclass(frozen=True)
class StoredEvent:
    rv: int
    resource: ResourceKey
    type: str  # ADDED, MODIFIED, DELETED
    entry: Entry
    prev: Entry | None


class EventSink(Protocol):
    def offer(self, event: StoredEvent) -> None: ...


class HistoryExpired(Exception):
    """The requested resourceVersion is older than the retained event window."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Store:
    def __init__(self, *, retained_events: int = 250_000) -> None:
        if retained_events < 1:
            raise ValueError("retained_events must be positive")
        self._retained = retained_events
        self._objects: dict[ResourceKey, dict[ObjectKey, Entry]] = {}
        self._sorted: dict[ResourceKey, list[ObjectKey]] = {}
        self._namespace_counts: dict[str, int] = {}
        self._rv = 1
        self._log: list[StoredEvent] = []
        self._log_first_rv = 2  # rv of _log[0] once there is one
        self._last_event_rv: dict[ResourceKey, int] = {}
        self._sinks: dict[ResourceKey, set[EventSink]] = {}

    # ------------------------------------------------------------------------------------ reads

    @property
    def current_rv(self) -> int:
        return self._rv

    @property
    def oldest_watchable_rv(self) -> int:
        """Watching from any resourceVersion >= this replays a complete history."""
        return self._log_first_rv - 1 if self._log else self._rv

    def get(self, resource: ResourceKey, namespace: str, name: str) -> Entry | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def count_in_namespace(self, namespace: str) -> int:
        return self._namespace_counts.get(namespace, 0)

    def sorted_keys(self, resource: ResourceKey) -> list[ObjectKey]:
        keys = self._sorted.get(resource)
        if keys is None:
            keys = sorted(self._objects.get(resource, {}))
            self._sorted[resource] = keys
        return keys

    def iterate(
        self, resource: ResourceKey, namespace: str | None, after: ObjectKey | None = None
    ) -> Iterator[Entry]:
        """Current objects in (namespace, name) order, optionally only those sorting after `after`."""
        yield from self._iterate(
            self._objects.get(resource, {}), self.sorted_keys(resource), namespace, after
        )

    def iterate_at(
        self, resource: ResourceKey, rv: int, namespace: str | None, after: ObjectKey | None = None
    ) -> Iterator[Entry]:
        """Objects as they were at resourceVersion `rv` (consistent continuation of paged lists)."""
        if self._last_event_rv.get(resource, 0) <= rv:
            yield from self.iterate(resource, namespace, after)
            return
        if rv < self.oldest_watchable_rv:
            raise HistoryExpired(rv, self.oldest_watchable_rv)
        objects = dict(self._objects.get(resource, {}))
        for event in reversed(self._log[rv + 1 - self._log_first_rv :]):
            if event.resource != resource:
                continue
            key = (event.entry.namespace, event.entry.name)
            if event.type == "ADDED":
                objects.pop(key, None)
            elif event.prev is not None:
                objects[key] = event.prev
        yield from self._iterate(objects, sorted(objects), namespace, after)

    @staticmethod
    def _iterate(
        objects: dict[ObjectKey, Entry], keys: list[ObjectKey], namespace: str | None, after: ObjectKey | None
    ) -> Iterator[Entry]:
        start = 0
        if after is not None:
            start = bisect.bisect_right(keys, after)
        elif namespace is not None:
            start = bisect.bisect_left(keys, (namespace, ""))
        for index in range(start, len(keys)):
            key = keys[index]
            if namespace is not None and key[0] != namespace:
                if key[0] > namespace:
                    return
                continue
            yield objects[key]

    def events_after(self, rv: int) -> list[StoredEvent]:
        """Every retained event newer than `rv`; raises HistoryExpired if some were compacted."""
        if rv < self.oldest_watchable_rv:
            raise HistoryExpired(rv, self.oldest_watchable_rv)
        if not self._log or rv >= self._rv:
            return []
        return self._log[rv + 1 - self._log_first_rv :]

    # ----------------------------------------------------------------------------------- writes

    def put(self, resource: ResourceKey, obj: JsonObject, prev: Entry | None) -> Entry:
        """Store a new version (ADDED if `prev` is None, MODIFIED otherwise); `obj` is taken over."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        entry = Entry(obj, self._rv)
        objects = self._objects.setdefault(resource, {})
        key = (entry.namespace, entry.name)
        if prev is None:
            objects[key] = entry
            keys = self._sorted.get(resource)
            if keys is not None:
                bisect.insort(keys, key)
            if entry.namespace:
                self._namespace_counts[entry.namespace] = self._namespace_counts.get(entry.namespace, 0) + 1
        else:
            objects[key] = entry
        self._append(StoredEvent(self._rv, resource, "ADDED" if prev is None else "MODIFIED", entry, prev))
        return entry

    def refresh(self, resource: ResourceKey, entry: Entry, obj: JsonObject) -> Entry:
        """Replace the current form of a stored object without a new resourceVersion or an event:
        the object has not been written, only the way the server reads it has changed (a custom
        resource under a new CRD schema). The event log keeps the entries it had."""
        refreshed = Entry(obj, entry.rv)
        self._objects[resource][(entry.namespace, entry.name)] = refreshed
        return refreshed

    def remove(self, resource: ResourceKey, final_obj: JsonObject, prev: Entry) -> Entry:
        """Delete an object; the DELETED event carries `final_obj` at a new resourceVersion."""
        self._rv += 1
        final_obj["metadata"]["resourceVersion"] = str(self._rv)
        entry = Entry(final_obj, self._rv)
        key = (prev.namespace, prev.name)
        del self._objects[resource][key]
        keys = self._sorted.get(resource)
        if keys is not None:
            index = bisect.bisect_left(keys, key)
            del keys[index]
        if prev.namespace:
            self._namespace_counts[prev.namespace] -= 1
        self._append(StoredEvent(self._rv, resource, "DELETED", entry, prev))
        return entry

    def drop_resource(self, resource: ResourceKey) -> None:
        """Forget a resource's (now empty) storage, e.g. when its CRD is deleted."""
        self._objects.pop(resource, None)
        self._sorted.pop(resource, None)

    def compact(self, keep_last: int = 0) -> int:
        """Forget all but the newest `keep_last` events; returns the oldest watchable version."""
        drop = max(0, len(self._log) - keep_last)
        self._drop_events(drop)
        return self.oldest_watchable_rv

    # --------------------------------------------------------------------------------- watchers

    def subscribe(self, resource: ResourceKey, sink: EventSink) -> None:
        self._sinks.setdefault(resource, set()).add(sink)

    def unsubscribe(self, resource: ResourceKey, sink: EventSink) -> None:
        sinks = self._sinks.get(resource)
        if sinks is not None:
            sinks.discard(sink)

    def sinks(self) -> list[EventSink]:
        return [sink for sinks in self._sinks.values() for sink in sinks]

    # ---------------------------------------------------------------------------------- private

    def _append(self, event: StoredEvent) -> None:
        if not self._log:
            self._log_first_rv = event.rv
        self._log.append(event)
        self._last_event_rv[event.resource] = event.rv
        # Trim in batches so that appends stay amortised O(1).
        if len(self._log) > self._retained + max(1, self._retained // 10):
            self._drop_events(len(self._log) - self._retained)
        for sink in list(self._sinks.get(event.resource, ())):
            sink.offer(event)

    def _drop_events(self, count: int) -> None:
        if count <= 0:
            return
        if count >= len(self._log):
            self._log = []
            self._log_first_rv = self._rv + 1
            return
        del self._log[:count]
        self._log_first_rv = self._log[0].rv
