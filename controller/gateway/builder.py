"""One Gateway → one stack model: an ALB or an NLB, its listeners, target groups, bindings and SGs.

Security groups follow upstream's gateway builder (model_build_security_group.go), which is the
Ingress/Service logic driven by the merged ``LoadBalancerConfiguration``:

* ``disableSecurityGroup`` on an NLB: no SG at all (and, here, no rules on node or pod SGs);
* ``securityGroups`` (ids or ``Name`` tags): exactly those; with ``manageBackendSecurityGroupRules``
  the shared backend SG is added and is the source of the node/ENI rules (it needs
  ``--enable-backend-security-group``), without it we add no node/ENI rules;
* otherwise a managed SG allowing each listener port from ``sourceRanges`` (default ``0.0.0.0/0``, plus
  ``::/0`` on a dual-stack LB; IPv6 ranges are skipped on an ipv4 LB, as upstream) and each of
  ``securityGroupPrefixes`` (UDP listeners get UDP rules), plus the shared backend SG when it is
  enabled, which then sources the node/ENI rules (else the managed SG does).

Listeners: one per distinct Gateway listener port. ALB: HTTP or HTTPS; every attached HTTPRoute
and GRPCRoute rule becomes a listener rule (``controller.gateway.http_rules``), the default action
is a fixed 404. NLB: TCP, UDP or TLS; the oldest attached route of the listener's kind forwards
to its first rule's backend. HTTPS and TLS listeners take their certificates and policies from
``listenerConfigurations`` (``protocolPort`` ``HTTPS:443``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeVar

from controller.annotations import InvalidObjectError, ModelBuildError, ObjectRef
from controller.config import ControllerSettings
from controller.gateway.backends import (
    BackendSettings,
    GatewayBackends,
    ServiceLookup,
    TargetGroupConfigLookup,
)
from controller.gateway.http_rules import routed_rules
from controller.gateway.lb_config import GatewayLbConfig
from controller.gateway.routes import Attachments, Listener, Route
from controller.model.load_balancer import (
    Action,
    FixedResponseAction,
    ForwardAction,
    IpAddressType,
    ListenerRule,
    ListenerSpec,
    LoadBalancerSpec,
    LoadBalancerType,
    Scheme,
    SubnetSelector,
    TargetGroupTuple,
)
from controller.model.resolver import SecurityGroupIdResolver, resolve_custom_sgs
from controller.model.security_group import (
    BACKEND_SG_REF,
    MANAGED_SG_REF,
    ManagedSecurityGroupSpec,
    check_rules_quota,
)
from controller.model.stack import StackModel
from controller.model.tags import compose_resource_tags, merge_spec_tags
from controller.model.target_group import TargetType
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    MANAGED_SG_RESOURCE_ID,
    StackTags,
    load_balancer_name_for_gateway,
    managed_sg_name_for_gateway,
)
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule, dedupe_rules
from framework.objects import name_of, namespace_of, uid_of

E = TypeVar("E", bound=StrEnum)

LOAD_BALANCER_RESOURCE_ID: Final = "LoadBalancer"
MAX_LOAD_BALANCER_NAME_LENGTH: Final = 32
ALB_PROTOCOLS: Final = ("HTTP", "HTTPS")
NLB_PROTOCOLS: Final = ("TCP", "UDP", "TLS")
BACKEND_ERROR_STATUS: Final = "500"
"""What a rule answers when none of its backends can be used (the Gateway API asks for a 500)."""


@dataclass(frozen=True)
class GatewayBuild:
    """The model, and what the build learned that the status and the watches need."""

    model: StackModel
    unresolved: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    """Route key → its unusable backends (``UnresolvedBackend``)."""
    services: frozenset[str] = frozenset()
    """Service keys the routes' backends name."""


@dataclass(frozen=True)
class _SgPlan:
    managed: ManagedSecurityGroupSpec | None
    refs: tuple[str, ...]
    needs_backend_sg: bool
    networking_source: str | None


