"""Object keys and the tombstone for deletes observed only through a relist."""

from __future__ import annotations

from dataclasses import dataclass

from framework.kube import KubeObject


def object_key(obj: KubeObject) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc)."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError(f"object has no metadata.name: {str(obj)[:200]}")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of :func:`object_key`: ``(namespace or None, name)``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


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
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
