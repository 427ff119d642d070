"""Stack model helpers: SG placeholder resolution, TGB rendering, tag composition."""

from __future__ import annotations

import pytest

from controller.model import (
    BACKEND_SG_REF,
    MANAGED_SG_REF,
    NetworkingIngressRule,
    NetworkingPeer,
    NetworkingPort,
    NetworkingSpec,
    PeerKind,
    PeerValues,
    TargetGroupBindingSpec,
    resolve_sg_refs,
)
from controller.model.tags import compose_resource_tags, merge_spec_tags
from controller.naming import StackTags


def test_resolve_sg_refs_keeps_order_and_replaces_placeholders() -> None:
    refs = ("sg-a", MANAGED_SG_REF, BACKEND_SG_REF)
    assert resolve_sg_refs(refs, "sg-m", "sg-b") == ["sg-a", "sg-m", "sg-b"]
    with pytest.raises(ValueError, match="backend SG"):
        resolve_sg_refs(refs, "sg-m", None)


def test_networking_renders_placeholders_and_drops_rules_without_peers() -> None:
    networking = NetworkingSpec(
        (
            NetworkingIngressRule(
                (NetworkingPeer.security_group(MANAGED_SG_REF),), (NetworkingPort("TCP", 8080),)
            ),
            NetworkingIngressRule(
                (NetworkingPeer(PeerKind.LB_SUBNET_CIDRS_IPV6),), (NetworkingPort("UDP", None),)
            ),
            NetworkingIngressRule(
                (NetworkingPeer(PeerKind.LB_SUBNET_CIDRS_IPV4),), (NetworkingPort("TCP", "http"),)
            ),
        )
    )
    rendered = networking.to_k8s(
        PeerValues(managed_sg_id="sg-m", lb_subnet_cidrs_ipv4=("10.0.0.0/24", "10.0.1.0/24"))
    )
    assert rendered == {
        "ingress": [
            {"from": [{"securityGroup": {"groupID": "sg-m"}}], "ports": [{"protocol": "TCP", "port": 8080}]},
            {
                "from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "10.0.1.0/24"}}],
                "ports": [{"protocol": "TCP", "port": "http"}],
            },
        ]
    }
    with pytest.raises(ValueError, match="managed SG"):
        networking.to_k8s(PeerValues())


def test_binding_without_networking_renders_no_networking_key() -> None:
    binding = TargetGroupBindingSpec("tg", "ns", "ns/svc:80", "ip", "svc", 80, "ipv4", None)
    assert binding.to_k8s_spec("arn:tg", PeerValues()) == {
        "targetGroupARN": "arn:tg",
        "targetType": "ip",
        "serviceRef": {"name": "svc", "port": 80},
        "ipAddressType": "ipv4",
    }


def test_tag_priority_tracking_then_resource_then_spec() -> None:
    stack = StackTags("c", "ingress.k8s.aws", "ns/a")
    spec = merge_spec_tags({"team": "user", "elbv2.k8s.aws/cluster": "evil"}, {"team": "default"}, False)
    assert spec["team"] == "default"
    tags = compose_resource_tags(stack, "LoadBalancer", spec)
    assert tags == {
        "elbv2.k8s.aws/cluster": "c",
        "ingress.k8s.aws/stack": "ns/a",
        "ingress.k8s.aws/resource": "LoadBalancer",
        "team": "default",
    }
    assert merge_spec_tags({"team": "user"}, {"team": "default"}, True)["team"] == "user"
