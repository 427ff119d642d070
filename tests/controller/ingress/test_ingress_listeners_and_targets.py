"""ALB load balancer, listeners, rules, target groups and TGB networking built from Ingress groups."""

from __future__ import annotations

from typing import Any

import pytest
from ingress_factories import (
    backend,
    build,
    explicit_group,
    http_rule,
    implicit_group,
    ingress,
    make_config,
    path,
    service,
)

from controller.annotations import (
    ING_HEALTHCHECK_PORT,
    ING_IP_ADDRESS_TYPE,
    ING_LISTEN_PORTS,
    ING_LOAD_BALANCER_NAME,
    ING_SCHEME,
    ING_SUBNETS,
    ING_TARGET_TYPE,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
    InvalidObjectError,
)
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId
from controller.model import (
    BACKEND_SG_REF,
    FixedResponseAction,
    ForwardAction,
    NetworkingPort,
    PeerValues,
    RuleCondition,
    Scheme,
)


async def test_load_balancer_name_matches_upstream_fixture() -> None:
    # Upstream model_builder_test fixture: cluster-dummy, ns-1/ing-1, internal → k8s-ns1-ing1-b7e914000d.
    model = await build(implicit_group(ingress()), config=make_config("cluster-dummy"))
    assert model.load_balancer.name == "k8s-ns1-ing1-b7e914000d"
    assert model.load_balancer.scheme is Scheme.INTERNAL
    assert model.load_balancer.type.value == "application"


async def test_target_group_name_matches_upstream_fixture() -> None:
    # Same fixture: TG "ns-1/ing-1-svc-1:http" → k8s-ns1-svc1-9889425938 (NodePort 32768, HTTP, HTTP1).
    rules = [http_rule([path("/", "svc-1", "http")])]
    model = await build(implicit_group(ingress(rules=rules)), config=make_config("cluster-dummy"))
    (target_group,) = model.target_groups
    assert target_group.resource_id == "ns-1/ing-1-svc-1:http"
    assert target_group.name == "k8s-ns1-svc1-9889425938"
    assert target_group.port == 32768
    assert (target_group.protocol, target_group.protocol_version) == ("HTTP", "HTTP1")
    hc = target_group.health_check
    assert (hc.port, hc.protocol, hc.path, hc.matcher) == ("traffic-port", "HTTP", "/", "200")
    assert (hc.interval_seconds, hc.timeout_seconds, hc.healthy_threshold, hc.unhealthy_threshold) == (
        15,
        5,
        2,
        2,
    )
    assert target_group.tags["ingress.k8s.aws/resource"] == "ns-1/ing-1-svc-1:http"


async def test_explicit_group_lb_name_and_scheme_from_annotation() -> None:
    member = ingress(annotations={ING_SCHEME: "internet-facing"})
    model = await build(explicit_group("my-shared-group.prod", member))
    name = model.load_balancer.name
    assert name.startswith("k8s-mysharedgroupprod-") and len(name) == len("k8s-mysharedgroupprod-") + 10
    internal = await build(explicit_group("my-shared-group.prod", ingress()))
    assert internal.load_balancer.name != name  # the scheme is part of the hash


async def test_explicit_load_balancer_name() -> None:
    model = await build(implicit_group(ingress(annotations={ING_LOAD_BALANCER_NAME: "my-alb"})))
    assert model.load_balancer.name == "my-alb"
    with pytest.raises(InvalidAnnotationError, match="longer than 32"):
        await build(implicit_group(ingress(annotations={ING_LOAD_BALANCER_NAME: "x" * 33})))


async def test_invalid_and_conflicting_scheme() -> None:
    with pytest.raises(InvalidAnnotationError, match="unknown scheme"):
        await build(implicit_group(ingress(annotations={ING_SCHEME: "public"})))
    a = ingress("a", annotations={ING_SCHEME: "internal"})
    b = ingress("b", annotations={ING_SCHEME: "internet-facing"})
    with pytest.raises(ConflictingGroupSettingError, match="scheme"):
        await build(explicit_group("g", a, b))


async def test_subnet_selector_discovery_and_explicit() -> None:
    internet = await build(implicit_group(ingress(annotations={ING_SCHEME: "internet-facing"})))
    assert internet.load_balancer.subnets.role_tag_key == "kubernetes.io/role/elb"
    assert internet.load_balancer.subnets.cluster_tag_key == "kubernetes.io/cluster/my-cluster"
    assert not internet.load_balancer.subnets.is_explicit
    internal = await build(implicit_group(ingress()))
    assert internal.load_balancer.subnets.role_tag_key == "kubernetes.io/role/internal-elb"
    explicit = await build(implicit_group(ingress(annotations={ING_SUBNETS: "subnet-1, public-a"})))
    assert explicit.load_balancer.subnets.names_or_ids == ("subnet-1", "public-a")


