"""Which Services get an NLB from this controller (upstream's service annotation/class matcher)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from controller.annotations import SVC_LOAD_BALANCER_TYPE, SVC_NLB_TARGET_TYPE
from framework.objects import annotations_of

LOAD_BALANCER_TYPE_EXTERNAL: Final = "external"
LOAD_BALANCER_TYPE_NLB_IP: Final = "nlb-ip"


def is_managed_service(service: Mapping[str, Any], load_balancer_class: str = "service.k8s.aws/nlb") -> bool:
    """``type: LoadBalancer`` and either ``spec.loadBalancerClass`` equals ``--load-balancer-class``,
    or no class and ``aws-load-balancer-type`` is ``nlb-ip`` or ``external`` with an
    ``aws-load-balancer-nlb-target-type`` of ``ip``/``instance``."""
    spec = service.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return False
    lb_class = spec.get("loadBalancerClass")
    if lb_class:
        return bool(lb_class == load_balancer_class)
    annotations = annotations_of(service)
    lb_type = annotations.get(SVC_LOAD_BALANCER_TYPE)
    if lb_type == LOAD_BALANCER_TYPE_NLB_IP:
        return True
    if lb_type == LOAD_BALANCER_TYPE_EXTERNAL:
        return annotations.get(SVC_NLB_TARGET_TYPE) in ("ip", "instance")
    return False
