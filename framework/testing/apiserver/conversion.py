"""Conversion between a served version of a resource and the form the server stores it in.

A real kube-apiserver keeps one internal type per resource and converts every request and response
to and from it, so two API groups can be views of the same objects. The stand-in stores the core
form and converts at the edges: events.k8s.io/v1 Events are stored as core/v1 Events (what
`kubectl get events` lists), with the renames of `k8s.io/kubernetes/pkg/apis/events/v1`. Fields
with the same name in both (`related`, `reportingInstance`, `series`, `eventTime`, `action`,
`reason`, `type`) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .resources import ResourceType
from .store import JsonObject

# events.k8s.io/v1 field → core/v1 field.
_EVENTS_V1_TO_CORE: Mapping[str, str] = {
    "note": "message",
    "regarding": "involvedObject",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_TO_EVENTS_V1: Mapping[str, str] = {core: new for new, core in _EVENTS_V1_TO_CORE.items()}

# Served resource (group, plural) → how its field names map onto the stored resource's.
_RENAMES_TO_STORAGE: Mapping[tuple[str, str], Mapping[str, str]] = {
    ("events.k8s.io", "events"): _EVENTS_V1_TO_CORE
}
_RENAMES_FROM_STORAGE: Mapping[tuple[str, str], Mapping[str, str]] = {
    ("events.k8s.io", "events"): _CORE_TO_EVENTS_V1
}


def is_converted(resource: ResourceType) -> bool:
    """Whether the resource is served in a shape other than the one it is stored in."""
    return resource.key in _RENAMES_TO_STORAGE


def _renamed(obj: Mapping[str, Any], renames: Mapping[str, str], api_version: str) -> JsonObject:
    # Top-level keys only (the nested structures are identical in both versions); order is kept,
    # so kind/apiVersion/metadata still lead and the stored JSON stays cheap to slice.
    converted = {renames.get(key, key): value for key, value in obj.items()}
    converted["apiVersion"] = api_version
    return converted


def to_storage(resource: ResourceType, obj: Mapping[str, Any], storage_api_version: str) -> JsonObject:
    """`obj`, written through `resource`, in the stored form. Values are shared, not copied."""
    renames = _RENAMES_TO_STORAGE.get(resource.key)
    if renames is None:
        return dict(obj)
    return _renamed(obj, renames, storage_api_version)


def to_view(resource: ResourceType, stored: Mapping[str, Any], api_version: str) -> JsonObject:
    """A stored object as `resource` serves it in `api_version`. Values are shared, not copied."""
    renames = _RENAMES_FROM_STORAGE.get(resource.key)
    if renames is None:
        return {**stored, "apiVersion": api_version}
    return _renamed(stored, renames, api_version)
