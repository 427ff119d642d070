"""Target groups and TargetGroupBindings for the Service backends of a Gateway's routes.

A ``backendRefs`` entry names a Service (kind ``Service``, core group) and its port, in the route's
namespace unless it names another (which needs a ReferenceGrant we do not read yet: such a backend
is refused as ``RefNotPermitted``). Each (route, Service, port) gets one target group, named and
identified as upstream does (model_build_target_group.go), with the target type of the Service's
``TargetGroupConfiguration`` (``spec.defaultConfiguration.targetType``) or ``--default-target-type``.

A backend that cannot be used is not an error of the whole Gateway: the route's ``ResolvedRefs``
condition says why (``BackendNotFound``, ``InvalidKind``, ``RefNotPermitted``) and its rule answers
503, as the Gateway API asks; the other routes are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.annotations import ObjectRef
from controller.gateway.routes import Route
from controller.model.load_balancer import IpAddressType, LoadBalancerType
from controller.model.service_ports import (
    node_port_of,
    service_ports,
    target_group_ip_address_type,
    target_group_port,
    traffic_port,
)
from controller.model.tags import compose_resource_tags
from controller.model.target_group import (
    HEALTH_CHECK_TRAFFIC_PORT,
    HealthCheckSpec,
    TargetGroupSpec,
    TargetType,
)
from controller.model.target_group_binding import TargetGroupBindingSpec, sg_networking
from controller.naming import StackTags, sanitize_name_part, short_hash
from framework.objects import name_of, namespace_of

REASON_BACKEND_NOT_FOUND: Final = "BackendNotFound"
REASON_INVALID_KIND: Final = "InvalidKind"
REASON_REF_NOT_PERMITTED: Final = "RefNotPermitted"
REASON_UNSUPPORTED_VALUE: Final = "UnsupportedValue"

# Upstream's Gateway health-check defaults (model_build_target_group.go).
HC_INTERVAL_SECONDS: Final = 15
HC_TIMEOUT_SECONDS: Final = 5
HC_THRESHOLD: Final = 3
HC_HTTP_PATH: Final = "/"
HC_HTTP_CODES: Final = "200-399"
HC_GRPC_PATH: Final = "/AWS.ALB/healthcheck"
HC_GRPC_CODES: Final = "12"

ServiceLookup = Callable[[str], Mapping[str, Any] | None]
"""A Service by ``namespace/name`` (the informer store)."""
TargetGroupConfigLookup = Callable[[str, str], Mapping[str, Any] | None]
"""The TargetGroupConfiguration whose ``targetReference`` names Service ``name`` in ``namespace``."""


@dataclass(frozen=True)
class UnresolvedBackend:
    """Why a route's backend got no target group (the route's ``ResolvedRefs=False`` reason)."""

    reason: str
    message: str


@dataclass(frozen=True)
class BackendSettings:
    cluster_name: str
    gateway_key: str
    load_balancer_type: LoadBalancerType
    default_target_type: TargetType
    lb_ip_address_type: IpAddressType
    tags: Mapping[str, str]
    networking_source: str | None
    """SG id or placeholder the node/ENI rules come from; None: no rules (custom SGs, unmanaged)."""
    restricted_rules: bool


@dataclass
class GatewayBackends:
    """The target groups and bindings of one Gateway build, de-duplicated by resource id."""

    settings: BackendSettings
    stack_tags: StackTags
    services: ServiceLookup
    target_group_configs: TargetGroupConfigLookup
    target_groups: list[TargetGroupSpec] = field(default_factory=list)
    bindings: list[TargetGroupBindingSpec] = field(default_factory=list)
    unresolved: dict[str, list[UnresolvedBackend]] = field(default_factory=dict)
    """Route key → its backends that could not be used."""
    services_used: set[str] = field(default_factory=set)
    """Every Service key a backendRef named (found or not): a change of one re-queues the Gateway."""
    _ids: set[str] = field(default_factory=set)

    def target_group_for(self, route: Route, backend: Mapping[str, Any], protocol: str) -> str | None:
        """The resource id of the target group for ``backend``; None (and noted) when unusable."""
        group, kind = str(backend.get("group") or ""), str(backend.get("kind") or "Service")
        name = str(backend.get("name") or "")
        namespace = str(backend.get("namespace") or route.namespace)
        if group or kind != "Service":
            return self._unresolved(
                route, REASON_INVALID_KIND, f"backend {kind} {name}: only Services are supported"
            )
        self.services_used.add(f"{namespace}/{name}")
        if namespace != route.namespace:
            return self._unresolved(
                route,
                REASON_REF_NOT_PERMITTED,
                f"backend Service {namespace}/{name} is in another namespace (ReferenceGrants are not supported)",
            )
        service = self.services(f"{namespace}/{name}")
        if service is None:
            return self._unresolved(route, REASON_BACKEND_NOT_FOUND, f"Service {namespace}/{name} not found")
        port_number = backend.get("port")
        if not isinstance(port_number, int):
            return self._unresolved(
                route, REASON_UNSUPPORTED_VALUE, f"backend Service {namespace}/{name}: a port is required"
            )
        port = next((p for p in service_ports(service) if p.get("port") == port_number), None)
        if port is None:
            return self._unresolved(
                route, REASON_BACKEND_NOT_FOUND, f"Service {namespace}/{name} has no port {port_number}"
            )
        config = self.target_group_configs(namespace, name) or {}
        raw_type = str(((config.get("spec") or {}).get("defaultConfiguration") or {}).get("targetType") or "")
        target_type = (
            TargetType(raw_type) if raw_type in ("instance", "ip") else self.settings.default_target_type
        )
        if target_type is TargetType.INSTANCE and not node_port_of(port):
            return self._unresolved(
                route,
                REASON_UNSUPPORTED_VALUE,
                f"Service {namespace}/{name} port {port_number} has no nodePort: instance targets need a "
                "NodePort or LoadBalancer Service (or targetType ip in its TargetGroupConfiguration)",
            )
        return self._add(route, service, port_number, port, target_type, protocol)

    def _add(
        self,
        route: Route,
        service: Mapping[str, Any],
        service_port: int,
        port: Mapping[str, Any],
        target_type: TargetType,
        protocol: str,
    ) -> str:
        settings = self.settings
        namespace, name = namespace_of(service), name_of(service)
        # Upstream's resource id: "<gwNs>/<gwName>:<routeNs>-<routeName>:<kind>-<svcNs>-<svcName>:<port>".
        route_namespace, route_name = route.key.split("/", 1)
        resource_id = f"{settings.gateway_key}:{route_namespace}-{route_name}:{route.kind}-{namespace}-{name}:{service_port}"
        if resource_id in self._ids:
            return resource_id
        tg_port = target_group_port(port, target_type)
        health_check = self._health_check(route, protocol)
        target_group = TargetGroupSpec(
            resource_id=resource_id,
            name=_target_group_name(
                settings, route, namespace, name, tg_port, service_port, target_type, protocol
            ),
            target_type=target_type,
            protocol=protocol,
            port=tg_port,
            ip_address_type=target_group_ip_address_type(
                service, settings.lb_ip_address_type, _ref(route), "backendRefs Service spec.ipFamilies"
            ),
            health_check=health_check,
            protocol_version=("GRPC" if route.kind == "GRPCRoute" else "HTTP1")
            if settings.load_balancer_type is LoadBalancerType.APPLICATION
            else None,
            tags=compose_resource_tags(self.stack_tags, resource_id, settings.tags),
        )
        networking = (
            sg_networking(
                settings.networking_source,
                protocol,
                traffic_port(port, target_type),
                health_check.port,
                settings.restricted_rules,
            )
            if settings.networking_source is not None
            else None
        )
        self.target_groups.append(target_group)
        self.bindings.append(
            TargetGroupBindingSpec(
                name=target_group.name,
                namespace=namespace,
                target_group_id=resource_id,
                target_type=target_type.value,
                service_name=name,
                service_port=service_port,
                ip_address_type=target_group.ip_address_type,
                networking=networking,
            )
        )
        self._ids.add(resource_id)
        return resource_id

    def _health_check(self, route: Route, protocol: str) -> HealthCheckSpec:
        if self.settings.load_balancer_type is LoadBalancerType.NETWORK:
            return HealthCheckSpec(
                port=HEALTH_CHECK_TRAFFIC_PORT,
                protocol="TCP",
                path=None,
                interval_seconds=HC_INTERVAL_SECONDS,
                timeout_seconds=HC_TIMEOUT_SECONDS,
                healthy_threshold=HC_THRESHOLD,
                unhealthy_threshold=HC_THRESHOLD,
            )
        grpc = route.kind == "GRPCRoute"
        return HealthCheckSpec(
            port=HEALTH_CHECK_TRAFFIC_PORT,
            protocol=protocol,
            path=HC_GRPC_PATH if grpc else HC_HTTP_PATH,
            interval_seconds=HC_INTERVAL_SECONDS,
            timeout_seconds=HC_TIMEOUT_SECONDS,
            healthy_threshold=HC_THRESHOLD,
            unhealthy_threshold=HC_THRESHOLD,
            matcher=HC_GRPC_CODES if grpc else HC_HTTP_CODES,
        )

    def _unresolved(self, route: Route, reason: str, message: str) -> str | None:
        """Notes why the backend is unusable; its rule then has no target group (None)."""
        self.unresolved.setdefault(route.key, []).append(UnresolvedBackend(reason, message))
        return None


def _ref(route: Route) -> ObjectRef:
    return ObjectRef(route.kind, route.namespace, name_of(route.obj))


def _target_group_name(
    settings: BackendSettings,
    route: Route,
    service_namespace: str,
    service_name: str,
    tg_port: int,
    service_port: int,
    target_type: TargetType,
    protocol: str,
) -> str:
    """Upstream's name: ``k8s-<routeNs[:8]>-<routeName[:8]>-<hash[:10]>``, the hash over the cluster,
    Gateway, route, Service, port (the NodePort for instance targets), target type and protocol."""
    gateway_namespace, gateway_name = settings.gateway_key.split("/", 1)
    port_input = str(tg_port) if target_type is TargetType.INSTANCE else str(service_port)
    parts = [
        settings.cluster_name,
        gateway_namespace,
        gateway_name,
        route.namespace,
        name_of(route.obj),
        route.kind,
        service_namespace,
        service_name,
        port_input,
        target_type.value,
        protocol,
    ]
    if settings.load_balancer_type is LoadBalancerType.APPLICATION:
        parts.append("GRPC" if route.kind == "GRPCRoute" else "HTTP1")
    digest = short_hash(*parts)
    namespace = sanitize_name_part(route.namespace)[:8]
    name = sanitize_name_part(name_of(route.obj))[:8]
    return f"k8s-{namespace}-{name}-{digest}"