async def test_subnets_conflict_ignores_order_but_not_content() -> None:
    a = ingress("a", annotations={ING_SUBNETS: "subnet-1,subnet-2"})
    b = ingress("b", annotations={ING_SUBNETS: "subnet-2,subnet-1"})
    model = await build(explicit_group("g", a, b))
    assert set(model.load_balancer.subnets.names_or_ids) == {"subnet-1", "subnet-2"}
    c = ingress("c", annotations={ING_SUBNETS: "subnet-3"})
    with pytest.raises(ConflictingGroupSettingError, match="subnets"):
        await build(explicit_group("g", a, c))


async def test_listener_default_action_is_404_fixed_response() -> None:
    model = await build(implicit_group(ingress()))
    assert model.listeners[0].default_action == FixedResponseAction("404", "text/plain")


async def test_default_backend_becomes_default_action() -> None:
    model = await build(implicit_group(ingress(rules=[], default_backend=backend("svc-1", 80))))
    (target_group,) = model.target_groups
    assert model.listeners[0].default_action == ForwardAction(target_group.resource_id)
    assert model.listeners[0].rules == ()


async def test_two_default_backends_in_a_group_conflict() -> None:
    a = ingress("a", rules=[], default_backend=backend("svc-1", 80))
    b = ingress("b", rules=[], default_backend=backend("svc-1", 80))
    with pytest.raises(ConflictingGroupSettingError, match="default backend"):
        await build(explicit_group("g", a, b))


async def test_rules_from_hosts_and_paths_in_priority_order() -> None:
    rules = [
        http_rule(
            [
                path("/impl", "svc-1", 80, "ImplementationSpecific"),
                path("/a", "svc-1", 80, "Prefix"),
                path("/exact", "svc-1", 80, "Exact"),
                path("/longer/", "svc-1", 80, "Prefix"),
            ],
            host="example.com",
        ),
        http_rule([path("/", "svc-1", 80, "Prefix")]),
    ]
    model = await build(implicit_group(ingress(rules=rules)))
    (listener,) = model.listeners
    assert [rule.priority for rule in listener.rules] == [1, 2, 3, 4, 5]
    host = RuleCondition("host-header", ("example.com",))
    assert [rule.conditions for rule in listener.rules] == [
        (host, RuleCondition("path-pattern", ("/exact",))),
        (host, RuleCondition("path-pattern", ("/longer", "/longer/*"))),
        (host, RuleCondition("path-pattern", ("/a", "/a/*"))),
        (host, RuleCondition("path-pattern", ("/impl",))),
        (RuleCondition("path-pattern", ("/*",)),),
    ]
    assert len(model.target_groups) == 1  # one target group per (Ingress, Service, port)
    assert all(rule.action == ForwardAction(model.target_groups[0].resource_id) for rule in listener.rules)


async def test_rule_without_path_matches_everything() -> None:
    model = await build(implicit_group(ingress(rules=[http_rule([path(None, "svc-1", 80, None)])])))
    assert model.listeners[0].rules[0].conditions == (RuleCondition("path-pattern", ("/*",)),)


@pytest.mark.parametrize(("value", "path_type"), [("/a*", "Exact"), ("/a?", "Prefix")])
async def test_wildcards_in_exact_or_prefix_paths_are_errors(value: str, path_type: str) -> None:
    with pytest.raises(InvalidObjectError, match="wildcards"):
        await build(implicit_group(ingress(rules=[http_rule([path(value, "svc-1", 80, path_type)])])))


async def test_group_members_rules_follow_member_order_on_shared_port() -> None:
    first = ingress(
        "b",
        annotations={"alb.ingress.kubernetes.io/group.order": "-5"},
        rules=[http_rule([path("/b", "svc-1", 80)])],
    )
    second = ingress("a", rules=[http_rule([path("/a", "svc-1", 80)])])
    model = await build(explicit_group("g", first, second))
    patterns = [rule.conditions[0].values[0] for rule in model.listeners[0].rules]
    assert patterns == ["/b", "/a"]
    assert len(model.target_groups) == 2  # per Ingress, as upstream's resource ids


async def test_missing_backend_service_and_port_are_typed_errors() -> None:
    with pytest.raises(InvalidObjectError, match="Service not found"):
        await build(implicit_group(ingress(rules=[http_rule([path("/", "nope", 80)])])))
    with pytest.raises(InvalidObjectError, match="port not found"):
        await build(implicit_group(ingress(rules=[http_rule([path("/", "svc-1", 9999)])])))


