"""Lookups in a Service dict shared by the ALB and NLB builders: ports, traffic and health-check ports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.annotations import InvalidAnnotationError, InvalidObjectError, ObjectRef
from controller.model.load_balancer import IpAddressType
from controller.model.target_group import HEALTH_CHECK_TRAFFIC_PORT, TargetType

IPV6_FAMILY = "IPv6"


def service_ports(service: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((service.get("spec") or {}).get("ports") or ())


def find_service_port(
    service: Mapping[str, Any], port: int | str, referrer: ObjectRef, field: str
) -> Mapping[str, Any]:
    """The Service port whose ``port`` (number) or ``name`` (string) matches, else an error on ``referrer``."""
    for candidate in service_ports(service):
        if isinstance(port, int) and candidate.get("port") == port:
            return candidate
        if isinstance(port, str) and candidate.get("name") == port:
            return candidate
    svc = ObjectRef.of("Service", service)
    raise InvalidObjectError(referrer, field, str(port), f"port not found in {svc}")


def target_group_ip_address_type(
    service: Mapping[str, Any], lb_ip_address_type: IpAddressType, referrer: ObjectRef, field: str
) -> str:
    """``ipv6`` when any of the Service's ``spec.ipFamilies`` is IPv6, else ``ipv4``.

    Upstream decides from the families alone, for instance and ip targets alike (a dual-stack
    Service's first family may be IPv4 and it still gets IPv6 target groups); an IPv6 target group
    needs a dual-stack load balancer.
    """
    families = [str(family) for family in (service.get("spec") or {}).get("ipFamilies") or ()]
    if IPV6_FAMILY not in families:
        return "ipv4"
    if not lb_ip_address_type.is_dualstack:
        raise InvalidObjectError(
            referrer, field, ", ".join(families), "unsupported IPv6 configuration, lb not dual-stack"
        )
    return "ipv6"


def target_port_of(port: Mapping[str, Any]) -> int | str:
    """``targetPort`` as int or name; Kubernetes defaults it to ``port``."""
    target = port.get("targetPort")
    if target is None or target == "" or target == 0:
        return int(port.get("port") or 0)
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return target if isinstance(target, str) else int(target)


def node_port_of(port: Mapping[str, Any]) -> int:
    return int(port.get("nodePort") or 0)


def traffic_port(port: Mapping[str, Any], target_type: TargetType) -> int | str:
    """What targets receive traffic on: the NodePort (instance) or the targetPort (ip, maybe named)."""
    return node_port_of(port) if target_type is TargetType.INSTANCE else target_port_of(port)


def target_group_port(port: Mapping[str, Any], target_type: TargetType) -> int:
    """Upstream's TG port: NodePort, numeric targetPort, or 1 for a named targetPort (not in the data path)."""
    value = traffic_port(port, target_type)
    return value if isinstance(value, int) else 1


def resolve_health_check_port(
    raw: str | None,
    service: Mapping[str, Any],
    target_type: TargetType,
    ref: ObjectRef,
    key: str,
) -> str:
    """``traffic-port`` (default), a number, or a Service port name resolved like upstream:
    NodePort for instance targets, numeric targetPort for ip targets (named → error)."""
    if raw is None or raw == HEALTH_CHECK_TRAFFIC_PORT:
        return HEALTH_CHECK_TRAFFIC_PORT
    text = raw.strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        if not 1 <= number <= 65535:
            raise InvalidAnnotationError(ref, key, raw, "health check port must be within [1, 65535]")
        return str(number)
    for candidate in service_ports(service):
        if candidate.get("name") == text:
            if target_type is TargetType.INSTANCE:
                return str(node_port_of(candidate))
            target = target_port_of(candidate)
            if isinstance(target, str):
                raise InvalidAnnotationError(
                    ref,
                    key,
                    raw,
                    "cannot use named healthCheckPort for IP TargetType when service's targetPort is a named port",
                )
            return str(target)
    raise InvalidAnnotationError(
        ref,
        key,
        raw,
        f"failed to resolve healthCheckPort: no port named {text!r} in {ObjectRef.of('Service', service)}",
    )
