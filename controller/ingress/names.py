"""ALB and ALB target group names, reproducing upstream's formulas exactly.

Source: kubernetes-sigs/aws-load-balancer-controller ``pkg/ingress/model_build_load_balancer.go``
``buildLoadBalancerName`` and ``pkg/ingress/model_build_target_group.go`` ``buildTargetGroupName``:
SHA-256 over the listed strings concatenated without separators, hex, first 10 characters; name
parts are stripped of every non-alphanumeric character and truncated (``%.8s``/``%.17s``).
"""

from __future__ import annotations

import hashlib

from controller.ingress.group import IngressGroupId
from controller.naming import sanitize_name_part


def _hash(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()[:10]


def load_balancer_name(cluster_name: str, group_id: IngressGroupId, scheme: str) -> str:
    """``k8s-<group[:17]>-<h>`` (explicit) or ``k8s-<ns[:8]>-<name[:8]>-<h>``; h over cluster + group id + scheme."""
    digest = _hash(cluster_name, str(group_id), scheme)
    if group_id.is_explicit:
        return f"k8s-{sanitize_name_part(group_id.name)[:17]}-{digest}"
    return (
        f"k8s-{sanitize_name_part(group_id.namespace)[:8]}-{sanitize_name_part(group_id.name)[:8]}-{digest}"
    )


def target_group_name(
    *,
    cluster_name: str,
    group_id: IngressGroupId,
    ingress_namespace: str,
    ingress_name: str,
    service_namespace: str,
    service_name: str,
    service_uid: str,
    service_port: int | str,
    target_group_port: int,
    target_type: str,
    protocol: str,
    protocol_version: str,
) -> str:
    """``k8s-<svcNs[:8]>-<svcName[:8]>-<h>``; h over cluster, group id, Ingress ns and name, Service UID,
    the backend port as written, the TG port, target type, protocol and protocol version."""
    digest = _hash(
        cluster_name,
        str(group_id),
        ingress_namespace,
        ingress_name,
        service_uid,
        str(service_port),
        str(target_group_port),
        target_type,
        protocol,
        protocol_version,
    )
    return f"k8s-{sanitize_name_part(service_namespace)[:8]}-{sanitize_name_part(service_name)[:8]}-{digest}"