class GatewayModelBuilder:
    def __init__(
        self,
        config: ControllerSettings,
        sg_resolver: SecurityGroupIdResolver,
        services: ServiceLookup,
        target_group_configs: TargetGroupConfigLookup,
    ) -> None:
        self._config = config
        self._sg_resolver = sg_resolver
        self._services = services
        self._target_group_configs = target_group_configs

    async def build(
        self,
        gateway: Mapping[str, Any],
        lb_type: LoadBalancerType,
        lb_config: GatewayLbConfig,
        listeners: Sequence[Listener],
        attachments: Attachments,
        stack_tags: StackTags,
    ) -> GatewayBuild:
        config = self._config
        ref = ObjectRef.of("Gateway", gateway)
        scheme = self._scheme(lb_config)
        ip_address_type = self._ip_address_type(lb_config)
        user_tags = dict(lb_config.tags)
        for key in user_tags:
            if key in config.external_managed_tags:
                raise InvalidObjectError(
                    lb_config.origins.get("tags", ref),
                    "spec.tags",
                    key,
                    f"external managed tag key {key} cannot be specified",
                )
        spec_tags = merge_spec_tags(
            user_tags, config.default_tags, config.feature_enabled("EnableDefaultTagsLowPriority")
        )
        ports = _listener_ports(ref, listeners, lb_type)
        sg_plan = await self._plan_security_groups(
            gateway, ref, lb_type, lb_config, ports, ip_address_type, stack_tags, spec_tags
        )
        if sg_plan.managed is not None:
            check_rules_quota(sg_plan.managed, config.sg_rules_quota, [ref])
        backends = GatewayBackends(
            BackendSettings(
                cluster_name=config.cluster_name,
                gateway_key=f"{namespace_of(gateway)}/{name_of(gateway)}",
                load_balancer_type=lb_type,
                default_target_type=TargetType(config.default_target_type),
                lb_ip_address_type=ip_address_type,
                tags=spec_tags,
                networking_source=sg_plan.networking_source,
                restricted_rules=not config.disable_restricted_sg_rules,
            ),
            stack_tags,
            self._services,
            self._target_group_configs,
        )
        model_listeners: list[ListenerSpec] = []
        for port in sorted(ports):
            protocol, names = ports[port]
            routes = _routes_of(attachments, names)
            if lb_type is LoadBalancerType.APPLICATION:
                model_listeners.append(self._alb_listener(ref, lb_config, port, protocol, routes, backends))
            else:
                listener = self._nlb_listener(ref, lb_config, port, protocol, routes, backends)
                if listener is not None:
                    model_listeners.append(listener)
        name = lb_config.load_balancer_name or load_balancer_name_for_gateway(
            config.cluster_name, namespace_of(gateway), name_of(gateway), uid_of(gateway), scheme.value
        )
        if len(name) > MAX_LOAD_BALANCER_NAME_LENGTH:
            raise InvalidObjectError(
                lb_config.origins.get("loadBalancerName", ref),
                "spec.loadBalancerName",
                name,
                f"load balancer name cannot be longer than {MAX_LOAD_BALANCER_NAME_LENGTH} characters",
            )
        model = StackModel(
            stack_tags=stack_tags,
            tags=spec_tags,
            load_balancer=LoadBalancerSpec(
                resource_id=LOAD_BALANCER_RESOURCE_ID,
                name=name,
                type=lb_type,
                scheme=scheme,
                ip_address_type=ip_address_type,
                subnets=SubnetSelector.for_scheme(lb_config.subnets, scheme, config.cluster_name),
                tags=compose_resource_tags(stack_tags, LOAD_BALANCER_RESOURCE_ID, spec_tags),
            ),
            listeners=tuple(model_listeners),
            target_groups=tuple(backends.target_groups),
            managed_sg=sg_plan.managed,
            security_group_refs=sg_plan.refs,
            needs_backend_sg=sg_plan.needs_backend_sg,
            target_group_bindings=tuple(backends.bindings),
        )
        return GatewayBuild(model, dict(backends.unresolved), frozenset(backends.services_used))

    # ----------------------------------------------------------------------------- LB settings

    def _scheme(self, lb_config: GatewayLbConfig) -> Scheme:
        raw = lb_config.scheme or self._config.default_load_balancer_scheme
        return _choice(Scheme, raw, lb_config, "scheme", "unknown scheme")

    def _ip_address_type(self, lb_config: GatewayLbConfig) -> IpAddressType:
        raw = lb_config.ip_address_type or IpAddressType.IPV4.value
        return _choice(IpAddressType, raw, lb_config, "ipAddressType", "unknown IPAddressType")

    # ----------------------------------------------------------------------------- security groups

    async def _plan_security_groups(
        self,
        gateway: Mapping[str, Any],
        ref: ObjectRef,
        lb_type: LoadBalancerType,
        lb_config: GatewayLbConfig,
        ports: Mapping[int, tuple[str, tuple[str, ...]]],
        ip_address_type: IpAddressType,
        stack_tags: StackTags,
        spec_tags: Mapping[str, str],
    ) -> _SgPlan:
        config = self._config
        backend_enabled = config.enable_backend_security_group
        if lb_config.disable_security_group and lb_type is LoadBalancerType.NETWORK:
            return _SgPlan(None, (), False, None)
        if lb_config.security_groups:
            origin = lb_config.origins["securityGroups"]
            manage = bool(lb_config.manage_backend_security_group_rules)
            if manage and not backend_enabled:
                raise InvalidObjectError(
                    lb_config.origins.get("manageBackendSecurityGroupRules", origin),
                    "spec.manageBackendSecurityGroupRules",
                    "true",
                    "backendSG feature is required to manage worker node SG rules when frontendSG manually specified",
                )
            ids = await resolve_custom_sgs(
                self._sg_resolver, lb_config.security_groups, origin, "spec.securityGroups"
            )
            return _SgPlan(
                None,
                (*ids, BACKEND_SG_REF) if manage else tuple(ids),
                manage,
                BACKEND_SG_REF if manage else None,
            )
        managed = ManagedSecurityGroupSpec(
            name=managed_sg_name_for_gateway(
                config.cluster_name, namespace_of(gateway), name_of(gateway), uid_of(gateway)
            ),
            description=MANAGED_SG_DESCRIPTION,
            tags=compose_resource_tags(stack_tags, MANAGED_SG_RESOURCE_ID, spec_tags),
            ingress=managed_sg_rules(lb_config, ports, ip_address_type),
        )
        return _SgPlan(
            managed,
            (MANAGED_SG_REF, BACKEND_SG_REF) if backend_enabled else (MANAGED_SG_REF,),
            backend_enabled,
            BACKEND_SG_REF if backend_enabled else MANAGED_SG_REF,
        )

    # ----------------------------------------------------------------------------- listeners

    def _alb_listener(
        self,
        ref: ObjectRef,
        lb_config: GatewayLbConfig,
        port: int,
        protocol: str,
        routes: Sequence[Route],
        backends: GatewayBackends,
    ) -> ListenerSpec:
        rules = []
        for priority, routed in enumerate(routed_rules(routes), start=1):
            action = _forward(routed.route, routed.rule.get("backendRefs") or (), backends, "HTTP")
            rules.append(ListenerRule(priority, routed.conditions, action))
        certificates, ssl_policy, _ = self._tls(ref, lb_config, protocol, port)
        return ListenerSpec(
            port=port,
            protocol=protocol,
            default_action=FixedResponseAction(status_code="404", content_type="text/plain"),
            rules=tuple(rules),
            certificate_arns=certificates,
            ssl_policy=ssl_policy,
        )

    def _nlb_listener(
        self,
        ref: ObjectRef,
        lb_config: GatewayLbConfig,
        port: int,
        protocol: str,
        routes: Sequence[Route],
        backends: GatewayBackends,
    ) -> ListenerSpec | None:
        """None when no attached route has a usable backend: an NLB listener must forward somewhere."""
        target_protocol = "TCP" if protocol == "TLS" else protocol
        for route in routes:
            rules = route.spec.get("rules") or ()
            refs = (rules[0].get("backendRefs") or ()) if rules else ()
            if not refs:
                continue
            target = backends.target_group_for(route, refs[0], target_protocol)
            if target is None:
                continue
            certificates, ssl_policy, alpn = self._tls(ref, lb_config, protocol, port)
            return ListenerSpec(
                port=port,
                protocol=protocol,
                default_action=ForwardAction(target),
                certificate_arns=certificates,
                ssl_policy=ssl_policy,
                alpn_policy=alpn,
            )
        return None

    def _tls(
        self, ref: ObjectRef, lb_config: GatewayLbConfig, protocol: str, port: int
    ) -> tuple[tuple[str, ...], str | None, str | None]:
        """Certificates, SSL policy and ALPN policy of an HTTPS/TLS listener (nothing for the others)."""
        if protocol not in ("HTTPS", "TLS"):
            return (), None, None
        listener = lb_config.listener(protocol, port)
        if listener is None or not listener.default_certificate:
            raise InvalidObjectError(
                ref,
                f"spec.listeners[port={port}]",
                protocol,
                f"a {protocol} listener needs a certificate: set defaultCertificate in the "
                f"LoadBalancerConfiguration's listenerConfigurations entry {protocol}:{port}",
            )
        certificates = (
            listener.default_certificate,
            *(c for c in listener.certificates if c != listener.default_certificate),
        )
        return certificates, listener.ssl_policy or self._config.default_ssl_policy, listener.alpn_policy


