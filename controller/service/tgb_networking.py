"""``spec.networking`` of NLB TargetGroupBindings (upstream-behaviour §4.2), with and without NLB security groups."""

from __future__ import annotations

from dataclasses import dataclass

from controller.model.target_group import HEALTH_CHECK_TRAFFIC_PORT
from controller.model.target_group_binding import (
    BOTH_FAMILY,
    UDP_FAMILY,
    NetworkingIngressRule,
    NetworkingPeer,
    NetworkingPort,
    NetworkingSpec,
    PeerKind,
)


@dataclass(frozen=True)
class LegacyInputs:
    """What the CIDR-based rules of an NLB without SGs depend on."""

    protocol: str
    traffic: int | str
    health_check_port: str
    ipv6_targets: bool
    preserve_client_ip: bool
    internal: bool
    source_ipv4: tuple[str, ...]
    source_ipv6: tuple[str, ...]


def legacy_networking(inputs: LegacyInputs) -> NetworkingSpec:
    """NLB without SGs: traffic from the LB subnets' CIDRs, or from the clients when their IP is preserved."""
    subnet_peer = NetworkingPeer(
        PeerKind.LB_SUBNET_CIDRS_IPV6 if inputs.ipv6_targets else PeerKind.LB_SUBNET_CIDRS_IPV4
    )
    preserved = inputs.protocol in UDP_FAMILY or inputs.preserve_client_ip
    default_ranges = False
    if preserved:
        cidrs = inputs.source_ipv6 if inputs.ipv6_targets else inputs.source_ipv4
        if cidrs:
            traffic_peers: tuple[NetworkingPeer, ...] = tuple(NetworkingPeer.ip_block(c) for c in cidrs)
        else:
            default_ranges = True
            if inputs.internal:
                traffic_peers = (
                    NetworkingPeer(
                        PeerKind.VPC_CIDRS_IPV6 if inputs.ipv6_targets else PeerKind.VPC_CIDRS_IPV4
                    ),
                )
            else:
                traffic_peers = (NetworkingPeer.ip_block("::/0" if inputs.ipv6_targets else "0.0.0.0/0"),)
    else:
        traffic_peers = (subnet_peer,)
    if inputs.protocol in BOTH_FAMILY:
        traffic_ports: tuple[NetworkingPort, ...] = (
            NetworkingPort("TCP", inputs.traffic),
            NetworkingPort("UDP", inputs.traffic),
        )
    elif inputs.protocol in UDP_FAMILY:
        traffic_ports = (NetworkingPort("UDP", inputs.traffic),)
    else:
        traffic_ports = (NetworkingPort("TCP", inputs.traffic),)
    rules = [NetworkingIngressRule(traffic_peers, traffic_ports)]

    hc_port: int | str = (
        inputs.traffic
        if inputs.health_check_port == HEALTH_CHECK_TRAFFIC_PORT
        else int(inputs.health_check_port)
    )
    open_to_all = any(p.value in ("0.0.0.0/0", "::/0") for p in traffic_peers)
    hc_covered = (
        inputs.protocol != "UDP"
        and hc_port == inputs.traffic
        and (not preserved or default_ranges or open_to_all)
    )
    if not hc_covered:
        rules.append(NetworkingIngressRule((subnet_peer,), (NetworkingPort("TCP", hc_port),)))
    return NetworkingSpec(tuple(rules))
