"""The informer cache: objects by key, plus named secondary indices.

Read-only contract: objects returned by any method are the cached dicts themselves, not copies
(copying 20,000 pods on every read would defeat the cache). Callers must never mutate them;
doing so silently corrupts the indices and what every other handler sees. Copy first
(``copy.deepcopy``) if you need to change an object. Mutation happens only through the owning
informer, which replaces whole objects.

Everything runs on one event loop, so no locking is needed: each method completes without
awaiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from framework.kube import KubeObject
from framework.objects import namespace_of, object_key

IndexFunc = Callable[[KubeObject], Iterable[str]]
"""Returns the index values an object is filed under (zero or more)."""

NAMESPACE_INDEX = "namespace"


def namespace_index(obj: KubeObject) -> list[str]:
    namespace = namespace_of(obj)
    return [namespace] if namespace else []


class Store:
    """Key -> object map with indices; the ``namespace`` index is always present."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None):
        self._objects: dict[str, KubeObject] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    # --- indices -------------------------------------------------------------------------------

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Register an index; existing objects are indexed at once."""
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = func
        index: dict[str, set[str]] = {}
        self._indices[name] = index
        for key, obj in self._objects.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    @property
    def indexer_names(self) -> list[str]:
        return list(self._indexers)

    def _index(self, key: str, obj: KubeObject) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: KubeObject) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]  # no empty sets left behind after churn

    def by_index(self, index_name: str, value: str) -> list[KubeObject]:
        """Objects filed under ``value`` in index ``index_name`` (read-only)."""
        keys = self._index_or_raise(index_name).get(value, ())
        return [self._objects[key] for key in keys]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        return sorted(self._index_or_raise(index_name).get(value, ()))

    def index_values(self, index_name: str) -> list[str]:
        return sorted(self._index_or_raise(index_name))

    def _index_or_raise(self, index_name: str) -> dict[str, set[str]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"no indexer named {index_name!r}") from None

    # --- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> KubeObject | None:
        return self._objects.get(key)

    def get_by_name(self, name: str, namespace: str | None = None) -> KubeObject | None:
        return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def keys(self) -> list[str]:
        return list(self._objects)

    def list(self) -> list[KubeObject]:
        return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._objects))

    # --- writes (the owning informer only) -----------------------------------------------------

    def upsert(self, obj: KubeObject) -> KubeObject | None:
        """Insert or replace ``obj``; returns the previous object under its key, if any."""
        key = object_key(obj)
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: str) -> KubeObject | None:
        """Remove the object under ``key``; returns it, or None if absent."""
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objects: Iterable[KubeObject]) -> dict[str, KubeObject]:
        """Make the store hold exactly ``objects``; returns the previous contents by key."""
        previous = self._objects
        self._objects = {object_key(obj): obj for obj in objects}
        self._indices = {name: {} for name in self._indexers}
        for key, obj in self._objects.items():
            self._index(key, obj)
        return previous
