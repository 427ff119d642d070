"""Service (``type: LoadBalancer``) → ``StackModel`` for one NLB.

Security group mode, in upstream's order (upstream-behaviour §1.1): an existing NLB without SGs stays
without SGs (legacy CIDR rules); feature gate ``NLBSecurityGroup`` off or ``disable-nlb-sg`` → no
SGs (an existing NLB with SGs is then an error); custom SGs from the annotation; else a managed SG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from controller.annotations import (
    SVC_ACCESS_LOG_ENABLED,
    SVC_ACCESS_LOG_S3_BUCKET_NAME,
    SVC_ACCESS_LOG_S3_BUCKET_PREFIX,
    SVC_ADDITIONAL_TAGS,
    SVC_CROSS_ZONE_ENABLED,
    SVC_DISABLE_NLB_SG,
    SVC_HEALTHCHECK_HEALTHY_THRESHOLD,
    SVC_HEALTHCHECK_INTERVAL,
    SVC_HEALTHCHECK_PATH,
    SVC_HEALTHCHECK_PORT,
    SVC_HEALTHCHECK_PROTOCOL,
    SVC_HEALTHCHECK_SUCCESS_CODES,
    SVC_HEALTHCHECK_TIMEOUT,
    SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD,
    SVC_ICMP_PATH_MTU,
    SVC_INTERNAL,
    SVC_IP_ADDRESS_TYPE,
    SVC_LOAD_BALANCER_ATTRIBUTES,
    SVC_LOAD_BALANCER_NAME,
    SVC_LOAD_BALANCER_TYPE,
    SVC_MANAGE_BACKEND_SG_RULES,
    SVC_NLB_TARGET_TYPE,
    SVC_PREFIX_LISTS,
    SVC_SCHEME,
    SVC_SECURITY_GROUPS,
    SVC_SUBNETS,
    SVC_TARGET_GROUP_ATTRIBUTES,
    InvalidAnnotationError,
    InvalidObjectError,
    ObjectRef,
    parse_bool,
    parse_string_list,
    parse_string_map,
    svc_port_target_group_attributes,
)
from controller.config import ControllerSettings
from controller.flagtypes import parse_bool as go_parse_bool
from controller.model import health_check as hc
from controller.model.attributes import (
    ACCESS_LOGS_S3_BUCKET,
    ACCESS_LOGS_S3_ENABLED,
    ACCESS_LOGS_S3_PREFIX,
    CROSS_ZONE_ENABLED,
    DNS_CLIENT_ROUTING_POLICIES,
    DNS_CLIENT_ROUTING_POLICY,
    merged_attributes,
    parse_attributes,
)
from controller.model.load_balancer import (
    ForwardAction,
    IpAddressType,
    ListenerSpec,
    LoadBalancerSpec,
    LoadBalancerType,
    Scheme,
    SubnetSelector,
)
from controller.model.resolver import SecurityGroupIdResolver, resolve_custom_sgs
from controller.model.security_group import (
    BACKEND_SG_REF,
    MANAGED_SG_REF,
    ManagedSecurityGroupSpec,
    check_rules_quota,
)
from controller.model.service_ports import (
    node_port_of,
    resolve_health_check_port,
    service_ports,
    target_group_ip_address_type,
    target_group_port,
    target_port_of,
    traffic_port,
)
from controller.model.stack import StackModel
from controller.model.tags import compose_resource_tags, merge_spec_tags, parse_tag_annotation
from controller.model.target_group import (
    HEALTH_CHECK_TRAFFIC_PORT,
    HealthCheckSpec,
    TargetGroupSpec,
    TargetType,
)
from controller.model.target_group_binding import NetworkingSpec, TargetGroupBindingSpec, sg_networking
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    MANAGED_SG_RESOURCE_ID,
    StackTags,
    managed_sg_name_for_service,
)
from controller.service.managed_sg import SourceRanges, nlb_ingress_rules, source_ranges
from controller.service.matcher import LOAD_BALANCER_TYPE_NLB_IP, is_managed_service
from controller.service.names import load_balancer_name, target_group_name
from controller.service.tgb_networking import LegacyInputs, legacy_networking
from controller.service.tls import tls_settings
from framework.objects import annotations_of, is_deleting, name_of, namespace_of, uid_of

LOAD_BALANCER_RESOURCE_ID: Final = "LoadBalancer"
PRESERVE_CLIENT_IP_ATTRIBUTE: Final = "preserve_client_ip.enabled"
HC_PROTOCOLS: Final = ("TCP", "HTTP", "HTTPS")
NLB_HC_DEFAULT_CODES: Final = "200-399"
LISTENER_PROTOCOLS: Final = ("TCP", "UDP")


@dataclass(frozen=True)
class ExistingLoadBalancer:
    """What the builder must know about the stack's NLB if it already exists in AWS."""

    security_group_ids: tuple[str, ...]
    scheme: Scheme
    """Kept when the Service names no scheme: a scheme change replaces the NLB (new DNS name)."""
    subnet_ids: tuple[str, ...] = ()
    """Kept, while the scheme stays, when the Service names no subnets (rather than re-discovered)."""


