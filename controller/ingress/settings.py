"""Group-wide settings of an Ingress group, merged from its members' annotations and IngressClassParams.

Merge rules follow upstream: a member that does not set a value does not take part; members that
set it must agree (``ConflictingGroupSettingError``); IngressClassParams fields win over the
member's own annotations. Listen ports are merged per port (upstream-behaviour §1.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_INBOUND_CIDRS,
    ING_IP_ADDRESS_TYPE,
    ING_LISTEN_PORTS,
    ING_LOAD_BALANCER_ATTRIBUTES,
    ING_LOAD_BALANCER_NAME,
    ING_MANAGE_BACKEND_SG_RULES,
    ING_PREFIX_LISTS,
    ING_SCHEME,
    ING_SECURITY_GROUPS,
    ING_SSL_POLICY,
    ING_SUBNETS,
    ING_TAGS,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    ObjectRef,
    ParsedCidrs,
    parse_bool,
    parse_cidrs,
    parse_listen_ports,
    parse_string_list,
)
from controller.aws.tag_rules import tag_problem
from controller.ingress.class_matcher import ClassifiedIngress
from controller.model.attributes import parse_attributes
from controller.model.load_balancer import IpAddressType, Scheme
from controller.model.tags import parse_tag_annotation

T = TypeVar("T")

LOAD_BALANCER_NAME_MAX_LENGTH = 32


@dataclass(frozen=True)
class MemberPortSpec:
    """One member's view of one listen port."""

    protocol: str
    cidrs: ParsedCidrs
    prefix_lists: tuple[str, ...]
    certificate_arns: tuple[str, ...]
    ssl_policy: tuple[ObjectRef, str, str] | None = None
    """HTTPS ports only: (where it was set, its key, the policy), when the member names one."""


@dataclass(frozen=True)
class ListenPortSpec:
    """The merged configuration of one listen port of the group's ALB."""

    port: int
    protocol: str
    ipv4_cidrs: tuple[str, ...]
    ipv6_cidrs: tuple[str, ...]
    prefix_lists: tuple[str, ...]
    certificate_arns: tuple[str, ...]
    explicit_ipv6_cidrs: tuple[str, ...] = ()
    """IPv6 CIDRs the user asked for (not the ``::/0`` default); used for the ipv4-ALB warning."""
    ssl_policy: str | None = None
    """The policy the members name for this HTTPS port; None: the controller's default applies."""


def _single(
    setting: str,
    key: str,
    found: Sequence[tuple[ObjectRef, T]],
    same: Callable[[T, T], bool],
    show: Callable[[T], str],
) -> T | None:
    if not found:
        return None
    first_ref, first = found[0]
    for ref, value in found[1:]:
        if not same(first, value):
            raise ConflictingGroupSettingError(setting, key, [(first_ref, show(first)), (ref, show(value))])
    return first


# --------------------------------------------------------------------------------------------------
# Listen ports, inbound CIDRs, prefix lists
# --------------------------------------------------------------------------------------------------


def _member_cidrs(member: ClassifiedIngress) -> ParsedCidrs:
    params_cidrs = [str(c) for c in member.params_spec.get("inboundCIDRs") or ()]
    if params_cidrs:
        return parse_cidrs(member.params_ref, "spec.inboundCIDRs", params_cidrs)
    raw = member.annotations.get(ING_INBOUND_CIDRS)
    if raw is None:
        return ParsedCidrs()
    return parse_cidrs(member.ref, ING_INBOUND_CIDRS, parse_string_list(raw), raw)


def _member_prefix_lists(member: ClassifiedIngress) -> tuple[str, ...]:
    spec = member.params_spec
    from_params = spec.get("prefixListsIDs") or spec.get("PrefixListsIDs") or ()
    if from_params:
        return tuple(str(p) for p in from_params)
    return parse_string_list(member.annotations.get(ING_PREFIX_LISTS, ""))


def member_certificate_arns(member: ClassifiedIngress) -> tuple[str, ...]:
    from_params = member.params_spec.get("certificateArn") or ()
    if from_params:
        return tuple(str(arn) for arn in from_params)
    return parse_string_list(member.annotations.get(ING_CERTIFICATE_ARN, ""))


