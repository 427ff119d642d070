"""NLB target group settings that upstream derives from the Service: IP address type from
``spec.ipFamilies`` and the target group attributes the controller reads."""

from __future__ import annotations

import pytest
from service_factories import NLB_IP, build, lb_service, make_config, port

from controller.annotations import (
    SVC_IP_ADDRESS_TYPE,
    SVC_NLB_TARGET_TYPE,
    SVC_SCHEME,
    SVC_TARGET_GROUP_ATTRIBUTES,
    InvalidAnnotationError,
    InvalidObjectError,
)
from controller.model import NetworkingPeer, PeerKind, Scheme
from controller.service import ExistingLoadBalancer

DUALSTACK = {SVC_IP_ADDRESS_TYPE: "dualstack"}


@pytest.mark.parametrize(
    ("families", "target", "want"),
    [
        (None, "instance", "ipv4"),
        (["IPv4"], "instance", "ipv4"),
        (["IPv4"], "ip", "ipv4"),
        # Any IPv6 family, first or second, for instance and ip targets alike.
        (["IPv6"], "instance", "ipv6"),
        (["IPv6"], "ip", "ipv6"),
        (["IPv4", "IPv6"], "instance", "ipv6"),
        (["IPv4", "IPv6"], "ip", "ipv6"),
        (["IPv6", "IPv4"], "ip", "ipv6"),
    ],
)
async def test_target_group_ip_address_type_follows_any_ipv6_family(
    families: list[str] | None, target: str, want: str
) -> None:
    annotations = {**DUALSTACK, **(NLB_IP if target == "ip" else {})}
    extra = {"ipFamilies": families} if families is not None else {}
    model = await build(lb_service(annotations=annotations, **extra))
    (target_group,) = model.target_groups
    assert target_group.target_type.value == target
    assert target_group.ip_address_type == want
    assert model.target_group_bindings[0].ip_address_type == want


@pytest.mark.parametrize(("families", "target"), [(["IPv6"], "instance"), (["IPv4", "IPv6"], "ip")])
async def test_ipv6_family_on_an_ipv4_nlb_is_an_error(families: list[str], target: str) -> None:
    annotations = NLB_IP if target == "ip" else {}
    with pytest.raises(InvalidObjectError) as raised:
        await build(lb_service(annotations=annotations, ipFamilies=families))
    error = raised.value
    assert (error.object_ref.key, error.field, error.value) == (
        "default/svc",
        "spec.ipFamilies",
        ", ".join(families),
    )
    assert error.reason == "unsupported IPv6 configuration, lb not dual-stack"


async def test_ipv6_instance_target_group_gets_ipv6_legacy_rules() -> None:
    # An NLB without SGs admits the LB subnets' (or VPC's) IPv6 CIDRs to an IPv6 target group.
    svc = lb_service(annotations=DUALSTACK, ipFamilies=["IPv4", "IPv6"], ports=[port(80, node_port=31080)])
    model = await build(svc, existing=ExistingLoadBalancer((), Scheme.INTERNAL))
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    (rule,) = networking.ingress
    assert [peer.kind for peer in rule.peers] == [PeerKind.VPC_CIDRS_IPV6]


@pytest.mark.parametrize(
    ("annotations", "default", "key"),
    [
        ({SVC_NLB_TARGET_TYPE: "ip"}, "instance", SVC_NLB_TARGET_TYPE),
        ({**NLB_IP, SVC_NLB_TARGET_TYPE: "ip"}, "instance", SVC_NLB_TARGET_TYPE),
        ({}, "ip", "--default-target-type"),
    ],
)
async def test_ip_target_type_without_the_feature_gate_names_its_source(
    annotations: dict[str, str], default: str, key: str
) -> None:
    config = make_config(feature_gates={"EnableIPTargetType": False}, default_target_type=default)
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(lb_service(annotations=annotations), config=config)
    assert (raised.value.key, raised.value.value) == (key, "ip")
    assert raised.value.reason == "unsupported targetType: ip when EnableIPTargetType is false"