@dataclass(frozen=True)
class _Listen:
    port: int
    protocol: str
    """TCP, UDP or TCP_UDP (a TCP and a UDP Service port sharing one port number)."""
    service_port: Mapping[str, Any]


@dataclass(frozen=True)
class _SgPlan:
    managed_sg: ManagedSecurityGroupSpec | None
    refs: tuple[str, ...]
    needs_backend_sg: bool
    source: str | None
    legacy: bool
    manage_legacy: bool


@dataclass(frozen=True)
class _Context:
    """Everything about one Service that the parts of its model are built from."""

    service: Mapping[str, Any]
    ref: ObjectRef
    annotations: Mapping[str, str]
    stack_tags: StackTags
    spec_tags: Mapping[str, str]
    scheme: Scheme
    ip_address_type: IpAddressType
    target_type: TargetType
    ranges: SourceRanges


class ServiceModelBuilder:
    def __init__(self, config: ControllerSettings, sg_resolver: SecurityGroupIdResolver) -> None:
        self._config = config
        self._sg_resolver = sg_resolver

    async def build(
        self,
        service: Mapping[str, Any],
        stack_tags: StackTags,
        existing: ExistingLoadBalancer | None = None,
    ) -> StackModel | None:
        """The desired stack; None if the Service is not (or no longer) ours or is being deleted.

        ``stack_tags``: the Service's stack identity, as the reconciler built it (the model carries it).
        """
        if is_deleting(service) or not is_managed_service(service, self._config.load_balancer_class):
            return None
        config = self._config
        ref = ObjectRef.of("Service", service)
        annotations = annotations_of(service)
        namespace, name, uid = namespace_of(service), name_of(service), uid_of(service)

        scheme = self._scheme(ref, annotations, existing)
        ip_address_type = self._ip_address_type(ref, annotations)
        target_type = self._target_type(ref, annotations)
        user_tags = self._user_tags(ref, annotations)
        spec_tags = merge_spec_tags(
            user_tags, config.default_tags, config.feature_enabled("EnableDefaultTagsLowPriority")
        )
        listens = _listens(service, ref)
        ctx = _Context(
            service=service,
            ref=ref,
            annotations=annotations,
            stack_tags=stack_tags,
            spec_tags=spec_tags,
            scheme=scheme,
            ip_address_type=ip_address_type,
            target_type=target_type,
            ranges=source_ranges(service, ref),
        )
        sg_plan = await self._plan_security_groups(ctx, existing)
        if sg_plan.managed_sg is not None:
            check_rules_quota(sg_plan.managed_sg, config.sg_rules_quota, [ref])

        explicit_name = annotations.get(SVC_LOAD_BALANCER_NAME)
        if explicit_name is not None and len(explicit_name) > 32:
            raise InvalidAnnotationError(
                ref,
                SVC_LOAD_BALANCER_NAME,
                explicit_name,
                "load balancer name cannot be longer than 32 characters",
            )
        load_balancer = LoadBalancerSpec(
            resource_id=LOAD_BALANCER_RESOURCE_ID,
            name=explicit_name or load_balancer_name(config.cluster_name, namespace, name, uid, scheme.value),
            type=LoadBalancerType.NETWORK,
            scheme=scheme,
            ip_address_type=ip_address_type,
            subnets=SubnetSelector.for_scheme(
                _subnets(annotations, scheme, existing), scheme, config.cluster_name
            ),
            tags=compose_resource_tags(stack_tags, LOAD_BALANCER_RESOURCE_ID, spec_tags),
            attributes=_load_balancer_attributes(ref, annotations),
        )

        tls = tls_settings(service, ref, annotations, config.default_ssl_policy)
        listeners: list[ListenerSpec] = []
        target_groups: list[TargetGroupSpec] = []
        bindings: list[TargetGroupBindingSpec] = []
        for listen in listens:
            port_tls = tls.for_port(listen.port, str(listen.service_port.get("name") or ""), listen.protocol)
            # The target group speaks TLS only with backend-protocol ssl; else it keeps the port's protocol.
            target_group, binding = self._target_group(
                ctx, replace(listen, protocol=port_tls.target_protocol), sg_plan
            )
            target_groups.append(target_group)
            bindings.append(binding)
            listeners.append(
                ListenerSpec(
                    listen.port,
                    port_tls.listener_protocol,
                    ForwardAction(target_group.resource_id),
                    certificate_arns=port_tls.certificate_arns,
                    ssl_policy=port_tls.ssl_policy,
                    alpn_policy=port_tls.alpn_policy,
                )
            )

        return StackModel(
            stack_tags=stack_tags,
            tags=spec_tags,
            load_balancer=load_balancer,
            listeners=tuple(listeners),
            target_groups=tuple(target_groups),
            managed_sg=sg_plan.managed_sg,
            security_group_refs=sg_plan.refs,
            needs_backend_sg=sg_plan.needs_backend_sg,
            target_group_bindings=tuple(bindings),
            warnings=tls.warnings(),
        )

    # ----------------------------------------------------------------------------------------------

    def _scheme(
        self, ref: ObjectRef, annotations: Mapping[str, str], existing: ExistingLoadBalancer | None
    ) -> Scheme:
        """The scheme annotation, else the legacy ``internal`` boolean, else the existing NLB's
        scheme (so a Service that never named one keeps its live NLB), else the default."""
        raw = annotations.get(SVC_SCHEME)
        if raw is not None:
            try:
                return Scheme(raw)
            except ValueError:
                raise InvalidAnnotationError(
                    ref, SVC_SCHEME, raw, "unknown scheme, must be internal or internet-facing"
                ) from None
        raw_internal = annotations.get(SVC_INTERNAL)
        if raw_internal is not None:
            internal = parse_bool(ref, SVC_INTERNAL, raw_internal)
            return Scheme.INTERNAL if internal else Scheme.INTERNET_FACING
        if existing is not None:
            return existing.scheme
        return Scheme(self._config.default_load_balancer_scheme)

    def _ip_address_type(self, ref: ObjectRef, annotations: Mapping[str, str]) -> IpAddressType:
        raw = annotations.get(SVC_IP_ADDRESS_TYPE)
        if raw is None:
            return IpAddressType.IPV4
        if raw not in (IpAddressType.IPV4.value, IpAddressType.DUALSTACK.value):
            raise InvalidAnnotationError(ref, SVC_IP_ADDRESS_TYPE, raw, "must be ipv4 or dualstack")
        return IpAddressType(raw)

    def _target_type(self, ref: ObjectRef, annotations: Mapping[str, str]) -> TargetType:
        """Upstream's order: the ``EnableIPTargetType`` gate guards the target-type annotation (or
        the default standing in for it), then the legacy ``nlb-ip`` type means ip targets whatever
        the gate, then the target type itself."""
        raw = annotations.get(SVC_NLB_TARGET_TYPE)
        key, value = (
            (SVC_NLB_TARGET_TYPE, raw)
            if raw is not None
            else ("--default-target-type", self._config.default_target_type)
        )
        if value == TargetType.IP.value and not self._config.feature_enabled("EnableIPTargetType"):
            raise InvalidAnnotationError(
                ref, key, value, "unsupported targetType: ip when EnableIPTargetType is false"
            )
        if annotations.get(SVC_LOAD_BALANCER_TYPE) == LOAD_BALANCER_TYPE_NLB_IP:
            return TargetType.IP
        try:
            return TargetType(value)
        except ValueError:
            raise InvalidAnnotationError(ref, key, value, "must be instance or ip") from None

    def _user_tags(self, ref: ObjectRef, annotations: Mapping[str, str]) -> dict[str, str]:
        raw = annotations.get(SVC_ADDITIONAL_TAGS)
        if raw is None:
            return {}
        tags = parse_tag_annotation(ref, SVC_ADDITIONAL_TAGS, raw)
        for key in tags:
            if key in self._config.external_managed_tags:
                raise InvalidAnnotationError(
                    ref, SVC_ADDITIONAL_TAGS, raw, f"external managed tag key {key} cannot be specified"
                )
        return tags

    async def _plan_security_groups(self, ctx: _Context, existing: ExistingLoadBalancer | None) -> _SgPlan:
        config = self._config
        service, ref, annotations = ctx.service, ctx.ref, ctx.annotations
        raw_manage = annotations.get(SVC_MANAGE_BACKEND_SG_RULES)
        manage_explicit = (
            parse_bool(ref, SVC_MANAGE_BACKEND_SG_RULES, raw_manage) if raw_manage is not None else None
        )
        raw_disable = annotations.get(SVC_DISABLE_NLB_SG)
        disabled = parse_bool(ref, SVC_DISABLE_NLB_SG, raw_disable) if raw_disable is not None else False
        gate_on = config.feature_enabled("NLBSecurityGroup")

        # Legacy (no SGs): CIDR rules are managed unless the annotation says false.
        legacy = _SgPlan(None, (), False, None, True, manage_explicit is not False)
        if existing is not None and not existing.security_group_ids:
            return legacy
        if not gate_on or disabled:
            if existing is not None and existing.security_group_ids:
                reason = (
                    "conflicting security groups configuration: the existing NLB has security groups "
                    f"{', '.join(existing.security_group_ids)}, which cannot be removed"
                )
                if disabled:
                    raise InvalidAnnotationError(ref, SVC_DISABLE_NLB_SG, raw_disable or "", reason)
                raise InvalidObjectError(ref, "feature gate NLBSecurityGroup", "false", reason)
            return legacy

        custom = parse_string_list(annotations.get(SVC_SECURITY_GROUPS, ""))
        if not custom:
            ports = [
                (int(p.get("port") or 0), str(p.get("protocol") or "TCP").lower())
                for p in service_ports(service)
            ]
            raw_icmp = annotations.get(SVC_ICMP_PATH_MTU)
            raw_prefix_lists = annotations.get(SVC_PREFIX_LISTS)
            managed = ManagedSecurityGroupSpec(
                name=managed_sg_name_for_service(
                    config.cluster_name,
                    ref.namespace,
                    ref.name,
                    uid_of(service),
                ),
                description=MANAGED_SG_DESCRIPTION,
                tags=compose_resource_tags(ctx.stack_tags, MANAGED_SG_RESOURCE_ID, ctx.spec_tags),
                ingress=nlb_ingress_rules(
                    ports,
                    ctx.ranges,
                    parse_string_list(raw_prefix_lists) if raw_prefix_lists is not None else None,
                    ctx.ip_address_type.is_dualstack,
                    raw_icmp == "on",
                    ref,
                ),
            )
            backend = config.enable_backend_security_group
            return _SgPlan(
                managed,
                (MANAGED_SG_REF, BACKEND_SG_REF) if backend else (MANAGED_SG_REF,),
                backend,
                BACKEND_SG_REF if backend else MANAGED_SG_REF,
                False,
                False,
            )
        manage = (
            config.enable_manage_backend_security_group_rules if manage_explicit is None else manage_explicit
        )
        if manage and not config.enable_backend_security_group:
            raise InvalidAnnotationError(
                ref,
                SVC_MANAGE_BACKEND_SG_RULES,
                raw_manage if raw_manage is not None else "true",
                "backendSG feature is required to manage worker node SG rules when frontendSG manually specified",
            )
        ids = await resolve_custom_sgs(self._sg_resolver, custom, ref, SVC_SECURITY_GROUPS)
        return _SgPlan(
            None,
            (*ids, BACKEND_SG_REF) if manage else tuple(ids),
            manage,
            BACKEND_SG_REF if manage else None,
            False,
            False,
        )

    def _health_check(self, ctx: _Context) -> HealthCheckSpec:
        service, ref, annotations, target_type = ctx.service, ctx.ref, ctx.annotations, ctx.target_type
        spec = service.get("spec") or {}
        local = (
            target_type is TargetType.INSTANCE
            and spec.get("externalTrafficPolicy") == "Local"
            and bool(spec.get("healthCheckNodePort"))
        )
        if local:
            # kube-proxy answers on healthCheckNodePort only on nodes with local endpoints.
            port, protocol, path = str(int(spec["healthCheckNodePort"])), "HTTP", "/healthz"
            interval, timeout, healthy, unhealthy = 10, 6, 2, 2
        else:
            port, protocol, path = HEALTH_CHECK_TRAFFIC_PORT, "TCP", "/"
            interval, timeout, healthy, unhealthy = 10, 10, 3, 3
        raw_port = annotations.get(SVC_HEALTHCHECK_PORT)
        if raw_port is not None:
            port = resolve_health_check_port(raw_port, service, target_type, ref, SVC_HEALTHCHECK_PORT)
        raw_protocol = annotations.get(SVC_HEALTHCHECK_PROTOCOL)
        if raw_protocol is not None:
            protocol = raw_protocol.upper()
            if protocol not in HC_PROTOCOLS:
                raise InvalidAnnotationError(
                    ref,
                    SVC_HEALTHCHECK_PROTOCOL,
                    raw_protocol,
                    f"unsupported health check protocol {raw_protocol}",
                )
        path = annotations.get(SVC_HEALTHCHECK_PATH, path)
        http = protocol != "TCP"
        # NLBHealthCheckAdvancedConfig (on by default upstream) lets the timeout and the success
        # codes be set; without it both keep their defaults (and TCP checks have no matcher).
        advanced = self._config.feature_enabled("NLBHealthCheckAdvancedConfig")
        matcher: str | None = None
        if http and advanced:
            raw_codes = annotations.get(SVC_HEALTHCHECK_SUCCESS_CODES)
            matcher = (
                hc.success_codes(ref, SVC_HEALTHCHECK_SUCCESS_CODES, raw_codes, hc.NLB_HTTP_CODES)
                if raw_codes is not None
                else NLB_HC_DEFAULT_CODES
            )
        if advanced:
            timeout = hc.health_check_int(
                ref, SVC_HEALTHCHECK_TIMEOUT, annotations.get(SVC_HEALTHCHECK_TIMEOUT), timeout, hc.TIMEOUT
            )
        return HealthCheckSpec(
            port=port,
            protocol=protocol,
            path=path if http else None,
            interval_seconds=hc.health_check_int(
                ref,
                SVC_HEALTHCHECK_INTERVAL,
                annotations.get(SVC_HEALTHCHECK_INTERVAL),
                interval,
                hc.INTERVAL,
            ),
            timeout_seconds=timeout,
            healthy_threshold=hc.health_check_int(
                ref,
                SVC_HEALTHCHECK_HEALTHY_THRESHOLD,
                annotations.get(SVC_HEALTHCHECK_HEALTHY_THRESHOLD),
                healthy,
                hc.HEALTHY_THRESHOLD,
            ),
            unhealthy_threshold=hc.health_check_int(
                ref,
                SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD,
                annotations.get(SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD),
                unhealthy,
                hc.UNHEALTHY_THRESHOLD,
            ),
            matcher=matcher,
        )

    def _target_group(
        self, ctx: _Context, listen: _Listen, sg_plan: _SgPlan
    ) -> tuple[TargetGroupSpec, TargetGroupBindingSpec]:
        config = self._config
        service, ref, target_type = ctx.service, ctx.ref, ctx.target_type
        port = listen.service_port
        if target_type is TargetType.INSTANCE and not node_port_of(port):
            raise InvalidObjectError(
                ref,
                "spec.ports[].nodePort",
                str(port.get("port")),
                "unable to support instance target type with an unallocated NodePort",
            )
        health_check = self._health_check(ctx)
        attributes = _port_target_group_attributes(ctx, listen.port)
        preserve_client_ip = _preserve_client_ip(ctx, attributes)
        tg_port = target_group_port(port, target_type)
        ip_address_type = target_group_ip_address_type(service, ctx.ip_address_type, ref, "spec.ipFamilies")
        ipv6_targets = ip_address_type == "ipv6"
        name = target_group_name(
            cluster_name=config.cluster_name,
            namespace=ref.namespace,
            name=ref.name,
            uid=uid_of(service),
            service_port=listen.port,
            target_group_port=tg_port,
            target_type=target_type.value,
            protocol=listen.protocol,
            health_check_protocol=health_check.protocol,
            health_check_interval=health_check.interval_seconds,
        )
        # Upstream's resource id: "<ns>/<name>:<port>".
        resource_id = f"{ref.namespace}/{ref.name}:{listen.port}"
        target_group = TargetGroupSpec(
            resource_id=resource_id,
            name=name,
            target_type=target_type,
            protocol=listen.protocol,
            port=tg_port,
            ip_address_type=ip_address_type,
            health_check=health_check,
            tags=compose_resource_tags(ctx.stack_tags, resource_id, ctx.spec_tags),
            attributes=attributes,
        )
        traffic = traffic_port(port, target_type)
        networking: NetworkingSpec | None
        if sg_plan.legacy:
            networking = (
                legacy_networking(
                    LegacyInputs(
                        protocol=listen.protocol,
                        traffic=traffic,
                        health_check_port=health_check.port,
                        ipv6_targets=ipv6_targets,
                        preserve_client_ip=preserve_client_ip,
                        internal=ctx.scheme is Scheme.INTERNAL,
                        source_ipv4=ctx.ranges.cidrs.ipv4,
                        source_ipv6=ctx.ranges.cidrs.ipv6,
                    )
                )
                if sg_plan.manage_legacy
                else None
            )
        elif sg_plan.source is not None:
            networking = sg_networking(
                sg_plan.source,
                listen.protocol,
                traffic,
                health_check.port,
                not config.disable_restricted_sg_rules,
            )
        else:
            networking = None
        binding = TargetGroupBindingSpec(
            name=name,
            namespace=ref.namespace,
            target_group_id=resource_id,
            target_type=target_type.value,
            service_name=ref.name,
            service_port=listen.port,
            ip_address_type=target_group.ip_address_type,
            networking=networking,
        )
        return target_group, binding


