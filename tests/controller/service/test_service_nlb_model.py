"""NLB models built from Services (upstream-behaviour §1.1, §1.6, §2, §4.2; scenarios 2, 4, 17-22, 27-29, 36, 39, 40)."""

from __future__ import annotations

from typing import Any

import pytest
from service_factories import NLB_IP, FakeResolver, build, lb_service, make_config, port, stack_of

from controller.annotations import (
    SVC_ADDITIONAL_TAGS,
    SVC_DISABLE_NLB_SG,
    SVC_HEALTHCHECK_PORT,
    SVC_ICMP_PATH_MTU,
    SVC_IP_ADDRESS_TYPE,
    SVC_MANAGE_BACKEND_SG_RULES,
    SVC_NLB_TARGET_TYPE,
    SVC_PREFIX_LISTS,
    SVC_SECURITY_GROUPS,
    SVC_SOURCE_RANGES,
    SVC_TARGET_GROUP_ATTRIBUTES,
    InvalidAnnotationError,
    InvalidObjectError,
)
from controller.model import (
    BACKEND_SG_REF,
    MANAGED_SG_REF,
    NetworkingPeer,
    NetworkingPort,
    PeerKind,
    PeerValues,
    Scheme,
)
from controller.model.security_group import RulesQuotaExceededError
from controller.naming import MANAGED_SG_RESOURCE_ID, SERVICE_TAG_PREFIX, StackTags
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule
from controller.service import ExistingLoadBalancer, ServiceModelBuilder, is_managed_service
from controller.service.builder import LOAD_BALANCER_RESOURCE_ID

UID = "bdca2bd0-bfc6-449a-88a3-03451f05f18c"


def ports_of(model: Any, index: int = 0) -> list[NetworkingPort]:
    networking = model.target_group_bindings[index].networking
    assert networking is not None
    return [p for rule in networking.ingress for p in rule.ports]


async def test_scenario_02_managed_sg_name() -> None:
    """Scenario 2 (upstream-behaviour §10): Cluster ``my-cluster``, Service ``app/tcpudp-protocol``, UID
    ``2dc098f0-ae33-4378-af7b-83e2a0424495`` → built → SG name ``k8s-app-tcpudppr-06a9156bf8``."""
    svc = lb_service("tcpudp-protocol", "app", uid="2dc098f0-ae33-4378-af7b-83e2a0424495")
    model = await build(svc)
    assert model.managed_sg is not None
    assert model.managed_sg.name == "k8s-app-tcpudppr-06a9156bf8"
    assert model.managed_sg.tags == {
        "elbv2.k8s.aws/cluster": "my-cluster",
        "service.k8s.aws/stack": "app/tcpudp-protocol",
        "service.k8s.aws/resource": "ManagedLBSecurityGroup",
    }


async def test_scenario_04_recreated_service_gets_a_new_sg_name() -> None:
    """Scenario 4 (upstream-behaviour §10): A Service deleted and re-created under the same name (new UID) →
    built → its managed SG name differs from before."""
    first = await build(lb_service(uid="uid-1"))
    second = await build(lb_service(uid="uid-2"))
    assert first.managed_sg is not None and second.managed_sg is not None
    assert first.managed_sg.name != second.managed_sg.name


async def test_lb_and_target_group_names_match_upstream_fixtures() -> None:
    # Upstream service model_builder_test: my-cluster, default/nlb-ip-svc-tls, nlb-ip, TCP 80.
    svc = lb_service(
        "nlb-ip-svc-tls", uid=UID, annotations=NLB_IP, load_balancer_class=None, ports=[port(80)]
    )
    model = await build(svc)
    assert model.load_balancer.name == "k8s-default-nlbipsvc-6b0ba8ff70"
    (target_group,) = model.target_groups
    assert target_group.name == "k8s-default-nlbipsvc-d4818dcd51"
    assert target_group.resource_id == "default/nlb-ip-svc-tls:80"
    assert (target_group.port, target_group.protocol, target_group.target_type.value) == (80, "TCP", "ip")
    facing = await build(
        {
            **svc,
            "metadata": {
                **svc["metadata"],
                "annotations": {
                    **NLB_IP,
                    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                },
            },
        }
    )
    assert facing.load_balancer.name == "k8s-default-nlbipsvc-4d831c6ca6"


