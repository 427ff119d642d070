"""TGB ``spec.networking`` → contributions (upstream-behaviour §4.4, design.md Difference 7)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from controller.endpointsg.contributions import (
    NetworkingSpecError,
    contributions_for_node_targets,
    contributions_for_pod_targets,
    parse_peer,
    pods_missing_named_ports,
)
from controller.endpointsg.model import ALL_PORTS, EndpointRule, PortRange, Source, SourceKind

BACKEND = Source.security_group("sg-b")


def networking(*ports: dict[str, Any], peers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "ingress": [
            {
                "from": peers if peers is not None else [{"securityGroup": {"groupID": "sg-b"}}],
                "ports": list(ports),
            }
        ]
    }


def pod(name: str, **ports: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"ports": [{"name": n, "containerPort": p} for n, p in ports.items()]}]},
    }


def test_instance_tgb_applies_the_same_rules_to_every_node_sg() -> None:
    # Scenario 36.
    spec = networking({"protocol": "TCP", "port": 31223})
    rule = EndpointRule("tcp", PortRange.single(31223), BACKEND)
    assert contributions_for_node_targets(spec, ["sg-n2", "sg-n1", "sg-n1"]) == {
        "sg-n1": frozenset({rule}),
        "sg-n2": frozenset({rule}),
    }


def test_unset_port_and_protocol_mean_all_tcp_ports() -> None:
    spec = networking({})
    assert contributions_for_node_targets(spec, ["sg-n"]) == {
        "sg-n": {EndpointRule("tcp", ALL_PORTS, BACKEND)}
    }


def test_empty_ports_list_means_all_tcp_ports_deliberate_difference_7() -> None:
    # Scenario 49: upstream produces nothing here (bug #4907); we follow the documentation.
    spec = networking()
    assert contributions_for_node_targets(spec, ["sg-n"]) == {
        "sg-n": {EndpointRule("tcp", ALL_PORTS, BACKEND)}
    }


def test_udp_and_cidr_peers() -> None:
    spec = networking(
        {"protocol": "UDP", "port": 53},
        peers=[{"ipBlock": {"cidr": "10.1.2.3/8"}}, {"ipBlock": {"cidr": "2001:db8::/32"}}],
    )
    assert contributions_for_node_targets(spec, ["sg-n"])["sg-n"] == {
        EndpointRule("udp", PortRange.single(53), Source(SourceKind.IPV4_CIDR, "10.0.0.0/8")),
        EndpointRule("udp", PortRange.single(53), Source(SourceKind.IPV6_CIDR, "2001:db8::/32")),
    }


def test_named_port_resolves_per_pod_to_every_distinct_number() -> None:
    # Scenario 50.
    spec = networking({"protocol": "TCP", "port": "http"})
    pods = {"sg-p": [pod("a", http=8080), pod("b", http=9090), pod("c", metrics=9100)]}
    assert contributions_for_pod_targets(spec, pods) == {
        "sg-p": {
            EndpointRule("tcp", PortRange.single(8080), BACKEND),
            EndpointRule("tcp", PortRange.single(9090), BACKEND),
        }
    }


def test_named_port_with_node_targets_is_an_error() -> None:
    with pytest.raises(NetworkingSpecError, match="named port http"):
        contributions_for_node_targets(networking({"port": "http"}), ["sg-n"])


def test_peer_without_source_is_an_upstream_error() -> None:
    with pytest.raises(NetworkingSpecError, match=r"^either ipBlock or securityGroup should be specified$"):
        parse_peer({})


def test_invalid_cidr_is_an_error() -> None:
    with pytest.raises(NetworkingSpecError, match=re.escape("invalid CIDR address: 10.0.0.0/33")):
        parse_peer({"ipBlock": {"cidr": "10.0.0.0/33"}})


def test_unknown_protocol_is_an_error() -> None:
    with pytest.raises(NetworkingSpecError, match="SCTP"):
        contributions_for_node_targets(networking({"protocol": "SCTP", "port": 1}), ["sg-n"])


def test_no_networking_contributes_nothing() -> None:
    assert contributions_for_node_targets(None, ["sg-n"]) == {}
    assert contributions_for_pod_targets(None, {"sg-p": [pod("a")]}) == {}


def test_pods_missing_named_ports_are_listed_per_port() -> None:
    def pod(name: str, *ports: tuple[str, int]) -> dict[str, Any]:
        declared = [{"name": n, "containerPort": p} for n, p in ports]
        return {"metadata": {"namespace": "ns", "name": name}, "spec": {"containers": [{"ports": declared}]}}

    networking = {
        "ingress": [
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
                "ports": [{"port": "http"}, {"port": "admin"}, {"port": 81}],
            }
        ]
    }
    pods = [pod("b", ("http", 80)), pod("a"), pod("c", ("http", 80), ("admin", 9000))]
    assert pods_missing_named_ports(networking, pods) == {"admin": ["ns/a", "ns/b"], "http": ["ns/a"]}
    assert pods_missing_named_ports({"ingress": [{"ports": [{"port": 80}]}]}, pods) == {}
    assert pods_missing_named_ports(None, pods) == {}
