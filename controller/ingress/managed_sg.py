"""Inbound rules of an ALB's managed SG (upstream-behaviour §1.5) and the ipv4-ALB IPv6 warning (design.md Difference 8)."""

from __future__ import annotations

from collections.abc import Mapping

from controller.annotations import ING_INBOUND_CIDRS
from controller.ingress.settings import ListenPortSpec
from controller.model.load_balancer import IpAddressType
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule


def alb_ingress_rules(
    ports: Mapping[int, ListenPortSpec], ip_address_type: IpAddressType
) -> tuple[Rule, ...]:
    """Per listen port (ascending): tcp P-P from each IPv4 CIDR, each IPv6 CIDR (dualstack only),
    each prefix list. Rules carry no description."""
    rules: list[Rule] = []
    for port in sorted(ports):
        config = ports[port]
        rules.extend(Rule.of("tcp", port, port, Ipv4CidrSource(cidr)) for cidr in config.ipv4_cidrs)
        if ip_address_type.is_dualstack:
            rules.extend(Rule.of("tcp", port, port, Ipv6CidrSource(cidr)) for cidr in config.ipv6_cidrs)
        rules.extend(Rule.of("tcp", port, port, PrefixListSource(pl)) for pl in config.prefix_lists)
    return tuple(rules)


def dropped_ipv6_warnings(
    ports: Mapping[int, ListenPortSpec], ip_address_type: IpAddressType
) -> tuple[str, ...]:
    """Upstream silently drops user IPv6 inbound CIDRs on an ipv4 ALB; we still drop them but say so."""
    if ip_address_type.is_dualstack:
        return ()
    return tuple(
        f"{ING_INBOUND_CIDRS}: IPv6 CIDRs {', '.join(ports[port].explicit_ipv6_cidrs)} on listen port {port} "
        f"are ignored because the load balancer ip-address-type is ipv4"
        for port in sorted(ports)
        if ports[port].explicit_ipv6_cidrs
    )
