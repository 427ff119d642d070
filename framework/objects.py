"""Object helpers: typed reads of ``metadata`` and small typed writes over
:class:`~framework.kube.KubeClient` (patches, status, delete, finalizers).

Reads (``meta_of``, ``name_of``, ``object_key``, ``finalizers_of``, ...) accept any decoded object,
including the partial ones tests and transforms build: a missing ``metadata`` reads as empty, so
callers never spell ``obj.get("metadata") or {}`` themselves. Only ``object_key`` insists on a name,
because a key without one would silently merge distinct objects in a cache.

Finalizers are added and removed with a JSON patch that also *replaces* ``metadata.resourceVersion``
with the version the caller read. The server then applies its optimistic-concurrency check to the
patched object: if anyone wrote the object in between, the write fails with **409 Conflict** and
nothing is clobbered (a remove-by-index can never drop somebody else's finalizer). A JSON patch
``test`` op would also guard the write, but a failed ``test`` answers 422, which callers cannot tell
apart from a malformed patch; the resourceVersion carried in the patch gives the conflict its real
status. On 409 the caller re-reads (usually from its informer cache) and retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framework.kube import (
    JSON_PATCH_CONTENT_TYPE,
    MERGE_PATCH_CONTENT_TYPE,
    KubeApiError,
    KubeClient,
    KubeObject,
    Resource,
)

__all__ = [
    "JsonPatchOp",
    "add_finalizer",
    "annotations_of",
    "delete",
    "drop_finalizer",
    "ensure_finalizer",
    "finalizers_of",
    "has_finalizer",
    "is_deleting",
    "labels_of",
    "meta_of",
    "name_of",
    "namespace_of",
    "object_key",
    "patch_json",
    "patch_merge",
    "patch_status",
    "remove_finalizer",
    "split_key",
    "uid_of",
]

JsonPatchOp = Mapping[str, Any]
"""One RFC 6902 operation, e.g. ``{"op": "add", "path": "/metadata/labels/a", "value": "b"}``."""


# --------------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------------


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``metadata``, or an empty mapping when the object has none."""
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name``, ``""`` when unset."""
    return str(meta_of(obj).get("name") or "")


def namespace_of(obj: Mapping[str, Any]) -> str:
    """``metadata.namespace``, ``""`` when unset (cluster-scoped objects)."""
    return str(meta_of(obj).get("namespace") or "")


def uid_of(obj: Mapping[str, Any]) -> str:
    """``metadata.uid``, ``""`` when unset (an object not yet stored)."""
    return str(meta_of(obj).get("uid") or "")


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.labels`` as strings, empty when unset."""
    return _string_map(meta_of(obj).get("labels"))


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    """``metadata.annotations`` as strings, empty when unset."""
    return _string_map(meta_of(obj).get("annotations"))


def _string_map(raw: Mapping[str, Any] | None) -> Mapping[str, str]:
    return {str(key): str(value) for key, value in (raw or {}).items()}


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    return [str(f) for f in meta_of(obj).get("finalizers") or ()]


def has_finalizer(obj: Mapping[str, Any], finalizer: str) -> bool:
    return finalizer in finalizers_of(obj)


def is_deleting(obj: Mapping[str, Any]) -> bool:
    """Deletion was requested (``metadata.deletionTimestamp`` is set); finalizers may still hold it."""
    return bool(meta_of(obj).get("deletionTimestamp"))


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's MetaNamespaceKeyFunc)."""
    meta = meta_of(obj)
    name = meta.get("name")
    if not name:
        raise ValueError(f"object has no metadata.name: {str(obj)[:200]}")
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of :func:`object_key`: ``(namespace or None, name)``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


# --------------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------------


def _path(resource: Resource, name: str, namespace: str | None, subresource: str | None) -> str:
    path = resource.object_path(name, namespace)
    return f"{path}/{subresource}" if subresource else path


