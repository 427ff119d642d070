"""NLB and NLB target group names, reproducing upstream's formulas exactly.

Source: kubernetes-sigs/aws-load-balancer-controller ``pkg/service/model_build_load_balancer.go``
``buildLoadBalancerName`` (SHA-256 over cluster + Service UID + scheme) and
``pkg/service/model_build_target_group.go`` ``buildTargetGroupName`` (SHA-256 over cluster, UID,
TG port, Service port, target type, TG protocol, health-check protocol and interval); both render
``k8s-<ns[:8]>-<name[:8]>-<hash[:10]>`` with non-alphanumerics stripped from the name parts.
"""

from __future__ import annotations

import hashlib

from controller.naming import sanitize_name_part


def _hash(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()[:10]


def _render(namespace: str, name: str, digest: str) -> str:
    return f"k8s-{sanitize_name_part(namespace)[:8]}-{sanitize_name_part(name)[:8]}-{digest}"


def load_balancer_name(cluster_name: str, namespace: str, name: str, uid: str, scheme: str) -> str:
    return _render(namespace, name, _hash(cluster_name, uid, scheme))


def target_group_name(
    *,
    cluster_name: str,
    namespace: str,
    name: str,
    uid: str,
    service_port: int,
    target_group_port: int,
    target_type: str,
    protocol: str,
    health_check_protocol: str,
    health_check_interval: int,
) -> str:
    digest = _hash(
        cluster_name,
        uid,
        str(target_group_port),
        str(service_port),
        target_type,
        protocol,
        health_check_protocol,
        str(health_check_interval),
    )
    return _render(namespace, name, digest)