async def test_target_group_name_with_health_check_annotations_matches_upstream_fixture() -> None:
    annotations = {
        **NLB_IP,
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": "8888",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz",
    }
    svc = lb_service(
        "nlb-ip-svc",
        uid="7ab4be33-11c2-4a7b-b655-7add8affab36",
        annotations=annotations,
        load_balancer_class=None,
        ports=[port(80, target=80, name="http"), port(83, target=80, name="alt2")],
    )
    model = await build(svc)
    assert model.load_balancer.name == "k8s-default-nlbipsvc-518cdfc227"
    assert [tg.name for tg in model.target_groups] == [
        "k8s-default-nlbipsvc-62f81639fc",
        "k8s-default-nlbipsvc-3ede6b28b6",
    ]
    hc = model.target_groups[0].health_check
    assert (hc.port, hc.protocol, hc.path) == ("8888", "HTTP", "/healthz")


async def test_scenario_17_tcp_and_udp_ports_default_sources() -> None:
    """Scenario 17 (upstream-behaviour §10): Service ports tcp/80 and udp/53, no source ranges, ipv4 → built →
    tcp 80 and udp 53 from ``0.0.0.0/0``."""
    svc = lb_service(ports=[port(80, node_port=31080), port(53, "UDP", node_port=31053)])
    model = await build(svc)
    assert model.managed_sg is not None
    assert set(model.managed_sg.ingress) == {
        Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0")),
        Rule.of("udp", 53, 53, Ipv4CidrSource("0.0.0.0/0")),
    }
    assert [(listener.port, listener.protocol) for listener in model.listeners] == [(53, "UDP"), (80, "TCP")]


async def test_scenario_18_spec_source_ranges_win_over_annotation() -> None:
    """Scenario 18 (upstream-behaviour §10): ``spec.loadBalancerSourceRanges: [10.0.0.0/8]`` and the
    source-ranges annotation ``1.2.3.0/24`` → built → only ``10.0.0.0/8``."""
    svc = lb_service(source_ranges=["10.0.0.0/8"], annotations={SVC_SOURCE_RANGES: "1.2.3.0/24"})
    model = await build(svc)
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),)


async def test_source_ranges_annotation_used_when_spec_empty() -> None:
    model = await build(lb_service(annotations={SVC_SOURCE_RANGES: "1.2.3.0/24, 5.6.7.0/24"}))
    assert model.managed_sg is not None
    assert {r.source for r in model.managed_sg.ingress} == {
        Ipv4CidrSource("1.2.3.0/24"),
        Ipv4CidrSource("5.6.7.0/24"),
    }


async def test_scenario_19_ipv6_source_range_on_ipv4_nlb_is_an_error() -> None:
    """Scenario 19 (upstream-behaviour §10): ipv4 NLB with source range ``2001:db8::/32`` → built → build
    error (IPv6 CIDR on a non-dualstack NLB)."""
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(lb_service(source_ranges=["2001:db8::/32"]))
    assert caught.value.key == "spec.loadBalancerSourceRanges"
    assert "not dualstack" in str(caught.value)


async def test_scenario_20_icmp_path_mtu_rules() -> None:
    """Scenario 20 (upstream-behaviour §10): icmp-for-path-mtu-discovery ``on``, dualstack, sources
    ``10.0.0.0/8`` and ``2001:db8::/32`` → built → besides the port rules, ``icmp`` 3→4 from the IPv4 CIDR and
    ``icmpv6`` 2→0 from the IPv6 CIDR."""
    annotations = {SVC_ICMP_PATH_MTU: "on", SVC_IP_ADDRESS_TYPE: "dualstack"}
    svc = lb_service(
        annotations=annotations,
        source_ranges=["10.0.0.0/8", "2001:db8::/32"],
        ports=[port(80, node_port=31080), port(443, node_port=31443)],
    )
    model = await build(svc)
    assert model.managed_sg is not None
    rules = set(model.managed_sg.ingress)
    assert Rule.of("icmp", 3, 4, Ipv4CidrSource("10.0.0.0/8")) in rules
    assert Rule.of("icmpv6", 2, 0, Ipv6CidrSource("2001:db8::/32")) in rules
    assert Rule.of("tcp", 443, 443, Ipv6CidrSource("2001:db8::/32")) in rules
    assert len(model.managed_sg.ingress) == 6  # 2 ports x 2 CIDRs + one ICMP rule per CIDR


@pytest.mark.parametrize("value", ["On", "true", "1"])
async def test_icmp_only_for_exactly_on(value: str) -> None:
    model = await build(lb_service(annotations={SVC_ICMP_PATH_MTU: value}))
    assert model.managed_sg is not None
    assert all(rule.protocol == "tcp" for rule in model.managed_sg.ingress)


