"""Ingress group → ``StackModel`` (one ALB with its listeners, rules, target groups, SGs and TGBs).

Only ``ModelBuildError`` subclasses escape for bad user input. Custom SG names are resolved through
the injected resolver; nothing else talks to AWS (subnet discovery and SG creation are the deploy
step's job, so the model carries a subnet selector and SG placeholders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.annotations import (
    ING_MANAGE_BACKEND_SG_RULES,
    ING_SECURITY_GROUPS,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    InvalidObjectError,
    ObjectRef,
)
from controller.config import ControllerSettings
from controller.ingress.actions import (
    USE_ANNOTATION,
    ForwardConfig,
    actions_key,
    conditions_key,
    parse_action,
    parse_conditions,
)
from controller.ingress.class_matcher import ClassifiedIngress
from controller.ingress.group import IngressGroup
from controller.ingress.managed_sg import alb_ingress_rules, dropped_ipv6_warnings
from controller.ingress.names import load_balancer_name
from controller.ingress.paths import rule_conditions, sort_paths
from controller.ingress.rule_optimizer import Rule, optimize_rules
from controller.ingress.settings import (
    ListenPortSpec,
    merge_ip_address_type,
    merge_listen_ports,
    merge_load_balancer_attributes,
    merge_load_balancer_name,
    merge_manage_backend_rules,
    merge_scheme,
    merge_security_groups,
    merge_subnets,
    merge_tags,
)
from controller.ingress.ssl_redirect import merge_ssl_redirect
from controller.ingress.target_groups import (
    BackendRef,
    ServiceLookup,
    TargetGroupSettings,
    build_target_group,
    parse_backend,
)
from controller.model.load_balancer import (
    Action,
    FixedResponseAction,
    ForwardAction,
    IpAddressType,
    ListenerRule,
    ListenerSpec,
    LoadBalancerSpec,
    LoadBalancerType,
    RedirectAction,
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
from controller.model.target_group import TargetGroupSpec, TargetType
from controller.model.target_group_binding import TargetGroupBindingSpec
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    MANAGED_SG_RESOURCE_ID,
    StackTags,
    managed_sg_name_for_explicit_group,
    managed_sg_name_for_implicit_ingress,
)
from framework.objects import namespace_of

LOAD_BALANCER_RESOURCE_ID = "LoadBalancer"
HTTP = "HTTP"


@dataclass(frozen=True)
class _SecurityGroupPlan:
    managed_sg: ManagedSecurityGroupSpec | None
    refs: tuple[str, ...]
    needs_backend_sg: bool
    networking_source: str | None


class IngressModelBuilder:
    def __init__(
        self, config: ControllerSettings, sg_resolver: SecurityGroupIdResolver, services: ServiceLookup
    ) -> None:
        self._config = config
        self._sg_resolver = sg_resolver
        self._services = services

    async def build(self, group: IngressGroup, stack_tags: StackTags) -> StackModel | None:
        """The desired stack of ``group``; None when it has no active member (everything is deleted).

        ``stack_tags``: the group's stack identity, as the reconciler built it (the model carries it).
        """
        if not group.members:
            return None
        config = self._config
        members = group.members

        ports, users = merge_listen_ports(members)
        scheme = merge_scheme(members, Scheme(config.default_load_balancer_scheme))
        ip_address_type = merge_ip_address_type(members)
        subnets = merge_subnets(members)
        explicit_name = merge_load_balancer_name(members)
        user_tags = merge_tags(members, config.external_managed_tags)
        spec_tags = merge_spec_tags(
            user_tags, config.default_tags, config.feature_enabled("EnableDefaultTagsLowPriority")
        )

        sg_plan = await self._plan_security_groups(group, ports, ip_address_type, stack_tags, spec_tags)
        if sg_plan.managed_sg is not None:
            check_rules_quota(sg_plan.managed_sg, config.sg_rules_quota, [m.ref for m in members])
        warnings = dropped_ipv6_warnings(ports, ip_address_type) if sg_plan.managed_sg else ()

        load_balancer = LoadBalancerSpec(
            resource_id=LOAD_BALANCER_RESOURCE_ID,
            name=explicit_name or load_balancer_name(config.cluster_name, group.id, scheme.value),
            type=LoadBalancerType.APPLICATION,
            scheme=scheme,
            ip_address_type=ip_address_type,
            subnets=SubnetSelector.for_scheme(
                subnets.names_or_ids, scheme, config.cluster_name, subnets.tag_filters
            ),
            tags=compose_resource_tags(stack_tags, LOAD_BALANCER_RESOURCE_ID, spec_tags),
            attributes=merge_load_balancer_attributes(members),
        )
        tg_settings = TargetGroupSettings(
            cluster_name=config.cluster_name,
            group_id=group.id,
            default_target_type=TargetType(config.default_target_type),
            enable_ip_target_type=config.feature_enabled("EnableIPTargetType"),
            lb_ip_address_type=ip_address_type,
            tags=spec_tags,
            disable_restricted_sg_rules=config.disable_restricted_sg_rules,
            networking_source=sg_plan.networking_source,
        )
        backends = _Backends(self._services, tg_settings, stack_tags)
        ssl_redirect = merge_ssl_redirect(members, ports)
        listeners = tuple(
            self._listener(ports[port], users[port], backends, ssl_redirect) for port in sorted(ports)
        )
        return StackModel(
            stack_tags=stack_tags,
            tags=spec_tags,
            load_balancer=load_balancer,
            listeners=listeners,
            target_groups=tuple(backends.target_groups),
            managed_sg=sg_plan.managed_sg,
            security_group_refs=sg_plan.refs,
            needs_backend_sg=sg_plan.needs_backend_sg,
            target_group_bindings=tuple(backends.bindings),
            warnings=warnings,
        )

    async def _plan_security_groups(
        self,
        group: IngressGroup,
        ports: Mapping[int, ListenPortSpec],
        ip_address_type: IpAddressType,
        stack_tags: StackTags,
        spec_tags: Mapping[str, str],
    ) -> _SecurityGroupPlan:
        config = self._config
        members = group.members
        custom = merge_security_groups(members)
        if not custom:
            # Auto mode (§1.10): [managed] or [managed, backend]; TGB rules come from the backend SG
            # if it is enabled, else from the managed SG itself (§4.2).
            if group.id.is_explicit:
                sg_name = managed_sg_name_for_explicit_group(config.cluster_name, group.id.name)
            else:
                sg_name = managed_sg_name_for_implicit_ingress(
                    config.cluster_name, group.id.namespace, group.id.name
                )
            managed = ManagedSecurityGroupSpec(
                name=sg_name,
                description=MANAGED_SG_DESCRIPTION,
                tags=compose_resource_tags(stack_tags, MANAGED_SG_RESOURCE_ID, spec_tags),
                ingress=alb_ingress_rules(ports, ip_address_type),
            )
            backend = config.enable_backend_security_group
            return _SecurityGroupPlan(
                managed_sg=managed,
                refs=(MANAGED_SG_REF, BACKEND_SG_REF) if backend else (MANAGED_SG_REF,),
                needs_backend_sg=backend,
                networking_source=BACKEND_SG_REF if backend else MANAGED_SG_REF,
            )
        manage, explicit = merge_manage_backend_rules(
            members, config.enable_manage_backend_security_group_rules
        )
        declaring = next(m for m in members if ING_SECURITY_GROUPS in m.annotations)
        if manage and not config.enable_backend_security_group:
            setter = next((m for m in members if ING_MANAGE_BACKEND_SG_RULES in m.annotations), declaring)
            raise InvalidAnnotationError(
                setter.ref,
                ING_MANAGE_BACKEND_SG_RULES,
                setter.annotations.get(ING_MANAGE_BACKEND_SG_RULES, "true") if explicit else "true",
                "backendSG feature is required to manage worker node SG rules when frontendSG manually specified",
            )
        ids = await resolve_custom_sgs(self._sg_resolver, custom, declaring.ref, ING_SECURITY_GROUPS)
        return _SecurityGroupPlan(
            managed_sg=None,
            refs=(*ids, BACKEND_SG_REF) if manage else tuple(ids),
            needs_backend_sg=manage,
            networking_source=BACKEND_SG_REF if manage else None,
        )

    def _listener(
        self,
        config: ListenPortSpec,
        users: Sequence[ClassifiedIngress],
        backends: _Backends,
        ssl_redirect: RedirectAction | None,
    ) -> ListenerSpec:
        if ssl_redirect is not None and config.protocol == HTTP:
            # Upstream: an HTTP listener of an ssl-redirect group only redirects, it has no rules.
            return ListenerSpec(
                port=config.port,
                protocol=config.protocol,
                default_action=ssl_redirect,
                certificate_arns=config.certificate_arns,
            )
        rules: list[Rule] = []
        for member in users:
            ref = member.ref
            for host_rule in (member.ingress.get("spec") or {}).get("rules") or ():
                http = host_rule.get("http")
                if not http:
                    continue
                host = str(host_rule.get("host") or "")
                for path in sort_paths(http.get("paths") or (), ref):
                    backend = parse_backend(path.get("backend"), ref, "spec.rules[].http.paths[].backend")
                    extra = parse_conditions(ref, member.annotations, backend.service_name)
                    key = conditions_key(backend.service_name)
                    source = (key, member.annotations.get(key, ""))
                    conditions = rule_conditions(host, path, ref, extra, source)
                    rules.append(Rule(conditions, backends.action_for(member, backend)))
        optimized = optimize_rules(config.port, config.protocol, rules)
        return ListenerSpec(
            port=config.port,
            protocol=config.protocol,
            default_action=self._default_action(users, backends),
            rules=tuple(
                ListenerRule(priority, rule.conditions, rule.action)
                for priority, rule in enumerate(optimized, start=1)
            ),
            certificate_arns=config.certificate_arns,
            # Every HTTPS listener gets a policy: the members' one, else the controller's default.
            ssl_policy=(config.ssl_policy or self._config.default_ssl_policy)
            if config.protocol == "HTTPS"
            else None,
        )

    def _default_action(self, users: Sequence[ClassifiedIngress], backends: _Backends) -> Action:
        with_default = [m for m in users if (m.ingress.get("spec") or {}).get("defaultBackend")]
        if not with_default:
            return FixedResponseAction(status_code="404", content_type="text/plain")
        if len(with_default) > 1:
            raise ConflictingGroupSettingError(
                "default backend",
                "spec.defaultBackend",
                [(m.ref, str(m.ingress["spec"]["defaultBackend"])) for m in with_default],
            )
        member = with_default[0]
        backend = parse_backend(member.ingress["spec"]["defaultBackend"], member.ref, "spec.defaultBackend")
        return backends.action_for(member, backend)


class _Backends:
    """Target groups and bindings of one build, deduplicated by upstream's resource id."""

    def __init__(self, services: ServiceLookup, settings: TargetGroupSettings, stack_tags: StackTags) -> None:
        self._services = services
        self._settings = settings
        self._stack_tags = stack_tags
        self._by_id: dict[str, TargetGroupSpec] = {}
        self.target_groups: list[TargetGroupSpec] = []
        self.bindings: list[TargetGroupBindingSpec] = []

    def action_for(self, member: ClassifiedIngress, backend: BackendRef) -> Action:
        """A plain backend forwards to its Service's target group; a ``use-annotation`` one takes
        the ``actions.<name>`` annotation, whose Service targets get target groups (and bindings)
        exactly as plain backends do."""
        if backend.port != USE_ANNOTATION:
            return ForwardAction(self.target_group_for(member, backend))
        parsed = parse_action(member.ref, member.annotations, backend.service_name)
        if not isinstance(parsed, ForwardConfig):
            return parsed
        targets: list[TargetGroupTuple] = []
        for target in parsed.targets:
            if target.service is not None:
                service_backend = BackendRef(target.service.service_name, target.service.port)
                targets.append(
                    TargetGroupTuple(self.target_group_for(member, service_backend), weight=target.weight)
                )
            elif target.target_group_arn is not None:
                targets.append(
                    TargetGroupTuple(target_group_arn=target.target_group_arn, weight=target.weight)
                )
            else:
                key = actions_key(backend.service_name)
                raise InvalidAnnotationError(
                    member.ref,
                    key,
                    member.annotations.get(key, ""),
                    f"targetGroupName {target.target_group_name} is not supported, use targetGroupARN",
                )
        return ForwardAction(target_groups=tuple(targets), stickiness=parsed.stickiness)

    def target_group_for(self, member: ClassifiedIngress, backend: BackendRef) -> str:
        namespace = namespace_of(member.ingress)
        service = self._service(member.ref, namespace, backend.service_name)
        target_group, binding = build_target_group(member, backend, service, self._settings)
        if target_group.resource_id not in self._by_id:
            tagged = replace(
                target_group,
                tags=compose_resource_tags(self._stack_tags, target_group.resource_id, target_group.tags),
            )
            self._by_id[target_group.resource_id] = tagged
            self.target_groups.append(tagged)
            self.bindings.append(binding)
        return target_group.resource_id

    def _service(self, ref: ObjectRef, namespace: str, name: str) -> Mapping[str, Any]:
        service = self._services(namespace, name)
        if service is None:
            raise InvalidObjectError(ref, "backend service", f"{namespace}/{name}", "Service not found")
        return service