def _choice(enum: type[E], raw: str, lb_config: GatewayLbConfig, key: str, reason: str) -> E:
    """``raw`` as a member of ``enum``; else an error naming the configuration that set ``key``."""
    try:
        return enum(raw)
    except ValueError:
        origin = lb_config.origins.get(key, ObjectRef("LoadBalancerConfiguration", "", ""))
        raise InvalidObjectError(origin, f"spec.{key}", raw, reason) from None


def managed_sg_rules(
    lb_config: GatewayLbConfig,
    ports: Mapping[int, tuple[str, tuple[str, ...]]],
    ip_address_type: IpAddressType,
) -> tuple[Rule, ...]:
    """Each listener port from each source range and prefix list (upstream's gateway SG builder)."""
    ranges = lb_config.source_ranges
    ipv4 = ranges.ipv4 if ranges is not None else ("0.0.0.0/0",)
    ipv6 = ranges.ipv6 if ranges is not None else ("::/0",)
    if not ip_address_type.is_dualstack:
        ipv6 = ()
    rules: list[Rule] = []
    for port in sorted(ports):
        protocol = "udp" if ports[port][0] == "UDP" else "tcp"
        for cidr in ipv4:
            rules.append(Rule.of(protocol, port, port, Ipv4CidrSource(cidr)))
            if lb_config.enable_icmp:
                rules.append(Rule.of("icmp", 3, 4, Ipv4CidrSource(cidr)))
        for cidr in ipv6:
            rules.append(Rule.of(protocol, port, port, Ipv6CidrSource(cidr)))
            if lb_config.enable_icmp:
                rules.append(Rule.of("icmpv6", 2, 0, Ipv6CidrSource(cidr)))
        rules.extend(
            Rule.of(protocol, port, port, PrefixListSource(pl))
            for pl in lb_config.security_group_prefixes or ()
        )
    return tuple(dedupe_rules(rules))


