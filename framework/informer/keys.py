"""Cache keys and the tombstone for deletes observed only through a relist.

``object_key``/``split_key`` are defined with the other object helpers in :mod:`framework.objects`
and re-exported here because every informer user needs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.kube import KubeObject
from framework.objects import meta_of, object_key, split_key

__all__ = [
    "DeletedFinalStateUnknown",
    "deletion_key",
    "final_state",
    "object_key",
    "resource_version",
    "split_key",
]


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A delete that was not seen as a watch event but inferred at relist.

    The object vanished while the watch was down (or a 410 forced a relist), so its real final
    state is unknown; ``obj`` is the last state this cache saw and may be stale. Delete handlers
    must accept either a plain object or this tombstone (istio#25226 and many others crashed on it).
    """

    key: str
    obj: KubeObject


def deletion_key(obj_or_tombstone: KubeObject | DeletedFinalStateUnknown) -> str:
    """Key of a deleted object or of a tombstone (client-go's DeletionHandlingMetaNamespaceKeyFunc)."""
    if isinstance(obj_or_tombstone, DeletedFinalStateUnknown):
        return obj_or_tombstone.key
    return object_key(obj_or_tombstone)


def final_state(obj_or_tombstone: KubeObject | DeletedFinalStateUnknown) -> KubeObject:
    """The object of a delete notification, unwrapping a tombstone (its last known state)."""
    if isinstance(obj_or_tombstone, DeletedFinalStateUnknown):
        return obj_or_tombstone.obj
    return obj_or_tombstone


def resource_version(obj: KubeObject) -> str:
    return str(meta_of(obj).get("resourceVersion") or "")