def _port_target_group_attributes(ctx: _Context, service_port: int) -> dict[str, str]:
    """The port's target-group attributes: the base annotation's, overridden by the per-port
    annotation's non-empty values. Both annotations are validated on every build, as upstream.
    Upstream also always adds ``proxy_protocol_v2.enabled=false``; we do not (see the module's
    deploy notes: no attribute call for a target group whose Service names none)."""
    attributes = _target_group_attributes(ctx, SVC_TARGET_GROUP_ATTRIBUTES)
    for name, value in _target_group_attributes(ctx, svc_port_target_group_attributes(service_port)).items():
        if value:
            attributes[name] = value
    return attributes


def _preserve_client_ip(ctx: _Context, attributes: Mapping[str, str]) -> bool:
    """``preserve_client_ip.enabled`` of a port's target group (already validated)."""
    value = attributes.get(PRESERVE_CLIENT_IP_ATTRIBUTE)
    if value is not None:
        return go_parse_bool(value)
    # AWS's default: preserved for instance targets, not for ip targets.
    return ctx.target_type is TargetType.INSTANCE


def _load_balancer_attributes(ref: ObjectRef, annotations: Mapping[str, str]) -> dict[str, str]:
    """``aws-load-balancer-attributes``, under the legacy access-log and cross-zone annotations
    (which win, as upstream merges them first); ``dns_record.client_routing_policy`` is checked."""
    raw = annotations.get(SVC_LOAD_BALANCER_ATTRIBUTES)
    attributes = parse_attributes(ref, SVC_LOAD_BALANCER_ATTRIBUTES, raw)
    policy = attributes.get(DNS_CLIENT_ROUTING_POLICY)
    if policy is not None and policy not in DNS_CLIENT_ROUTING_POLICIES:
        expected = ", ".join(f"'{p}'" for p in DNS_CLIENT_ROUTING_POLICIES)
        raise InvalidAnnotationError(
            ref,
            SVC_LOAD_BALANCER_ATTRIBUTES,
            raw or "",
            f"invalid {DNS_CLIENT_ROUTING_POLICY} set in annotation {SVC_LOAD_BALANCER_ATTRIBUTES}: "
            f"got '{policy}' expected one of [{expected}]",
        )
    legacy: dict[str, str] = {}
    raw_access_log = annotations.get(SVC_ACCESS_LOG_ENABLED)
    if raw_access_log is not None and parse_bool(ref, SVC_ACCESS_LOG_ENABLED, raw_access_log):
        legacy[ACCESS_LOGS_S3_ENABLED] = "true"
        if SVC_ACCESS_LOG_S3_BUCKET_NAME in annotations:
            legacy[ACCESS_LOGS_S3_BUCKET] = annotations[SVC_ACCESS_LOG_S3_BUCKET_NAME]
        if SVC_ACCESS_LOG_S3_BUCKET_PREFIX in annotations:
            legacy[ACCESS_LOGS_S3_PREFIX] = annotations[SVC_ACCESS_LOG_S3_BUCKET_PREFIX]
    raw_cross_zone = annotations.get(SVC_CROSS_ZONE_ENABLED)
    if raw_cross_zone is not None:
        legacy[CROSS_ZONE_ENABLED] = str(parse_bool(ref, SVC_CROSS_ZONE_ENABLED, raw_cross_zone)).lower()
    return merged_attributes(legacy, attributes)