async def test_instance_target_needs_node_port_service() -> None:
    svc = service(service_type="ClusterIP", ports=[{"name": "http", "port": 80, "targetPort": 8080}])
    with pytest.raises(InvalidObjectError, match="instance targets need"):
        await build(implicit_group(ingress()), [svc])


async def test_ip_target_uses_target_port_and_named_target_port_in_networking() -> None:
    svc = service(
        service_type="ClusterIP", ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    )
    model = await build(implicit_group(ingress(annotations={ING_TARGET_TYPE: "ip"})), [svc])
    (target_group,) = model.target_groups
    assert target_group.target_type.value == "ip"
    assert target_group.port == 1  # named targetPort: not in the data path, as upstream
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert [rule.ports for rule in networking.ingress] == [(NetworkingPort("TCP", "web"),)]


async def test_service_annotation_wins_over_ingress_annotation() -> None:
    svc = service(annotations={ING_TARGET_TYPE: "ip"})
    model = await build(implicit_group(ingress(annotations={ING_TARGET_TYPE: "instance"})), [svc])
    assert model.target_groups[0].target_type.value == "ip"
    assert model.target_groups[0].port == 8080


async def test_alb_networking_restricted_traffic_and_health_check_ports() -> None:
    model = await build(implicit_group(ingress(annotations={ING_HEALTHCHECK_PORT: "8443"})))
    binding = model.target_group_bindings[0]
    assert binding.networking is not None
    assert [rule.ports for rule in binding.networking.ingress] == [
        (NetworkingPort("TCP", 32768),),
        (NetworkingPort("TCP", 8443),),
    ]
    rendered = binding.to_k8s_spec("arn:tg", PeerValues(managed_sg_id="sg-m", backend_sg_id="sg-b"))
    assert rendered["networking"]["ingress"][0] == {
        "from": [{"securityGroup": {"groupID": "sg-b"}}],
        "ports": [{"protocol": "TCP", "port": 32768}],
    }
    assert rendered["serviceRef"] == {"name": "svc-1", "port": "http"}


async def test_named_health_check_port_resolves_to_node_port_for_instance() -> None:
    svc = service(
        ports=[
            {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 32768},
            {"name": "admin", "port": 9000, "targetPort": 9090, "nodePort": 31000},
        ]
    )
    model = await build(implicit_group(ingress(annotations={ING_HEALTHCHECK_PORT: "admin"})), [svc])
    assert model.target_groups[0].health_check.port == "31000"


async def test_named_health_check_port_with_named_target_port_on_ip_is_an_error() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "web", "nodePort": 32768}])
    annotations = {ING_HEALTHCHECK_PORT: "http", ING_TARGET_TYPE: "ip"}
    with pytest.raises(InvalidAnnotationError, match="named healthCheckPort"):
        await build(implicit_group(ingress(annotations=annotations)), [svc])


async def test_scenario_38_unrestricted_alb_networking_opens_all_tcp() -> None:
    """Scenario 38 (upstream-behaviour §10): ``--disable-restricted-sg-rules=true``, an ALB TGB → reconciled →
    sg-n gets tcp 0-65535 from the source SG; a UDP NLB TGB also udp 0-65535."""
    config = make_config(disable_restricted_sg_rules=True)
    model = await build(implicit_group(ingress(annotations={ING_HEALTHCHECK_PORT: "8443"})), config=config)
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert [rule.ports for rule in networking.ingress] == [(NetworkingPort("TCP", None),)]
    rendered = networking.to_k8s(PeerValues(backend_sg_id="sg-b"))
    assert rendered["ingress"][0]["ports"] == [{"protocol": "TCP"}]


async def test_multiple_listen_ports_share_rules() -> None:
    model = await build(
        implicit_group(ingress(annotations={ING_LISTEN_PORTS: '[{"HTTP":80},{"HTTP":8080}]'}))
    )
    assert [listener.port for listener in model.listeners] == [80, 8080]
    assert len(model.target_groups) == 1
    assert all(len(listener.rules) == 1 for listener in model.listeners)


async def test_ipv6_target_group_on_ipv4_alb_is_an_error() -> None:
    # Upstream model_builder_test "Ingress with IPv6 service but not dualstack".
    svc = service(ip_families=["IPv6"])
    with pytest.raises(InvalidObjectError) as raised:
        await build(implicit_group(ingress(annotations={ING_TARGET_TYPE: "ip"})), [svc])
    assert raised.value.object_ref.key == "ns-1/ing-1"
    assert raised.value.value == "IPv6"
    assert raised.value.reason == "unsupported IPv6 configuration, lb not dual-stack"


