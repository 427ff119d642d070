"""One ALB target group (and its TargetGroupBinding) per (Ingress, Service, port) backend, as upstream.

Target-group annotations may be set on the Service or the Ingress; the Service's value wins
(upstream merges ``svc.Annotations`` before ``ing.Annotations``, first writer wins).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.annotations import (
    ING_BACKEND_PROTOCOL,
    ING_BACKEND_PROTOCOL_VERSION,
    ING_HEALTHCHECK_INTERVAL_SECONDS,
    ING_HEALTHCHECK_PATH,
    ING_HEALTHCHECK_PORT,
    ING_HEALTHCHECK_PROTOCOL,
    ING_HEALTHCHECK_TIMEOUT_SECONDS,
    ING_HEALTHY_THRESHOLD_COUNT,
    ING_SUCCESS_CODES,
    ING_TARGET_GROUP_ATTRIBUTES,
    ING_TARGET_TYPE,
    ING_UNHEALTHY_THRESHOLD_COUNT,
    InvalidAnnotationError,
    InvalidObjectError,
    ObjectRef,
)
from controller.ingress.class_matcher import ClassifiedIngress
from controller.ingress.group import IngressGroupId
from controller.ingress.names import target_group_name
from controller.model import health_check as hc
from controller.model.attributes import parse_attributes
from controller.model.load_balancer import IpAddressType
from controller.model.service_ports import (
    find_service_port,
    resolve_health_check_port,
    target_group_ip_address_type,
    target_group_port,
    traffic_port,
)
from controller.model.target_group import (
    HEALTH_CHECK_TRAFFIC_PORT,
    HealthCheckSpec,
    TargetGroupSpec,
    TargetType,
)
from controller.model.target_group_binding import (
    NetworkingIngressRule,
    NetworkingPeer,
    NetworkingPort,
    NetworkingSpec,
    TargetGroupBindingSpec,
)
from framework.objects import annotations_of, name_of, namespace_of, uid_of

ServiceLookup = Callable[[str, str], Mapping[str, Any] | None]
"""``(namespace, name) → Service dict or None``; the controller passes its informer cache lookup."""

BACKEND_PROTOCOLS: Final = ("HTTP", "HTTPS")
PROTOCOL_VERSIONS: Final = ("HTTP1", "HTTP2", "GRPC")
DEFAULT_PROTOCOL_VERSION: Final = "HTTP1"
# Upstream ALB health-check defaults (``--default-...`` flags are not exposed by us).
HC_INTERVAL_SECONDS: Final = 15
HC_TIMEOUT_SECONDS: Final = 5
HC_HEALTHY_THRESHOLD: Final = 2
HC_UNHEALTHY_THRESHOLD: Final = 2
HC_DEFAULT_PATH: Final = "/"
HC_GRPC_DEFAULT_PATH: Final = "/AWS.ALB/healthcheck"
HC_HTTP_DEFAULT_CODES: Final = "200"
HC_GRPC_DEFAULT_CODES: Final = "12"


@dataclass(frozen=True)
class BackendRef:
    """``spec.rules[].http.paths[].backend.service`` (or ``spec.defaultBackend.service``); a port
    named ``use-annotation`` makes ``service_name`` the name of an ``actions.<name>`` annotation."""

    service_name: str
    port: int | str


@dataclass(frozen=True)
class TargetGroupSettings:
    """What the builder decides outside this module and passes in."""

    cluster_name: str
    group_id: IngressGroupId
    default_target_type: TargetType
    enable_ip_target_type: bool
    """Feature gate ``EnableIPTargetType``: without it ip targets are an error."""
    lb_ip_address_type: IpAddressType
    tags: Mapping[str, str]
    disable_restricted_sg_rules: bool
    networking_source: str | None
    """SG id or placeholder every rule is sourced from; None → no networking (custom SGs, unmanaged)."""


def parse_backend(backend: Mapping[str, Any] | None, ref: ObjectRef, field: str) -> BackendRef:
    service = (backend or {}).get("service")
    if not service:
        raise InvalidObjectError(ref, field, str(backend), "only Service backends are supported")
    name = str(service.get("name") or "")
    port = service.get("port") or {}
    if port.get("name"):
        port_ref: int | str = str(port["name"])
    elif port.get("number"):
        port_ref = int(port["number"])
    else:
        raise InvalidObjectError(ref, f"{field}.service.port", str(port), "a port number or name is required")
    return BackendRef(name, port_ref)


class _SourcedAnnotations:
    """Service annotations over Ingress annotations, remembering which object a value came from."""

    def __init__(self, service: Mapping[str, Any], member: ClassifiedIngress) -> None:
        self._service = annotations_of(service)
        self._service_ref = ObjectRef.of("Service", service)
        self._ingress = member.annotations
        self._ingress_ref = member.ref

    def get(self, key: str) -> tuple[ObjectRef, str] | None:
        if key in self._service:
            return self._service_ref, self._service[key]
        if key in self._ingress:
            return self._ingress_ref, self._ingress[key]
        return None

    def integer(self, key: str, default: int, limit: hc.Limit) -> int:
        found = self.get(key)
        if found is None:
            return default
        return hc.health_check_int(found[0], key, found[1], default, limit)

    def choice(self, key: str, allowed: tuple[str, ...], default: str, reason: str) -> str:
        found = self.get(key)
        if found is None:
            return default
        ref, raw = found
        if raw not in allowed:
            raise InvalidAnnotationError(ref, key, raw, reason)
        return raw


def _target_type(
    member: ClassifiedIngress, ann: _SourcedAnnotations, settings: TargetGroupSettings
) -> TargetType:
    """Upstream's order: IngressClassParams ``spec.targetType``, else the annotation (Service over
    Ingress), else the controller default; only the value that wins is checked. ip targets need
    the ``EnableIPTargetType`` feature gate, as on Services. Errors name where the value came from."""
    from_params = member.params_spec.get("targetType")
    found = ann.get(ING_TARGET_TYPE)
    if from_params:
        ref, key, raw = member.params_ref, "spec.targetType", str(from_params)
    elif found is not None:
        ref, key, raw = found[0], ING_TARGET_TYPE, found[1]
    else:
        ref, key, raw = member.ref, "--default-target-type", settings.default_target_type.value
    try:
        target_type = TargetType(raw)
    except ValueError:
        raise InvalidAnnotationError(ref, key, raw, "unknown targetType, must be instance or ip") from None
    if target_type is TargetType.IP and not settings.enable_ip_target_type:
        raise InvalidAnnotationError(
            ref, key, raw, "unsupported targetType: ip when EnableIPTargetType is false"
        )
    return target_type


def build_target_group(
    member: ClassifiedIngress, backend: BackendRef, service: Mapping[str, Any], settings: TargetGroupSettings
) -> tuple[TargetGroupSpec, TargetGroupBindingSpec]:
    ref = member.ref
    ann = _SourcedAnnotations(service, member)
    target_type = _target_type(member, ann, settings)
    service_ref = ObjectRef.of("Service", service)
    service_type = str((service.get("spec") or {}).get("type") or "ClusterIP")
    if target_type is TargetType.INSTANCE and service_type not in ("NodePort", "LoadBalancer"):
        raise InvalidObjectError(
            ref,
            "backend service",
            service_ref.key,
            f"{service_ref} is of type {service_type}; instance targets need a NodePort or LoadBalancer Service",
        )
    protocol = ann.choice(
        ING_BACKEND_PROTOCOL, BACKEND_PROTOCOLS, "HTTP", "backend protocol must be within [HTTP, HTTPS]"
    )
    protocol_version = ann.choice(
        ING_BACKEND_PROTOCOL_VERSION,
        PROTOCOL_VERSIONS,
        DEFAULT_PROTOCOL_VERSION,
        "backend protocol version must be within [HTTP1, HTTP2, GRPC]",
    )
    port = find_service_port(service, backend.port, ref, "backend service port")
    if target_type is TargetType.INSTANCE and not port.get("nodePort"):
        raise InvalidObjectError(
            ref, "backend service port", str(backend.port), f"{service_ref} port has no nodePort allocated"
        )
    tg_port = target_group_port(port, target_type)

    hc_source = ann.get(ING_HEALTHCHECK_PORT)
    hc_port = resolve_health_check_port(
        hc_source[1] if hc_source else None,
        service,
        target_type,
        hc_source[0] if hc_source else ref,
        ING_HEALTHCHECK_PORT,
    )
    hc_protocol = ann.choice(
        ING_HEALTHCHECK_PROTOCOL,
        BACKEND_PROTOCOLS,
        protocol,
        "healthCheckProtocol must be within [HTTP, HTTPS]",
    )
    grpc = protocol_version == "GRPC"
    health_check = _health_check(ann, hc_port, hc_protocol, grpc)
    attributes_source = ann.get(ING_TARGET_GROUP_ATTRIBUTES)
    attributes = (
        parse_attributes(attributes_source[0], ING_TARGET_GROUP_ATTRIBUTES, attributes_source[1])
        if attributes_source
        else {}
    )

    ip_address_type = target_group_ip_address_type(
        service, settings.lb_ip_address_type, ref, f"backend service {service_ref.key} spec.ipFamilies"
    )

    name = target_group_name(
        cluster_name=settings.cluster_name,
        group_id=settings.group_id,
        ingress_namespace=namespace_of(member.ingress),
        ingress_name=name_of(member.ingress),
        service_namespace=namespace_of(service),
        service_name=name_of(service),
        service_uid=uid_of(service),
        service_port=backend.port,
        target_group_port=tg_port,
        target_type=target_type.value,
        protocol=protocol,
        protocol_version=protocol_version,
    )
    # Upstream's resource id: "<ingNs>/<ingName>-<svcName>:<port>".
    resource_id = (
        f"{namespace_of(member.ingress)}/{name_of(member.ingress)}-{backend.service_name}:{backend.port}"
    )
    target_group = TargetGroupSpec(
        resource_id=resource_id,
        name=name,
        target_type=target_type,
        protocol=protocol,
        port=tg_port,
        ip_address_type=ip_address_type,
        health_check=health_check,
        protocol_version=protocol_version,
        tags=dict(settings.tags),
        attributes=attributes,
    )
    binding = TargetGroupBindingSpec(
        name=name,
        namespace=namespace_of(service),
        target_group_id=resource_id,
        target_type=target_type.value,
        service_name=backend.service_name,
        service_port=backend.port,
        ip_address_type=ip_address_type,
        networking=_networking(traffic_port(port, target_type), health_check, settings),
    )
    return target_group, binding


def _health_check(ann: _SourcedAnnotations, port: str, protocol: str, grpc: bool) -> HealthCheckSpec:
    """Upstream's ALB health check: each field from its annotation (Service over Ingress) or the
    default; gRPC target groups default to their own path and matcher (a gRPC status code)."""
    path_source = ann.get(ING_HEALTHCHECK_PATH)
    path = path_source[1] if path_source else (HC_GRPC_DEFAULT_PATH if grpc else HC_DEFAULT_PATH)
    codes_source = ann.get(ING_SUCCESS_CODES)
    if codes_source is None:
        matcher = HC_GRPC_DEFAULT_CODES if grpc else HC_HTTP_DEFAULT_CODES
    else:
        allowed = hc.GRPC_CODES if grpc else hc.ALB_HTTP_CODES
        matcher = hc.success_codes(codes_source[0], ING_SUCCESS_CODES, codes_source[1], allowed)
    return HealthCheckSpec(
        port=port,
        protocol=protocol,
        path=path,
        interval_seconds=ann.integer(ING_HEALTHCHECK_INTERVAL_SECONDS, HC_INTERVAL_SECONDS, hc.INTERVAL),
        timeout_seconds=ann.integer(ING_HEALTHCHECK_TIMEOUT_SECONDS, HC_TIMEOUT_SECONDS, hc.TIMEOUT),
        healthy_threshold=ann.integer(
            ING_HEALTHY_THRESHOLD_COUNT, HC_HEALTHY_THRESHOLD, hc.HEALTHY_THRESHOLD
        ),
        unhealthy_threshold=ann.integer(
            ING_UNHEALTHY_THRESHOLD_COUNT, HC_UNHEALTHY_THRESHOLD, hc.UNHEALTHY_THRESHOLD
        ),
        matcher=matcher,
    )


def _networking(
    traffic: int | str, health_check: HealthCheckSpec, settings: TargetGroupSettings
) -> NetworkingSpec | None:
    """Reference §4.2 (ALB): one TCP rule per needed port from the source SG, or all TCP ports."""
    if settings.networking_source is None:
        return None
    source = (NetworkingPeer.security_group(settings.networking_source),)
    if settings.disable_restricted_sg_rules:
        ports = [NetworkingPort("TCP", None)]
    else:
        ports = [NetworkingPort("TCP", traffic)]
        if health_check.port != HEALTH_CHECK_TRAFFIC_PORT:
            ports.append(NetworkingPort("TCP", int(health_check.port)))
    return NetworkingSpec(tuple(NetworkingIngressRule(source, (port,)) for port in ports))