def member_listen_ports(member: ClassifiedIngress) -> dict[int, MemberPortSpec]:
    """Listen ports of one member; default ``{443: HTTPS}`` with a certificate, else ``{80: HTTP}``."""
    certificates = member_certificate_arns(member)
    raw = member.annotations.get(ING_LISTEN_PORTS)
    if raw is None:
        ports = {443: "HTTPS"} if certificates else {80: "HTTP"}
    else:
        ports = parse_listen_ports(member.ref, ING_LISTEN_PORTS, raw)
    cidrs = _member_cidrs(member)
    prefix_lists = _member_prefix_lists(member)
    ssl_policy = _param_or_annotation(member, "sslPolicy", ING_SSL_POLICY)
    return {
        port: MemberPortSpec(
            protocol=protocol,
            cidrs=cidrs,
            prefix_lists=prefix_lists,
            certificate_arns=certificates if protocol == "HTTPS" else (),
            ssl_policy=ssl_policy if protocol == "HTTPS" else None,
        )
        for port, protocol in ports.items()
    }


def merge_listen_ports(
    members: Sequence[ClassifiedIngress],
) -> tuple[dict[int, ListenPortSpec], dict[int, list[ClassifiedIngress]]]:
    """Per-port merged config, and which members listen on each port (in member order)."""
    per_member = [(member, member_listen_ports(member)) for member in members]
    ports = sorted({port for _, config in per_member for port in config})
    merged: dict[int, ListenPortSpec] = {}
    users: dict[int, list[ClassifiedIngress]] = {}
    for port in ports:
        declared = [(member, config[port]) for member, config in per_member if port in config]
        users[port] = [member for member, _ in declared]
        protocol = _single(
            f"listen-ports protocol for port {port}",
            ING_LISTEN_PORTS,
            [(m.ref, c.protocol) for m, c in declared],
            lambda a, b: a == b,
            str,
        )
        cidr_sets = _single(
            f"inbound-cidrs for port {port}",
            ING_INBOUND_CIDRS,
            [
                (m.ref, (frozenset(c.cidrs.ipv4), frozenset(c.cidrs.ipv6)))
                for m, c in declared
                if not c.cidrs.empty
            ],
            lambda a, b: a == b,
            lambda v: ", ".join(sorted(v[0]) + sorted(v[1])),
        )
        prefix_lists = _single(
            f"inbound-prefix-lists for port {port}",
            ING_PREFIX_LISTS,
            [(m.ref, frozenset(c.prefix_lists)) for m, c in declared if c.prefix_lists],
            lambda a, b: a == b,
            lambda v: ", ".join(sorted(v)),
        )
        ipv4 = tuple(sorted(cidr_sets[0])) if cidr_sets else ()
        ipv6 = tuple(sorted(cidr_sets[1])) if cidr_sets else ()
        prefixes = tuple(sorted(prefix_lists)) if prefix_lists else ()
        explicit_ipv6 = ipv6
        if not ipv4 and not ipv6 and not prefixes:
            ipv4, ipv6 = ("0.0.0.0/0",), ("::/0",)
        certificates = tuple(dict.fromkeys(arn for _, c in declared for arn in c.certificate_arns))
        # Upstream names the setting "sslPolicy" whether the annotation or IngressClassParams set it.
        ssl_policy = _single(
            "sslPolicy",
            ING_SSL_POLICY,
            [(c.ssl_policy[0], c.ssl_policy[2]) for _, c in declared if c.ssl_policy is not None],
            lambda a, b: a == b,
            str,
        )
        assert protocol is not None  # every listed port has at least one declaring member
        merged[port] = ListenPortSpec(
            port, protocol, ipv4, ipv6, prefixes, certificates, explicit_ipv6, ssl_policy
        )
    return merged, users


# --------------------------------------------------------------------------------------------------
# Load balancer settings
# --------------------------------------------------------------------------------------------------


def _param_or_annotation(
    member: ClassifiedIngress, param: str, key: str
) -> tuple[ObjectRef, str, str] | None:
    value = member.params_spec.get(param)
    if value:
        return member.params_ref, f"spec.{param}", str(value)
    raw = member.annotations.get(key)
    if raw is None:
        return None
    return member.ref, key, raw


def merge_scheme(members: Sequence[ClassifiedIngress], default: Scheme) -> Scheme:
    value = _merge_enum(
        members,
        Scheme,
        param="scheme",
        annotation=ING_SCHEME,
        setting="scheme",
        reason="unknown scheme, must be internal or internet-facing",
    )
    return default if value is None else value


def merge_ip_address_type(members: Sequence[ClassifiedIngress]) -> IpAddressType:
    value = _merge_enum(
        members,
        IpAddressType,
        param="ipAddressType",
        annotation=ING_IP_ADDRESS_TYPE,
        setting="ip-address-type",
        reason="unknown IPAddressType, must be ipv4, dualstack or dualstack-without-public-ipv4",
    )
    return IpAddressType.IPV4 if value is None else value


