"""The finalizers our controllers put on Kubernetes objects, spelled exactly as upstream does.

They live in one leaf module (upstream keeps them together in ``shared_constants`` too) because
more than their owning feature reads them: the backend SG's user resync counts every Ingress and
Service that carries one, and must not import the Ingress or Service controllers to do so. An
installation migrating from upstream relies on these strings: an object deleted while carrying one
is cleaned up by whichever controller recognises it.
"""

from __future__ import annotations

from typing import Final

IMPLICIT_GROUP_FINALIZER: Final = "ingress.k8s.aws/resources"
"""On every member of an implicit (single-Ingress) group."""

EXPLICIT_GROUP_FINALIZER_PREFIX: Final = "group.ingress.k8s.aws/"
"""Followed by the group name, on every member of an explicit ``group.name`` group."""

SERVICE_FINALIZER: Final = "service.k8s.aws/resources"
"""On a Service whose NLB we deployed."""

TGB_FINALIZER: Final = "elbv2.k8s.aws/resources"
"""On a TargetGroupBinding whose targets and rules we registered."""

ALB_GATEWAY_FINALIZER: Final = "gateway.k8s.aws/alb"
"""On a Gateway whose ALB we deployed."""

NLB_GATEWAY_FINALIZER: Final = "gateway.k8s.aws/nlb"
"""On a Gateway whose NLB we deployed."""


def is_ingress_finalizer(finalizer: str) -> bool:
    """One of the Ingress group finalizers, implicit or explicit."""
    return finalizer == IMPLICIT_GROUP_FINALIZER or finalizer.startswith(EXPLICIT_GROUP_FINALIZER_PREFIX)
