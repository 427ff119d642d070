"""``UnseenWrites``: reading a stack's TargetGroupBindings from the informer cache, without missing
our own writes the cache has not seen yet.

Right after the applier creates, updates or deletes a TGB, the informer may not show it yet (its
watch event is still on the way). Trusting that cache would re-create what we just created (a 409,
then an adoption), PUT over an object with a stale resourceVersion (a 409 Conflict, a failed
reconcile and a Warning event), or keep an object we just deleted. So per stack we remember how far
the cache must have come before it shows all our writes, and read live (a label-selected LIST, as
before) until it has:

* a create, an update, or a delete the server answers with the object (finalizers hold it): the
  answer's resourceVersion. A watch delivers a collection's events in resourceVersion order, so an
  informer whose last resourceVersion is at least that has applied our write;
* a delete answered without the object (it is gone at once): the deleted object's own
  resourceVersion, and a tombstone (name and uid) that hides it from cached reads until the cache
  drops it too;
* a write that failed without an answer (a timeout: it may have happened): the next read is live,
  and the cache must then reach that LIST's resourceVersion.

resourceVersions are compared as the integers etcd makes them; one that is not an integer counts
as not reached, which costs a live read and never a stale one. Once the cache has caught up the
stack is forgotten, so in the steady state no reconcile reads the API server for its TGBs.

Remembering our own writes, rather than merging them into what the cache shows, keeps one source
for every read: the cache when it is provably current for the stack, the server otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.naming import StackTags
from controller.stack.seams import TargetGroupBindingCache
from framework.kube import KubeObject
from framework.objects import meta_of, object_key, uid_of


def _version(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@dataclass
class _StackWrites:
    stack: StackTags
    resource_version: int = 0
    """The cache shows all our writes once it is at least this far (0: nothing to wait for)."""
    tombstones: dict[str, str] = field(default_factory=dict)
    """Deleted at once: key -> uid, hidden from cached reads while the cache still shows them."""
    read_live: bool = False
    """The next read must be a live LIST (a write's outcome is unknown, or a version unreadable)."""

    def wait_for(self, value: object) -> None:
        version = _version(value)
        if version is None:
            self.read_live = True
        else:
            self.resource_version = max(self.resource_version, version)


class UnseenWrites:
    """What the applier wrote of each stack's TGBs that ``cache`` may not show yet (see above)."""

    def __init__(self, cache: TargetGroupBindingCache) -> None:
        self._cache = cache
        self._stacks: dict[tuple[str, str], _StackWrites] = {}

    def cached(self, stack: StackTags) -> list[KubeObject] | None:
        """The stack's TGBs from the cache, or None when they must be read live."""
        if not self._cache.has_synced:
            return None
        self._forget_seen()
        writes = self._stacks.get((stack.prefix, stack.stack_id))
        if writes is None:
            return self._cache.of_stack(stack)
        if writes.read_live or writes.resource_version:
            return None
        return [
            tgb
            for tgb in self._cache.of_stack(stack)
            if writes.tombstones.get(object_key(tgb)) != uid_of(tgb)
        ]

    def listed(self, stack: StackTags, list_resource_version: object) -> None:
        """A live LIST at ``list_resource_version`` read the stack: it shows any write of unknown outcome."""
        writes = self._stacks.get((stack.prefix, stack.stack_id))
        if writes is not None and writes.read_live:
            writes.read_live = False
            writes.wait_for(list_resource_version)

    def written(self, stack: StackTags, answer: Mapping[str, Any]) -> None:
        """A create or update answered with ``answer``."""
        self._writes(stack).wait_for(meta_of(answer).get("resourceVersion"))

    def deleted(self, stack: StackTags, tgb: Mapping[str, Any], answer: Mapping[str, Any] | None) -> None:
        """``tgb`` deleted; ``answer`` is the server's: the object while finalizers hold it, else a
        Status (or None: it was already gone)."""
        writes = self._writes(stack)
        if answer is not None and answer.get("kind") != "Status":
            writes.wait_for(meta_of(answer).get("resourceVersion"))
            return
        writes.wait_for(meta_of(tgb).get("resourceVersion"))
        writes.tombstones[object_key(tgb)] = uid_of(tgb)

    def failed(self, stack: StackTags) -> None:
        """A write got no answer: it may or may not have happened."""
        self._writes(stack).read_live = True

    def _writes(self, stack: StackTags) -> _StackWrites:
        return self._stacks.setdefault((stack.prefix, stack.stack_id), _StackWrites(stack))

    def _forget_seen(self) -> None:
        """Drop what the cache shows now (a few stacks at most: those written within its lag)."""
        current = _version(self._cache.resource_version)
        for key, writes in list(self._stacks.items()):
            if writes.read_live or current is None or current < writes.resource_version:
                continue
            writes.resource_version = 0
            if writes.tombstones:
                shown = {(object_key(tgb), uid_of(tgb)) for tgb in self._cache.of_stack(writes.stack)}
                writes.tombstones = {k: uid for k, uid in writes.tombstones.items() if (k, uid) in shown}
            if not writes.tombstones:
                del self._stacks[key]
