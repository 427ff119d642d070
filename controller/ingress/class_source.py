"""The IngressClasses the class matcher sees: the IngressClass informer's cache."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from framework.informer import Store


class InformerIngressClasses:
    """``IngressClassSource`` over the IngressClass informer.

    IngressClassParams (upstream's ``elbv2.k8s.aws`` CRD for class-wide settings) is not served by
    this controller, so a class that references params gets none and its Ingresses' annotations
    apply unchanged.
    """

    def __init__(self, classes: Store) -> None:
        self._classes = classes

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None:
        return self._classes.get(name)

    def list_ingress_classes(self) -> Iterable[Mapping[str, Any]]:
        return self._classes.list()

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None:
        return None