async def test_legacy_nlb_ip_type_is_not_guarded_by_the_gate() -> None:
    # Upstream's gate guards only the target-type annotation (or default): the legacy
    # "nlb-ip" load balancer type still means ip targets with the gate off.
    config = make_config(feature_gates={"EnableIPTargetType": False})
    model = await build(lb_service(annotations=NLB_IP, load_balancer_class=None), config=config)
    assert model.target_groups[0].target_type.value == "ip"


def port_attributes(number: int) -> str:
    return f"{SVC_TARGET_GROUP_ATTRIBUTES}.{number}"


@pytest.mark.parametrize(
    ("annotations", "key", "attribute"),
    [
        # Upstream Test_defaultModelBuilder_buildPreserveClientIPFlag "Attribute Parse error".
        ({SVC_TARGET_GROUP_ATTRIBUTES: "preserve_client_ip.enabled= FalSe, key1=value"}, None, "FalSe"),
        # Upstream Test_defaultModelBuilderTask_targetGroupAttrs "invalid port-specific attribute value".
        (
            {
                SVC_TARGET_GROUP_ATTRIBUTES: "target.group-attr-1=80",
                port_attributes(3306): "preserve_client_ip.enabled=invalid",
            },
            port_attributes(3306),
            "invalid",
        ),
        # The base annotation is validated even when the port's own value would win.
        (
            {
                SVC_TARGET_GROUP_ATTRIBUTES: "preserve_client_ip.enabled=maybe",
                port_attributes(3306): "preserve_client_ip.enabled=true",
            },
            None,
            "maybe",
        ),
        ({SVC_TARGET_GROUP_ATTRIBUTES: "preserve_client_ip.enabled="}, None, ""),
    ],
)
async def test_unparsable_preserve_client_ip_is_an_error_naming_key_and_value(
    annotations: dict[str, str], key: str | None, attribute: str
) -> None:
    # A managed-SG NLB: the value is not needed for its TGB rules and is still rejected.
    svc = lb_service(annotations=annotations, ports=[port(3306, node_port=31306)])
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(svc)
    error = raised.value
    wanted_key = key or SVC_TARGET_GROUP_ATTRIBUTES
    assert (error.object_ref.key, error.key, error.value) == (
        "default/svc",
        wanted_key,
        annotations[wanted_key],
    )
    assert error.reason.startswith(f"failed to parse attribute preserve_client_ip.enabled={attribute}:")


async def test_malformed_attributes_annotation_is_an_error_on_every_nlb() -> None:
    with pytest.raises(InvalidAnnotationError, match="failed to parse stringMap annotation"):
        await build(lb_service(annotations={SVC_TARGET_GROUP_ATTRIBUTES: "stickiness.enabled=true,oops"}))


async def test_port_attributes_override_preserve_client_ip_for_that_port_only() -> None:
    # SG-less NLB, ip targets: preserved client IPs come from anywhere on an internet-facing NLB,
    # unpreserved ones from the LB subnets.
    annotations = {
        **NLB_IP,
        SVC_SCHEME: "internet-facing",
        SVC_TARGET_GROUP_ATTRIBUTES: "preserve_client_ip.enabled=true",
        port_attributes(443): "preserve_client_ip.enabled=false, deregistration_delay.timeout_seconds=",
        port_attributes(8443): "deregistration_delay.timeout_seconds=",
    }
    svc = lb_service(annotations=annotations, ports=[port(80), port(443), port(8443)])
    model = await build(svc, existing=ExistingLoadBalancer((), Scheme.INTERNET_FACING))
    peers = []
    for binding in model.target_group_bindings:
        assert binding.networking is not None
        peers.append(binding.networking.ingress[0].peers)
    assert peers == [
        (NetworkingPeer.ip_block("0.0.0.0/0"),),
        (NetworkingPeer(PeerKind.LB_SUBNET_CIDRS_IPV4),),
        (NetworkingPeer.ip_block("0.0.0.0/0"),),
    ]