E = TypeVar("E", bound=Enum)


def _merge_enum(
    members: Sequence[ClassifiedIngress],
    enum_type: type[E],
    *,
    param: str,
    annotation: str,
    setting: str,
    reason: str,
) -> E | None:
    """The one value the members that set it agree on (IngressClassParams ``param`` wins over the
    annotation); None when no member sets it. An unknown value names the object, key and value."""
    found: list[tuple[ObjectRef, E]] = []
    for member in members:
        source = _param_or_annotation(member, param, annotation)
        if source is None:
            continue
        ref, key, raw = source
        try:
            found.append((ref, enum_type(raw)))
        except ValueError:
            raise InvalidAnnotationError(ref, key, raw, reason) from None
    return _single(setting, annotation, found, lambda a, b: a == b, str)


@dataclass(frozen=True)
class ExplicitSubnets:
    """The subnets a group asks for: ``names_or_ids`` (the annotation, or params ``subnets.ids``),
    or ``tag_filters`` (params ``subnets.tags``: every key present with one of its values; an empty
    filter set selects every subnet of the VPC, as upstream's unfiltered DescribeSubnets). Neither:
    discovery by the scheme's role tag."""

    names_or_ids: tuple[str, ...] = ()
    tag_filters: tuple[tuple[str, tuple[str, ...]], ...] | None = None


def _params_subnets(member: ClassifiedIngress) -> ExplicitSubnets | None:
    raw = member.params_spec.get("subnets")
    if raw is None:
        return None
    ids = tuple(str(i) for i in raw.get("ids") or ())
    if ids:  # upstream uses the ids when both are given
        return ExplicitSubnets(names_or_ids=ids)
    tags = raw.get("tags") or {}
    return ExplicitSubnets(
        tag_filters=tuple(
            sorted((str(key), tuple(str(v) for v in values or ())) for key, values in tags.items())
        )
    )


def _show_subnets(value: ExplicitSubnets) -> str:
    if value.tag_filters is None:
        return "ids [" + ", ".join(value.names_or_ids) + "]"
    return "tags {" + ", ".join(f"{k}: [{', '.join(v)}]" for k, v in value.tag_filters) + "}"


def merge_subnets(members: Sequence[ClassifiedIngress]) -> ExplicitSubnets:
    """Upstream ``buildLoadBalancerSubnetMappings``: a member's IngressClassParams ``spec.subnets``
    wins over its ``subnets`` annotation; members using params must agree exactly ("conflicting
    IngressClassParams subnet specifications"), members using the annotation must agree ignoring
    order; one member on params and another on the annotation is an error ("conflicting subnet
    specifications: IngressClassParams versus annotation")."""
    from_params: list[tuple[ObjectRef, ExplicitSubnets]] = []
    from_annotations: list[tuple[ObjectRef, tuple[str, ...]]] = []
    for member in members:
        params = _params_subnets(member)
        if params is not None:
            from_params.append((member.params_ref, params))
        elif ING_SUBNETS in member.annotations:
            from_annotations.append((member.ref, parse_string_list(member.annotations[ING_SUBNETS])))
    if from_params and from_annotations:
        raise ConflictingGroupSettingError(
            "subnet specifications: IngressClassParams versus annotation",
            ING_SUBNETS,
            [
                (from_params[0][0], _show_subnets(from_params[0][1])),
                (from_annotations[0][0], ", ".join(from_annotations[0][1])),
            ],
        )
    chosen = _single(
        "IngressClassParams subnet specifications",
        "spec.subnets",
        from_params,
        lambda a, b: a == b,
        _show_subnets,
    )
    if chosen is not None:
        return chosen
    names = _single("subnets", ING_SUBNETS, from_annotations, lambda a, b: sorted(a) == sorted(b), ", ".join)
    return ExplicitSubnets(names_or_ids=names or ())


def merge_load_balancer_name(members: Sequence[ClassifiedIngress]) -> str | None:
    """The explicit name: IngressClassParams ``spec.loadBalancerName`` wins over the
    ``load-balancer-name`` annotation, per member; members that set one must agree; at most 32
    characters (upstream's message)."""
    found: list[tuple[ObjectRef, str]] = []
    for member in members:
        source = _param_or_annotation(member, "loadBalancerName", ING_LOAD_BALANCER_NAME)
        if source is None:
            continue
        ref, key, raw = source
        if len(raw) > LOAD_BALANCER_NAME_MAX_LENGTH:
            raise InvalidAnnotationError(
                ref, key, raw, "load balancer name cannot be longer than 32 characters"
            )
        found.append((ref, raw))
    return _single("load balancer name", ING_LOAD_BALANCER_NAME, found, lambda a, b: a == b, str)