def _target_group_attributes(ctx: _Context, key: str) -> dict[str, str]:
    """One attribute annotation's map; a ``preserve_client_ip.enabled`` that is not a Go boolean is
    an error naming the annotation and the attribute, as upstream (even if another value wins)."""
    raw = ctx.annotations.get(key)
    if raw is None:
        return {}
    attributes = parse_string_map(ctx.ref, key, raw)
    value = attributes.get(PRESERVE_CLIENT_IP_ATTRIBUTE)
    if value is not None:
        try:
            go_parse_bool(value)
        except ValueError:
            raise InvalidAnnotationError(
                ctx.ref,
                key,
                raw,
                f"failed to parse attribute {PRESERVE_CLIENT_IP_ATTRIBUTE}={value}: not a boolean",
            ) from None
    return attributes


def _subnets(
    annotations: Mapping[str, str], scheme: Scheme, existing: ExistingLoadBalancer | None
) -> tuple[str, ...]:
    """The subnets annotation; else, as upstream, the live NLB's own subnets while its scheme stays,
    so subnet tags changed or added later do not move it; else empty (discovery by tags)."""
    named = parse_string_list(annotations.get(SVC_SUBNETS, ""))
    if named or existing is None or existing.scheme is not scheme:
        return named
    return existing.subnet_ids


def _listens(service: Mapping[str, Any], ref: ObjectRef) -> list[_Listen]:
    """One listener per port number; a TCP and a UDP Service port on the same number become TCP_UDP."""
    by_port: dict[int, _Listen] = {}
    for port in service_ports(service):
        number = int(port.get("port") or 0)
        protocol = str(port.get("protocol") or "TCP")
        if protocol not in LISTENER_PROTOCOLS:
            raise InvalidObjectError(
                ref, "spec.ports[].protocol", protocol, "NLB listeners support TCP and UDP"
            )
        previous = by_port.get(number)
        if previous is None:
            by_port[number] = _Listen(number, protocol, port)
            continue
        same_target = target_port_of(previous.service_port) == target_port_of(port) and node_port_of(
            previous.service_port
        ) == node_port_of(port)
        if {previous.protocol, protocol} != {"TCP", "UDP"} or not same_target:
            raise InvalidObjectError(
                ref,
                "spec.ports[].port",
                str(number),
                "ports sharing a number must be one TCP and one UDP port with the same targetPort and nodePort",
            )
        by_port[number] = _Listen(number, "TCP_UDP", previous.service_port)
    return [by_port[number] for number in sorted(by_port)]
