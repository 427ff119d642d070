"""The Event ``regarding`` reference of a cached Kubernetes object a stack is reconciled for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.events import ObjectReference
from framework.kube import Resource
from framework.objects import name_of, namespace_of, uid_of


def reference_of(resource: Resource, obj: Mapping[str, Any]) -> ObjectReference:
    """Informer list items carry no apiVersion/kind, so the resource supplies them."""
    return ObjectReference(
        api_version=resource.api_version,
        kind=resource.kind,
        name=name_of(obj),
        namespace=namespace_of(obj),
        uid=uid_of(obj),
    )