def merge_security_groups(members: Sequence[ClassifiedIngress]) -> tuple[str, ...]:
    """Custom frontend SGs; order-sensitive equality across members ("conflicting securityGroups")."""
    found = [
        (m.ref, parse_string_list(m.annotations[ING_SECURITY_GROUPS]))
        for m in members
        if ING_SECURITY_GROUPS in m.annotations
    ]
    value = _single(
        "securityGroups", ING_SECURITY_GROUPS, found, lambda a, b: a == b, lambda v: "[" + ", ".join(v) + "]"
    )
    return value or ()


def merge_manage_backend_rules(members: Sequence[ClassifiedIngress], default: bool) -> tuple[bool, bool]:
    """(effective value, whether any member set the annotation)."""
    found = [
        (m.ref, parse_bool(m.ref, ING_MANAGE_BACKEND_SG_RULES, m.annotations[ING_MANAGE_BACKEND_SG_RULES]))
        for m in members
        if ING_MANAGE_BACKEND_SG_RULES in m.annotations
    ]
    value = _single(
        "manage backend security group rules settings",
        ING_MANAGE_BACKEND_SG_RULES,
        found,
        lambda a, b: a == b,
        lambda v: str(v).lower(),
    )
    return (default, False) if value is None else (value, True)


def member_tags(member: ClassifiedIngress, external_managed_tags: Sequence[str]) -> dict[str, str]:
    """IngressClassParams ``spec.tags`` (higher priority) merged with the ``tags`` annotation."""
    raw = member.annotations.get(ING_TAGS)
    tags = parse_tag_annotation(member.ref, ING_TAGS, raw) if raw is not None else {}
    for key in tags:
        if key in external_managed_tags:
            raise InvalidAnnotationError(
                member.ref, ING_TAGS, raw or "", f"external managed tag key {key} cannot be specified"
            )
    params_tags = {
        str(item.get("key") or ""): str(item.get("value") or "")
        for item in member.params_spec.get("tags") or ()
        if isinstance(item, Mapping)
    }
    for key, value in params_tags.items():
        # Upstream: "failed build tags for IngressClassParams <name>: external managed tag key ...".
        problem = (
            f"external managed tag key {key} cannot be specified"
            if key in external_managed_tags
            else tag_problem(key, value)
        )
        if problem is not None:
            raise InvalidAnnotationError(member.params_ref, "spec.tags", f"{key}={value}", problem)
    tags.update(params_tags)
    return tags


def merge_tags(members: Sequence[ClassifiedIngress], external_managed_tags: Sequence[str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, ObjectRef] = {}
    for member in members:
        for key, value in member_tags(member, external_managed_tags).items():
            if key in merged and merged[key] != value:
                raise ConflictingGroupSettingError(
                    f"tag {key}", ING_TAGS, [(owner[key], merged[key]), (member.ref, value)]
                )
            merged.setdefault(key, value)
            owner.setdefault(key, member.ref)
    return merged


def class_load_balancer_attributes(member: ClassifiedIngress) -> dict[str, str]:
    """IngressClassParams ``spec.loadBalancerAttributes`` (a list of ``{key, value}``)."""
    return {
        str(item.get("key") or ""): str(item.get("value") or "")
        for item in member.params_spec.get("loadBalancerAttributes") or ()
        if isinstance(item, Mapping)
    }


def merge_load_balancer_attributes(members: Sequence[ClassifiedIngress]) -> dict[str, str]:
    """Upstream's group attributes: each member's ``load-balancer-attributes``; members naming one
    key must agree unless the class's IngressClassParams sets that key, whose value wins anyway."""
    from_class = class_load_balancer_attributes(members[0]) if members else {}
    merged: dict[str, str] = {}
    owner: dict[str, ObjectRef] = {}
    for member in members:
        raw = member.annotations.get(ING_LOAD_BALANCER_ATTRIBUTES)
        for key, value in parse_attributes(member.ref, ING_LOAD_BALANCER_ATTRIBUTES, raw).items():
            if key in merged and merged[key] != value and key not in from_class:
                raise ConflictingGroupSettingError(
                    f"load balancer attributes {key}",
                    ING_LOAD_BALANCER_ATTRIBUTES,
                    [(owner[key], merged[key]), (member.ref, value)],
                )
            merged[key] = value
            owner.setdefault(key, member.ref)
    return {**merged, **from_class}