def _listener_ports(
    ref: ObjectRef, listeners: Sequence[Listener], lb_type: LoadBalancerType
) -> dict[int, tuple[str, tuple[str, ...]]]:
    """Port → (protocol, names of the Gateway listeners on it); conflicting protocols are an error."""
    allowed = ALB_PROTOCOLS if lb_type is LoadBalancerType.APPLICATION else NLB_PROTOCOLS
    ports: dict[int, tuple[str, tuple[str, ...]]] = {}
    for listener in listeners:
        if listener.protocol not in allowed:
            raise InvalidObjectError(
                ref,
                f"spec.listeners[{listener.name}].protocol",
                listener.protocol,
                f"must be one of {', '.join(allowed)} on {'an ALB' if lb_type is LoadBalancerType.APPLICATION else 'an NLB'}",
            )
        known = ports.get(listener.port)
        if known is not None and known[0] != listener.protocol:
            raise InvalidObjectError(
                ref,
                f"spec.listeners[{listener.name}].protocol",
                listener.protocol,
                f"port {listener.port} is already used with protocol {known[0]}",
            )
        names = (*known[1], listener.name) if known else (listener.name,)
        ports[listener.port] = (listener.protocol, names)
    if not ports:
        raise ModelBuildError(f"{ref}: has no listeners", [ref])
    return ports


def _routes_of(attachments: Attachments, listener_names: Sequence[str]) -> list[Route]:
    """The routes attached to any of the named listeners, each once, in their tie-break order."""
    seen: dict[str, Route] = {}
    for name in listener_names:
        for route in attachments.by_listener.get(name, ()):
            seen.setdefault(route.key, route)
    return sorted(seen.values(), key=Route.sort_key)


def _forward(
    route: Route, refs: Sequence[Mapping[str, Any]], backends: GatewayBackends, protocol: str
) -> Action:
    # Two refs to the same Service port share one target group: their weights add up (a forward
    # action may name each target group once).
    weights: dict[str, int] = {}
    for backend in refs:
        weight = int(backend.get("weight", 1))
        target = backends.target_group_for(route, backend, protocol)
        if target is not None and weight > 0:
            weights[target] = weights.get(target, 0) + weight
    if not weights:
        return FixedResponseAction(status_code=BACKEND_ERROR_STATUS, content_type="text/plain")
    if len(weights) == 1:
        return ForwardAction(next(iter(weights)))
    return ForwardAction(target_groups=tuple(TargetGroupTuple(t, weight=w) for t, w in weights.items()))