def _named_meta(obj: KubeObject) -> Mapping[str, Any]:
    """``metadata`` of an object a write is about to address by name."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise ValueError(f"object has no metadata.name: {str(obj)[:200]}")
    return meta


async def patch_merge(
    client: KubeClient,
    resource: Resource,
    name: str,
    namespace: str | None,
    patch: Mapping[str, Any],
    *,
    subresource: str | None = None,
) -> KubeObject:
    """JSON merge patch (RFC 7386): maps merge, ``None`` deletes a key, lists are replaced whole.

    Put ``metadata.resourceVersion`` in ``patch`` to make the write conditional (409 when stale).
    """
    return await client.request(
        "PATCH",
        _path(resource, name, namespace, subresource),
        body=dict(patch),
        content_type=MERGE_PATCH_CONTENT_TYPE,
    )


async def patch_json(
    client: KubeClient,
    resource: Resource,
    name: str,
    namespace: str | None,
    ops: Sequence[JsonPatchOp],
    *,
    subresource: str | None = None,
) -> KubeObject:
    """JSON patch (RFC 6902). A failing ``test`` op or a missing path answers 422."""
    return await client.request(
        "PATCH",
        _path(resource, name, namespace, subresource),
        body=[dict(op) for op in ops],
        content_type=JSON_PATCH_CONTENT_TYPE,
    )


async def patch_status(
    client: KubeClient,
    resource: Resource,
    name: str,
    namespace: str | None,
    status: Mapping[str, Any],
    *,
    resource_version: str | None = None,
) -> KubeObject:
    """Merge ``status`` into the object's ``status`` through the ``/status`` subresource.

    The status subresource ignores everything but ``status`` (and ``metadata`` preconditions), so a
    status write never races a spec edit; ``resource_version`` makes it conditional.
    """
    patch: dict[str, Any] = {"status": dict(status)}
    if resource_version:
        patch["metadata"] = {"resourceVersion": resource_version}
    return await patch_merge(client, resource, name, namespace, patch, subresource="status")


async def delete(
    client: KubeClient,
    resource: Resource,
    name: str,
    namespace: str | None,
    *,
    uid: str | None = None,
    resource_version: str | None = None,
    propagation_policy: str | None = None,
    missing_ok: bool = True,
) -> KubeObject | None:
    """DELETE with optional preconditions; returns the server's answer (the object while finalizers
    hold it, else a ``Status``), or None when it was already gone and ``missing_ok``."""
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    preconditions = {
        key: value for key, value in (("uid", uid), ("resourceVersion", resource_version)) if value
    }
    if preconditions:
        options["preconditions"] = preconditions
    if propagation_policy:
        options["propagationPolicy"] = propagation_policy
    try:
        return await client.request("DELETE", resource.object_path(name, namespace), body=options)
    except KubeApiError as error:
        if error.is_not_found and missing_ok:
            return None
        raise


def _guarded(meta: Mapping[str, Any], ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resource_version = meta.get("resourceVersion")
    if not resource_version:
        raise ValueError("the object has no metadata.resourceVersion: read it from the server first")
    # Carrying the read resourceVersion makes the server reject the patch with 409 if the object
    # changed since (see the module docstring).
    return [{"op": "replace", "path": "/metadata/resourceVersion", "value": str(resource_version)}, *ops]


async def add_finalizer(
    client: KubeClient, resource: Resource, obj: KubeObject, finalizer: str
) -> KubeObject:
    """Add ``finalizer`` unless ``obj`` already has it; returns the updated object (or ``obj``).

    Raises ``KubeApiError`` 409 when the object changed since ``obj`` was read.
    """
    meta = _named_meta(obj)
    current = finalizers_of(obj)
    if finalizer in current:
        return obj
    op: dict[str, Any]
    if "finalizers" in meta and meta["finalizers"] is not None:
        op = {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}
    else:
        op = {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}
    return await patch_json(client, resource, str(meta["name"]), meta.get("namespace"), _guarded(meta, [op]))


async def remove_finalizer(
    client: KubeClient, resource: Resource, obj: KubeObject, finalizer: str
) -> KubeObject:
    """Remove ``finalizer`` if ``obj`` has it; returns the updated object (or ``obj``).

    Raises ``KubeApiError`` 409 when the object changed since ``obj`` was read. Removing the last
    finalizer of an object being deleted lets the server delete it; the answer is its final state.
    """
    meta = _named_meta(obj)
    current = finalizers_of(obj)
    if finalizer not in current:
        return obj
    # Remove from the highest index down so earlier removals do not shift later indices.
    indices = sorted((i for i, f in enumerate(current) if f == finalizer), reverse=True)
    ops: list[dict[str, Any]] = [{"op": "remove", "path": f"/metadata/finalizers/{i}"} for i in indices]
    return await patch_json(client, resource, str(meta["name"]), meta.get("namespace"), _guarded(meta, ops))


async def ensure_finalizer(
    client: KubeClient, resource: Resource, obj: KubeObject, finalizer: str
) -> KubeObject:
    """``add_finalizer``, re-reading the object once when ``obj`` is stale (409).

    A cached object is often one write behind (frequently our own last write); one fresh read
    settles that, while a real concurrent writer still surfaces as a 409 on the second try.
    """
    try:
        return await add_finalizer(client, resource, obj, finalizer)
    except KubeApiError as error:
        if not error.is_conflict:
            raise
    return await add_finalizer(client, resource, await _read_again(client, resource, obj), finalizer)


async def drop_finalizer(client: KubeClient, resource: Resource, obj: KubeObject, finalizer: str) -> None:
    """``remove_finalizer``, re-reading once on 409; an object already gone counts as done."""
    try:
        try:
            await remove_finalizer(client, resource, obj, finalizer)
            return
        except KubeApiError as error:
            if not error.is_conflict:
                raise
        await remove_finalizer(client, resource, await _read_again(client, resource, obj), finalizer)
    except KubeApiError as error:
        if not error.is_not_found:
            raise


async def _read_again(client: KubeClient, resource: Resource, obj: KubeObject) -> KubeObject:
    meta = _named_meta(obj)
    return await client.get(resource, str(meta["name"]), meta.get("namespace"))
