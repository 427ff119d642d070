"""TargetGroupBinding specs, including the ``spec.networking`` section of upstream-behaviour §4.2.

Networking peers may reference values only the deploy step knows (the managed/backend SG ids, the
LB subnets' CIDRs, the VPC CIDRs); those are placeholders here and are substituted by
``NetworkingSpec.to_k8s`` with a ``PeerValues``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controller.model.security_group import BACKEND_SG_REF, MANAGED_SG_REF
from controller.model.target_group import HEALTH_CHECK_TRAFFIC_PORT


class PeerKind(StrEnum):
    SECURITY_GROUP = "securityGroup"
    """``value`` is an SG id or ``MANAGED_SG_REF``/``BACKEND_SG_REF``."""
    IP_BLOCK = "ipBlock"
    """``value`` is one CIDR."""
    LB_SUBNET_CIDRS_IPV4 = "lbSubnetCidrsIpv4"
    LB_SUBNET_CIDRS_IPV6 = "lbSubnetCidrsIpv6"
    VPC_CIDRS_IPV4 = "vpcCidrsIpv4"
    VPC_CIDRS_IPV6 = "vpcCidrsIpv6"
    """The four above expand to one ``ipBlock`` per CIDR when the deploy step renders the TGB."""


@dataclass(frozen=True)
class NetworkingPeer:
    kind: PeerKind
    value: str = ""

    @classmethod
    def security_group(cls, group_id_or_ref: str) -> NetworkingPeer:
        return cls(PeerKind.SECURITY_GROUP, group_id_or_ref)

    @classmethod
    def ip_block(cls, cidr: str) -> NetworkingPeer:
        return cls(PeerKind.IP_BLOCK, cidr)


@dataclass(frozen=True)
class NetworkingPort:
    protocol: str
    """``TCP`` or ``UDP``."""
    port: int | str | None
    """A number, a named (container) port for ip targets, or None for all ports."""


@dataclass(frozen=True)
class NetworkingIngressRule:
    peers: tuple[NetworkingPeer, ...]
    ports: tuple[NetworkingPort, ...]


@dataclass(frozen=True)
class PeerValues:
    """What the placeholders stand for, supplied by the deploy step."""

    managed_sg_id: str | None = None
    backend_sg_id: str | None = None
    lb_subnet_cidrs_ipv4: tuple[str, ...] = ()
    lb_subnet_cidrs_ipv6: tuple[str, ...] = ()
    vpc_cidrs_ipv4: tuple[str, ...] = ()
    vpc_cidrs_ipv6: tuple[str, ...] = ()


def _render_peer(peer: NetworkingPeer, values: PeerValues) -> list[dict[str, Any]]:
    match peer.kind:
        case PeerKind.SECURITY_GROUP:
            group_id = peer.value
            if group_id == MANAGED_SG_REF:
                if values.managed_sg_id is None:
                    raise ValueError("networking references the managed SG but its id was not given")
                group_id = values.managed_sg_id
            elif group_id == BACKEND_SG_REF:
                if values.backend_sg_id is None:
                    raise ValueError("networking references the backend SG but its id was not given")
                group_id = values.backend_sg_id
            return [{"securityGroup": {"groupID": group_id}}]
        case PeerKind.IP_BLOCK:
            return [{"ipBlock": {"cidr": peer.value}}]
        case PeerKind.LB_SUBNET_CIDRS_IPV4:
            cidrs = values.lb_subnet_cidrs_ipv4
        case PeerKind.LB_SUBNET_CIDRS_IPV6:
            cidrs = values.lb_subnet_cidrs_ipv6
        case PeerKind.VPC_CIDRS_IPV4:
            cidrs = values.vpc_cidrs_ipv4
        case PeerKind.VPC_CIDRS_IPV6:
            cidrs = values.vpc_cidrs_ipv6
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def _render_port(port: NetworkingPort) -> dict[str, Any]:
    rendered: dict[str, Any] = {"protocol": port.protocol}
    if port.port is not None:
        rendered["port"] = port.port
    return rendered


@dataclass(frozen=True)
class NetworkingSpec:
    ingress: tuple[NetworkingIngressRule, ...]

    @property
    def security_group_refs(self) -> frozenset[str]:
        """SG ids / placeholders used as sources (e.g. to know whether the backend SG is needed)."""
        return frozenset(
            peer.value for rule in self.ingress for peer in rule.peers if peer.kind is PeerKind.SECURITY_GROUP
        )

    def to_k8s(self, values: PeerValues) -> dict[str, Any]:
        """``spec.networking`` of the TargetGroupBinding CRD (upstream-behaviour §8); rules left without
        peers (e.g. no subnet CIDRs known) are dropped, since the CRD requires at least one."""
        rules: list[dict[str, Any]] = []
        for rule in self.ingress:
            peers = [rendered for peer in rule.peers for rendered in _render_peer(peer, values)]
            if peers:
                rules.append({"from": peers, "ports": [_render_port(p) for p in rule.ports]})
        return {"ingress": rules}


@dataclass(frozen=True)
class TargetGroupBindingSpec:
    """The TGB the deploy step creates for one target group (named like the target group)."""

    name: str
    namespace: str
    target_group_id: str
    """``TargetGroupSpec.resource_id`` of the bound target group; its ARN is known after deploy."""
    target_type: str
    service_name: str
    service_port: int | str
    ip_address_type: str
    networking: NetworkingSpec | None
    """None: the controller manages no rules on endpoint SGs for this TGB (custom SGs, §2.3)."""

    def to_k8s_spec(self, target_group_arn: str, values: PeerValues) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "targetGroupARN": target_group_arn,
            "targetType": self.target_type,
            "serviceRef": {"name": self.service_name, "port": self.service_port},
            "ipAddressType": self.ip_address_type,
        }
        if self.networking is not None:
            spec["networking"] = self.networking.to_k8s(values)
        return spec


# Listener/target-group protocols carrying UDP, and those carrying TCP as well.
UDP_FAMILY = frozenset({"UDP", "TCP_UDP", "QUIC", "TCP_QUIC"})
BOTH_FAMILY = frozenset({"TCP_UDP", "TCP_QUIC"})


def sg_networking(
    source: str, protocol: str, traffic: int | str, health_check_port: str, restricted: bool
) -> NetworkingSpec:
    """Rules sourced from one SG (backend or managed placeholder, or an id)."""
    peers = (NetworkingPeer.security_group(source),)
    ports: list[NetworkingPort] = []
    if not restricted:
        ports.append(NetworkingPort("TCP", None))
        if protocol in UDP_FAMILY:
            ports.append(NetworkingPort("UDP", None))
    else:
        hc_numeric = None if health_check_port == HEALTH_CHECK_TRAFFIC_PORT else int(health_check_port)
        if protocol in UDP_FAMILY:
            ports.append(NetworkingPort("UDP", traffic))
            if protocol in BOTH_FAMILY or hc_numeric is None or hc_numeric == traffic:
                ports.append(NetworkingPort("TCP", traffic))
        else:
            ports.append(NetworkingPort("TCP", traffic))
        if hc_numeric is not None and hc_numeric != traffic:
            ports.append(NetworkingPort("TCP", hc_numeric))
    return NetworkingSpec(tuple(NetworkingIngressRule(peers, (port,)) for port in ports))
