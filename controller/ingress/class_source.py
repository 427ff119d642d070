"""What the class matcher reads: the IngressClass, IngressClassParams and Namespace informers' caches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.stack.namespaces import slim_namespace
from framework.informer import Store


class InformerIngressClasses:
    """``IngressClassSource`` over the informer caches (cluster-scoped objects: the key is the name).

    Namespaces are cached rather than read per check because the matcher runs synchronously inside
    event handlers (an API read there is impossible) and a cluster has few Namespaces, each small;
    the cache also lets a Namespace's label change re-queue its Ingresses.
    """

    def __init__(self, classes: Store, params: Store, namespaces: Store) -> None:
        self._classes = classes
        self._params = params
        self._namespaces = namespaces

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None:
        return self._classes.get(name)

    def list_ingress_classes(self) -> Iterable[Mapping[str, Any]]:
        return self._classes.list()

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None:
        return self._params.get(name)

    def get_namespace(self, name: str) -> Mapping[str, Any] | None:
        return self._namespaces.get(name)


__all__ = ["InformerIngressClasses", "slim_namespace"]
