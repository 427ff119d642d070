"""Reading the cached Kubernetes objects a stack is reconciled for: metadata, keys, Event references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.events import ObjectReference
from framework.kube import Resource


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def key_of(obj: Mapping[str, Any]) -> str:
    meta = meta_of(obj)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def reference_of(resource: Resource, obj: Mapping[str, Any]) -> ObjectReference:
    """The Event ``regarding`` of a cached object (list items carry no apiVersion/kind)."""
    meta = meta_of(obj)
    return ObjectReference(
        api_version=resource.api_version,
        kind=resource.kind,
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid") or ""),
    )
