"""Translate endpoint rules to the SG engine's single-source ``Rule`` (and back), with our label."""

from __future__ import annotations

from collections.abc import Iterable

from controller.endpointsg.model import EndpointRule, PortRange, Source, SourceKind
from controller.naming import TGB_RULE_DESCRIPTION
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    RuleSource,
    SecurityGroupSource,
)


def _rule_source(source: Source) -> RuleSource:
    match source.kind:
        case SourceKind.SECURITY_GROUP:
            return SecurityGroupSource(source.value)
        case SourceKind.IPV4_CIDR:
            return Ipv4CidrSource(source.value)
        case SourceKind.IPV6_CIDR:
            return Ipv6CidrSource(source.value)
        case SourceKind.PREFIX_LIST:
            return PrefixListSource(source.value)


def to_labelled_rule(rule: EndpointRule) -> Rule:
    """The AWS rule we add for ``rule``: description ``elbv2.k8s.aws/targetGroupBinding=shared``."""
    return Rule.of(
        rule.protocol,
        rule.ports.from_port,
        rule.ports.to_port,
        _rule_source(rule.source),
        TGB_RULE_DESCRIPTION,
    )


def to_labelled_rules(rules: Iterable[EndpointRule]) -> list[Rule]:
    return sorted((to_labelled_rule(r) for r in rules), key=Rule.sort_key)


def from_rule(rule: Rule) -> EndpointRule | None:
    """The endpoint rule an AWS rule stands for; None for rules we never create (``-1``, icmp...)."""
    if rule.protocol not in ("tcp", "udp") or rule.from_port is None or rule.to_port is None:
        return None
    match rule.source:
        case SecurityGroupSource(group_id=gid):
            source = Source(SourceKind.SECURITY_GROUP, gid)
        case Ipv4CidrSource(cidr=cidr):
            source = Source(SourceKind.IPV4_CIDR, cidr)
        case Ipv6CidrSource(cidr=cidr):
            source = Source(SourceKind.IPV6_CIDR, cidr)
        case PrefixListSource(prefix_list_id=pl):
            source = Source(SourceKind.PREFIX_LIST, pl)
    return EndpointRule(rule.protocol, PortRange(rule.from_port, rule.to_port), source)
