"""The finalizers our controllers put on the objects they manage (upstream's names)."""

from __future__ import annotations

from typing import Final

INGRESS_FINALIZER: Final = "ingress.k8s.aws/resources"
"""An Ingress of the implicit group (one Ingress, no ``group.name`` annotation)."""
INGRESS_GROUP_FINALIZER_PREFIX: Final = "group.ingress.k8s.aws/"
"""An Ingress of an explicit group: the prefix followed by the group name."""
SERVICE_FINALIZER: Final = "service.k8s.aws/resources"
