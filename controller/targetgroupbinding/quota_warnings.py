"""Warnings about the rules quota, posted where the user looks: the binding, and the Service it serves.

The endpoint-SG controller knows which bindings' rules do not fit ``--sg-rules-quota`` (or were merged
to fit) only by their keys. This finds each binding in the informer cache and posts the Warning on it;
a binding a Service's stack created (labels ``service.k8s.aws/stack-namespace`` and ``-name``) also
gets the Warning on that Service, since that is the object the user wrote. A binding no longer in the
cache has nobody left to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.naming import SERVICE_TAG_PREFIX
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework import objects
from framework.events import EventRecorder, ObjectReference
from framework.informer import Store
from framework.kube import SERVICES

_SERVICE_STACK_NAMESPACE = f"{SERVICE_TAG_PREFIX}/stack-namespace"
_SERVICE_STACK_NAME = f"{SERVICE_TAG_PREFIX}/stack-name"


def _reference(api_version: str, kind: str, obj: Mapping[str, Any]) -> ObjectReference:
    return ObjectReference(
        api_version=api_version,
        kind=kind,
        name=objects.name_of(obj),
        namespace=objects.namespace_of(obj),
        uid=objects.uid_of(obj),
    )


class BindingQuotaWarnings:
    """``BindingWarnings`` of the endpoint-SG controller, on the TGB and Service informer caches."""

    def __init__(self, events: EventRecorder, bindings: Store, services: Store) -> None:
        self._events = events
        self._bindings = bindings
        self._services = services

    def warn(self, tgb_key: str, reason: str, note: str) -> None:
        binding = self._bindings.get(tgb_key)
        if binding is None:
            return
        self._events.warning(
            _reference(TARGET_GROUP_BINDINGS.api_version, TARGET_GROUP_BINDINGS.kind, binding), reason, note
        )
        labels = objects.meta_of(binding).get("labels") or {}
        namespace, name = labels.get(_SERVICE_STACK_NAMESPACE), labels.get(_SERVICE_STACK_NAME)
        service = self._services.get(f"{namespace}/{name}") if namespace and name else None
        if service is not None:
            self._events.warning(
                _reference(SERVICES.api_version, SERVICES.kind, service),
                reason,
                f"TargetGroupBinding {objects.name_of(binding)}: {note}",
            )