async def test_dualstack_default_sources_and_prefix_lists() -> None:
    model = await build(lb_service(annotations={SVC_IP_ADDRESS_TYPE: "dualstack"}))
    assert model.managed_sg is not None
    assert {r.source for r in model.managed_sg.ingress} == {
        Ipv4CidrSource("0.0.0.0/0"),
        Ipv6CidrSource("::/0"),
    }
    only_prefix = await build(lb_service(annotations={SVC_PREFIX_LISTS: "pl-1"}))
    assert only_prefix.managed_sg is not None
    assert only_prefix.managed_sg.ingress == (Rule.of("tcp", 80, 80, PrefixListSource("pl-1")),)


async def test_nlb_ip_address_type_rejects_dualstack_without_public_ipv4() -> None:
    with pytest.raises(InvalidAnnotationError, match="ipv4 or dualstack"):
        await build(lb_service(annotations={SVC_IP_ADDRESS_TYPE: "dualstack-without-public-ipv4"}))


async def test_scenario_21_existing_nlb_without_sgs_uses_legacy_cidr_rules() -> None:
    """Scenario 21 (upstream-behaviour §10): Existing NLB without SGs, no disable annotation → reconciled → no
    SGs attached; TGB networking uses CIDR (legacy) rules."""
    model = await build(
        lb_service(), existing=ExistingLoadBalancer(security_group_ids=(), scheme=Scheme.INTERNAL)
    )
    assert model.security_group_refs == ()
    assert model.managed_sg is None
    assert model.needs_backend_sg is False
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    # Instance targets preserve the client IP; without source ranges an internal NLB admits the
    # VPC CIDRs; the traffic-port health check needs no second rule.
    (rule,) = networking.ingress
    assert rule.peers == (NetworkingPeer(PeerKind.VPC_CIDRS_IPV4),)
    assert rule.ports == (NetworkingPort("TCP", 31080),)
    rendered = networking.to_k8s(PeerValues(vpc_cidrs_ipv4=("192.168.0.0/16",)))
    assert rendered == {
        "ingress": [
            {"from": [{"ipBlock": {"cidr": "192.168.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 31080}]}
        ]
    }


async def test_legacy_networking_ip_targets_matches_upstream_fixture() -> None:
    # Upstream fixture "Multiple listeners": ip targets (client IP not preserved) → traffic and HC
    # port rules, both from the LB subnets' CIDRs.
    annotations = {
        **NLB_IP,
        SVC_HEALTHCHECK_PORT: "8888",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
    }
    svc = lb_service(annotations=annotations, load_balancer_class=None, ports=[port(80, target=80)])
    model = await build(svc, config=make_config(feature_gates={"NLBSecurityGroup": False}))
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    rendered = networking.to_k8s(PeerValues(lb_subnet_cidrs_ipv4=("192.168.0.0/19", "192.168.32.0/19")))
    subnets = [{"ipBlock": {"cidr": "192.168.0.0/19"}}, {"ipBlock": {"cidr": "192.168.32.0/19"}}]
    assert rendered == {
        "ingress": [
            {"from": subnets, "ports": [{"protocol": "TCP", "port": 80}]},
            {"from": subnets, "ports": [{"protocol": "TCP", "port": 8888}]},
        ]
    }


async def test_legacy_networking_preserved_client_ip_with_source_ranges_and_udp() -> None:
    svc = lb_service(
        annotations={
            SVC_DISABLE_NLB_SG: "true",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
        },
        source_ranges=["203.0.113.0/24"],
        ports=[port(53, "UDP", node_port=31053)],
    )
    model = await build(svc)
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    traffic, health = networking.ingress
    assert traffic.peers == (NetworkingPeer.ip_block("203.0.113.0/24"),)
    assert traffic.ports == (NetworkingPort("UDP", 31053),)
    assert health.peers == (NetworkingPeer(PeerKind.LB_SUBNET_CIDRS_IPV4),)
    assert health.ports == (NetworkingPort("TCP", 31053),)


async def test_legacy_networking_ip_target_with_preserve_attribute_internet_facing() -> None:
    annotations = {
        **NLB_IP,
        SVC_TARGET_GROUP_ATTRIBUTES: "preserve_client_ip.enabled=true",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    }
    svc = lb_service(annotations=annotations, load_balancer_class=None, ports=[port(80, target=8080)])
    model = await build(svc, existing=ExistingLoadBalancer((), Scheme.INTERNET_FACING))
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    (rule,) = networking.ingress  # default 0.0.0.0/0 covers the traffic-port health check
    assert rule.peers == (NetworkingPeer.ip_block("0.0.0.0/0"),)
    assert rule.ports == (NetworkingPort("TCP", 8080),)


async def test_legacy_networking_unmanaged_when_annotation_false() -> None:
    svc = lb_service(annotations={SVC_MANAGE_BACKEND_SG_RULES: "false"})
    model = await build(svc, existing=ExistingLoadBalancer((), Scheme.INTERNAL))
    assert model.target_group_bindings[0].networking is None


async def test_scenario_22_disable_nlb_sg_with_existing_sgs_is_an_error() -> None:
    """Scenario 22 (upstream-behaviour §10): ``aws-load-balancer-disable-nlb-sg: "true"`` and an existing NLB
    with SGs → built → conflicting security groups configuration error."""
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(
            lb_service(annotations={SVC_DISABLE_NLB_SG: "true"}),
            existing=ExistingLoadBalancer(("sg-1",), Scheme.INTERNAL),
        )
    assert caught.value.key == SVC_DISABLE_NLB_SG
    assert "conflicting security groups configuration" in str(caught.value)
    with pytest.raises(InvalidObjectError, match="conflicting security groups configuration"):
        await build(
            lb_service(),
            config=make_config(feature_gates={"NLBSecurityGroup": False}),
            existing=ExistingLoadBalancer(("sg-1",), Scheme.INTERNAL),
        )


async def test_existing_nlb_with_sgs_keeps_managed_mode() -> None:
    model = await build(lb_service(), existing=ExistingLoadBalancer(("sg-managed",), Scheme.INTERNAL))
    assert model.security_group_refs == (MANAGED_SG_REF, BACKEND_SG_REF)


async def test_custom_sgs_for_nlb() -> None:
    resolver = FakeResolver({"web": ["sg-web"]})
    model = await build(lb_service(annotations={SVC_SECURITY_GROUPS: "sg-1, web"}), resolver=resolver)
    assert model.security_group_refs == ("sg-1", "sg-web")
    assert model.managed_sg is None
    assert model.target_group_bindings[0].networking is None  # scenario 28 for NLBs
    managed = await build(
        lb_service(annotations={SVC_SECURITY_GROUPS: "sg-1", SVC_MANAGE_BACKEND_SG_RULES: "true"}),
        resolver=resolver,
    )
    assert managed.security_group_refs == ("sg-1", BACKEND_SG_REF)
    assert managed.needs_backend_sg
    with pytest.raises(InvalidAnnotationError, match="couldn't find all security groups"):
        await build(lb_service(annotations={SVC_SECURITY_GROUPS: "nope"}), resolver=resolver)


async def test_scenario_27_nlb_custom_sgs_manage_without_backend_sg() -> None:
    """Scenario 27 (upstream-behaviour §10): Custom SGs, ``manage-backend-security-group-rules: "true"``,
    ``--enable-backend-security-group=false`` → built → build error (backend SG required)."""
    annotations = {SVC_SECURITY_GROUPS: "sg-1", SVC_MANAGE_BACKEND_SG_RULES: "true"}
    with pytest.raises(InvalidAnnotationError, match="backendSG feature is required"):
        await build(
            lb_service(annotations=annotations), config=make_config(enable_backend_security_group=False)
        )


async def test_scenario_36_instance_tcp_networking_from_backend_sg() -> None:
    """Scenario 36 (upstream-behaviour §10): Instance-mode TCP NLB, NodePort 31223, HC traffic-port, backend
    SG sg-b, node SG sg-n → TGB reconciled → sg-n gets tcp 31223 from sg-b, description
    ``elbv2.k8s.aws/targetGroupBinding=shared``."""
    model = await build(lb_service(ports=[port(80, node_port=31223)]))
    assert ports_of(model) == [NetworkingPort("TCP", 31223)]
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert networking.security_group_refs == frozenset({BACKEND_SG_REF})
    spec = model.target_group_bindings[0].to_k8s_spec("arn:tg", PeerValues(backend_sg_id="sg-b"))
    assert spec["networking"]["ingress"] == [
        {"from": [{"securityGroup": {"groupID": "sg-b"}}], "ports": [{"protocol": "TCP", "port": 31223}]}
    ]
    assert spec["serviceRef"] == {"name": "svc", "port": 80}
    assert spec["targetType"] == "instance"


async def test_scenario_38_unrestricted_nlb_udp_opens_tcp_and_udp() -> None:
    """Scenario 38 (upstream-behaviour §10): ``--disable-restricted-sg-rules=true``, an ALB TGB → reconciled →
    sg-n gets tcp 0-65535 from the source SG; a UDP NLB TGB also udp 0-65535."""
    config = make_config(disable_restricted_sg_rules=True)
    model = await build(lb_service(ports=[port(53, "UDP", node_port=31053)]), config=config)
    assert ports_of(model) == [NetworkingPort("TCP", None), NetworkingPort("UDP", None)]


async def test_scenario_39_udp_with_traffic_port_health_check() -> None:
    """Scenario 39 (upstream-behaviour §10): UDP NLB TGB, HC port traffic-port, restricted → built →
    networking ports UDP <port> and TCP <port>."""
    model = await build(lb_service(ports=[port(53, "UDP", node_port=31053)]))
    assert ports_of(model) == [NetworkingPort("UDP", 31053), NetworkingPort("TCP", 31053)]


async def test_udp_with_distinct_numeric_health_check_port() -> None:
    model = await build(
        lb_service(ports=[port(53, "UDP", node_port=31053)], annotations={SVC_HEALTHCHECK_PORT: "8080"})
    )
    assert ports_of(model) == [NetworkingPort("UDP", 31053), NetworkingPort("TCP", 8080)]


async def test_tcp_udp_merged_listener() -> None:
    svc = lb_service(ports=[port(53, "TCP", node_port=31053), port(53, "UDP", node_port=31053)])
    model = await build(svc)
    assert [(listener.port, listener.protocol) for listener in model.listeners] == [(53, "TCP_UDP")]
    assert model.target_groups[0].protocol == "TCP_UDP"
    assert ports_of(model) == [NetworkingPort("UDP", 31053), NetworkingPort("TCP", 31053)]
    assert model.managed_sg is not None
    assert {r.protocol for r in model.managed_sg.ingress} == {"tcp", "udp"}


async def test_scenario_40_external_traffic_policy_local_health_check() -> None:
    """Scenario 40 (upstream-behaviour §10): ``externalTrafficPolicy: Local`` instance NLB,
    healthCheckNodePort 32001, NodePort 31000 → built → networking ports TCP 31000 and TCP 32001 (one range
    31000-32001 upstream when from one source)."""
    svc = lb_service(
        ports=[port(80, node_port=31000)], externalTrafficPolicy="Local", healthCheckNodePort=32001
    )
    model = await build(svc)
    hc = model.target_groups[0].health_check
    assert (hc.port, hc.protocol, hc.path) == ("32001", "HTTP", "/healthz")
    assert (hc.interval_seconds, hc.timeout_seconds, hc.healthy_threshold, hc.unhealthy_threshold) == (
        10,
        6,
        2,
        2,
    )
    assert ports_of(model) == [NetworkingPort("TCP", 31000), NetworkingPort("TCP", 32001)]


async def test_ip_target_networking_uses_target_port() -> None:
    svc = lb_service(annotations={SVC_NLB_TARGET_TYPE: "ip"}, ports=[port(80, target="web")])
    model = await build(svc)
    assert ports_of(model) == [NetworkingPort("TCP", "web")]
    assert model.target_groups[0].port == 1


async def test_instance_target_without_node_port_is_an_error() -> None:
    with pytest.raises(InvalidObjectError, match="unallocated NodePort"):
        await build(lb_service(ports=[port(80)]))


async def test_additional_tags_and_external_managed_keys() -> None:
    model = await build(lb_service(annotations={SVC_ADDITIONAL_TAGS: "team=a, env=prod"}))
    assert model.tags == {"team": "a", "env": "prod"}
    assert model.target_groups[0].tags["service.k8s.aws/resource"] == "default/svc:80"
    with pytest.raises(InvalidAnnotationError, match="external managed tag key owner"):
        await build(
            lb_service(annotations={SVC_ADDITIONAL_TAGS: "owner=x"}),
            config=make_config(external_managed_tags=("owner",)),
        )


async def test_additional_tags_aws_would_refuse_fail_the_build_naming_the_key() -> None:
    for raw, problem in (
        ("team=a'b", "the value of tag key 'team' contains \"'\", which ELBv2 does not allow"),
        ("aws:x=1", "tag key 'aws:x' starts with 'aws:', which AWS reserves"),
        ("blob=" + "v" * 102400, "is 102400 characters long; EC2 and ELBv2 allow at most 256"),
    ):
        with pytest.raises(InvalidAnnotationError) as caught:
            await build(lb_service(annotations={SVC_ADDITIONAL_TAGS: raw}))
        message = str(caught.value)
        assert caught.value.key == SVC_ADDITIONAL_TAGS and problem in message, message
        assert (
            message.startswith(f"Service default/svc: invalid {SVC_ADDITIONAL_TAGS}=") and len(message) < 600
        )


def test_service_matching() -> None:
    assert is_managed_service(lb_service())
    assert not is_managed_service(lb_service(load_balancer_class="other"))
    assert is_managed_service(lb_service(load_balancer_class=None, annotations=NLB_IP))
    external = {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}
    assert not is_managed_service(lb_service(load_balancer_class=None, annotations=external))
    assert is_managed_service(
        lb_service(load_balancer_class=None, annotations={**external, SVC_NLB_TARGET_TYPE: "ip"})
    )
    assert not is_managed_service(lb_service(load_balancer_class=None))
    cluster_ip = lb_service()
    cluster_ip["spec"]["type"] = "ClusterIP"
    assert not is_managed_service(cluster_ip)


async def test_builder_returns_none_for_foreign_or_deleting_services() -> None:
    builder = ServiceModelBuilder(make_config(), FakeResolver())
    foreign = lb_service(load_balancer_class="other")
    assert await builder.build(foreign, stack_of(foreign)) is None
    deleting = lb_service()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert await builder.build(deleting, stack_of(deleting)) is None


async def test_the_model_carries_the_stack_tags_it_was_built_with_and_tags_every_resource_by_them() -> None:
    # Another stack id than the Service's namespace/name: nothing in the builder derives its own.
    pinned = StackTags("other-cluster", SERVICE_TAG_PREFIX, "pinned/stack")
    builder = ServiceModelBuilder(make_config(), FakeResolver())
    model = await builder.build(lb_service(), pinned)
    assert model is not None
    assert model.stack_tags is pinned and model.stack_id == "pinned/stack"
    assert model.load_balancer.tags == pinned.resource_tags(LOAD_BALANCER_RESOURCE_ID)
    assert model.managed_sg is not None
    assert model.managed_sg.tags == pinned.resource_tags(MANAGED_SG_RESOURCE_ID)
    assert model.target_groups
    for target_group in model.target_groups:
        assert target_group.tags == pinned.resource_tags(target_group.resource_id)


@pytest.mark.parametrize("value", ["", " , "])
async def test_present_but_empty_prefix_lists_replace_the_open_default(value: str) -> None:
    # Upstream tests the annotation's presence: configured but empty, with no source ranges, the
    # managed SG admits nobody (no 0.0.0.0/0 rule), ICMP included.
    model = await build(lb_service(annotations={SVC_PREFIX_LISTS: value, SVC_ICMP_PATH_MTU: "on"}))
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == ()
    dualstack = await build(
        lb_service(annotations={SVC_PREFIX_LISTS: value, SVC_IP_ADDRESS_TYPE: "dualstack"})
    )
    assert dualstack.managed_sg is not None and dualstack.managed_sg.ingress == ()
    with_ranges = await build(lb_service(annotations={SVC_PREFIX_LISTS: value}, source_ranges=["10.0.0.0/8"]))
    assert with_ranges.managed_sg is not None
    assert with_ranges.managed_sg.ingress == (Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),)


async def test_source_ranges_times_ports_beyond_the_rules_quota_fail_the_build() -> None:
    """2 ports x 3 IPv4 source ranges + 2 prefix lists: max(6 IPv4, 0 IPv6) + 4 = 10 rules as AWS
    counts them; past a quota of 9 the build fails naming the Service, the SG, the rules and the quota."""
    svc = lb_service(
        ports=[port(80, node_port=31080), port(443, node_port=31443)],
        source_ranges=["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        annotations={SVC_PREFIX_LISTS: "pl-1, pl-2"},
    )
    assert (await build(svc, make_config(sg_rules_quota=10))).managed_sg is not None
    with pytest.raises(RulesQuotaExceededError) as raised:
        await build(svc, make_config(sg_rules_quota=9))
    message = str(raised.value)
    assert message.startswith("Service default/svc: managed security group k8s-default-svc-")
    assert "would need 10 inbound rules (6 IPv4 CIDR, 0 IPv6 CIDR and 4 prefix-list rules" in message
    assert "more than the quota of 9" in message
