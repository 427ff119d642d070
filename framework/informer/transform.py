"""Transforms applied to every object before it enters an informer's cache.

A transform must be idempotent (a relist may pass an already-transformed object through again)
and must return the object to store; it may mutate its argument, which is a freshly decoded dict
owned by the informer.
"""

from __future__ import annotations

from collections.abc import Callable

from framework.kube import KubeObject

Transform = Callable[[KubeObject], KubeObject]


def strip_managed_fields(obj: KubeObject) -> KubeObject:
    """Drop ``metadata.managedFields``: often the largest part of an object and never needed by
    controllers (the standard informer memory fix; kueue#10078, karmada#7807)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


def chain(*transforms: Transform) -> Transform:
    """Apply transforms left to right."""

    def chained(obj: KubeObject) -> KubeObject:
        for transform in transforms:
            obj = transform(obj)
        return obj

    return chained
