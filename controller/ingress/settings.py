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
    return {
        port: MemberPortSpec(
            protocol=protocol,
            cidrs=cidrs,
            prefix_lists=prefix_lists,
            certificate_arns=certificates if protocol == "HTTPS" else (),
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
        assert protocol is not None  # every listed port has at least one declaring member
        merged[port] = ListenPortSpec(port, protocol, ipv4, ipv6, prefixes, certificates, explicit_ipv6)
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


def merge_subnets(members: Sequence[ClassifiedIngress]) -> tuple[str, ...]:
    """Explicit subnets (ids or Name tags, as given); members must agree ignoring order."""
    found = [
        (m.ref, parse_string_list(m.annotations[ING_SUBNETS]))
        for m in members
        if ING_SUBNETS in m.annotations
    ]
    value = _single("subnets", ING_SUBNETS, found, lambda a, b: sorted(a) == sorted(b), ", ".join)
    return value or ()


def merge_load_balancer_name(members: Sequence[ClassifiedIngress]) -> str | None:
    found: list[tuple[ObjectRef, str]] = []
    for member in members:
        raw = member.annotations.get(ING_LOAD_BALANCER_NAME)
        if raw is None:
            continue
        if len(raw) > LOAD_BALANCER_NAME_MAX_LENGTH:
            raise InvalidAnnotationError(
                member.ref,
                ING_LOAD_BALANCER_NAME,
                raw,
                "load balancer name cannot be longer than 32 characters",
            )
        found.append((member.ref, raw))
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
    for item in member.params_spec.get("tags") or ():
        if isinstance(item, Mapping):
            tags[str(item.get("key") or "")] = str(item.get("value") or "")
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