@pytest.mark.parametrize(
    ("families", "target", "alb", "want"),
    [
        (None, "ip", "dualstack", "ipv4"),
        (["IPv4"], "instance", "dualstack", "ipv4"),
        # Any IPv6 family, first or second, for instance and ip targets alike.
        (["IPv6"], "instance", "dualstack", "ipv6"),
        (["IPv4", "IPv6"], "instance", "dualstack", "ipv6"),
        (["IPv4", "IPv6"], "ip", "dualstack", "ipv6"),
        (["IPv6", "IPv4"], "ip", "dualstack-without-public-ipv4", "ipv6"),
    ],
)
async def test_target_group_ip_address_type_follows_any_ipv6_family(
    families: list[str] | None, target: str, alb: str, want: str
) -> None:
    member = ingress(annotations={ING_TARGET_TYPE: target, ING_IP_ADDRESS_TYPE: alb})
    model = await build(implicit_group(member), [service(ip_families=families)])
    (target_group,) = model.target_groups
    assert (target_group.target_type.value, target_group.ip_address_type) == (target, want)
    assert model.target_group_bindings[0].ip_address_type == want


async def test_dual_stack_service_on_ipv4_alb_is_an_error_for_instance_targets() -> None:
    svc = service(ip_families=["IPv4", "IPv6"])
    with pytest.raises(InvalidObjectError, match="lb not dual-stack"):
        await build(implicit_group(ingress(annotations={ING_TARGET_TYPE: "instance"})), [svc])


async def test_backend_sg_placeholder_in_refs() -> None:
    model = await build(implicit_group(ingress()))
    assert BACKEND_SG_REF in model.security_group_refs


GATE_OFF = {"EnableIPTargetType": False}
GATE_REASON = "unsupported targetType: ip when EnableIPTargetType is false"


async def test_ip_target_type_needs_the_feature_gate() -> None:
    # Upstream model_builder_test "target type IP with enableIPTargetType set to false".
    member = ingress(annotations={ING_TARGET_TYPE: "ip"})
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(implicit_group(member), config=make_config(feature_gates=GATE_OFF))
    error = raised.value
    assert (str(error.object_ref), error.key, error.value) == ("Ingress ns-1/ing-1", ING_TARGET_TYPE, "ip")
    assert error.reason == GATE_REASON


async def test_ip_target_type_gate_names_the_service_or_the_default_that_asked_for_ip() -> None:
    config = make_config(feature_gates=GATE_OFF)
    from_service = service(annotations={ING_TARGET_TYPE: "ip"})
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(implicit_group(ingress()), [from_service], config=config)
    assert str(raised.value.object_ref) == "Service ns-1/svc-1"
    default_ip = make_config(feature_gates=GATE_OFF, default_target_type="ip")
    with pytest.raises(InvalidAnnotationError) as by_default:
        await build(implicit_group(ingress()), config=default_ip)
    error = by_default.value
    assert (error.key, error.value, error.reason) == ("--default-target-type", "ip", GATE_REASON)
    # Instance targets do not need the gate.
    model = await build(implicit_group(ingress(annotations={ING_TARGET_TYPE: "instance"})), config=config)
    assert model.target_groups[0].target_type.value == "instance"


def with_params(member: dict[str, Any], spec: dict[str, Any]) -> IngressGroup:
    """An implicit group whose Ingress's class points at an IngressClassParams with ``spec``."""
    params = {"metadata": {"name": "params-1"}, "spec": spec}
    meta = member["metadata"]
    return IngressGroup(
        IngressGroupId.implicit(meta["namespace"], meta["name"]), (ClassifiedIngress(member, params),)
    )


@pytest.mark.parametrize(
    ("params_type", "annotation", "want"),
    [
        ("ip", "instance", "ip"),
        ("instance", "ip", "instance"),
        # Only the winning value is checked (upstream switches on it alone).
        ("instance", "bogus", "instance"),
        (None, "ip", "ip"),
    ],
)
async def test_ingress_class_params_target_type_wins_over_annotations(
    params_type: str | None, annotation: str, want: str
) -> None:
    spec = {"targetType": params_type} if params_type else {}
    model = await build(with_params(ingress(annotations={ING_TARGET_TYPE: annotation}), spec))
    assert model.target_groups[0].target_type.value == want


async def test_ingress_class_params_ip_target_type_needs_the_gate() -> None:
    group = with_params(ingress(), {"targetType": "ip"})
    with pytest.raises(InvalidAnnotationError) as raised:
        await build(group, config=make_config(feature_gates=GATE_OFF))
    error = raised.value
    assert (str(error.object_ref), error.key, error.value) == (
        "IngressClassParams params-1",
        "spec.targetType",
        "ip",
    )
