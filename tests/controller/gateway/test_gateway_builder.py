"""The Gateway model: security groups as upstream's gateway builder makes them, listeners, rules, backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from controller.annotations import InvalidObjectError, ModelBuildError, UnresolvedAnnotationError
from controller.config import ControllerSettings, parse_config
from controller.gateway.backends import REASON_BACKEND_NOT_FOUND
from controller.gateway.builder import GatewayBuild, GatewayModelBuilder
from controller.gateway.lb_config import merge
from controller.gateway.routes import Listener, Route, attach
from controller.model.load_balancer import FixedResponseAction, ForwardAction, LoadBalancerType
from controller.model.security_group import BACKEND_SG_REF, MANAGED_SG_REF
from controller.naming import GATEWAY_ALB_TAG_PREFIX, StackTags
from controller.networking.errors import SecurityGroupLookupError
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule


class Resolver:
    """Resolves ``sg-`` ids as themselves and the names it knows; anything else is not found."""

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = names or {}

    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        unknown = [n for n in names_or_ids if not n.startswith("sg-") and n not in self.names]
        if unknown:
            raise SecurityGroupLookupError(f"couldn't find all security groups: [{' '.join(unknown)}]")
        return [n if n.startswith("sg-") else self.names[n] for n in names_or_ids]


def settings(**overrides: Any) -> ControllerSettings:
    return dataclasses.replace(parse_config(["--cluster-name", "my-cluster"]), **overrides)


GATEWAY = {"metadata": {"name": "web", "namespace": "shop", "uid": "gw-uid"}}
SERVICES = {
    "shop/api": {
        "metadata": {"name": "api", "namespace": "shop", "uid": "svc-uid"},
        "spec": {
            "type": "NodePort",
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"}],
        },
    },
    "shop/web": {
        "metadata": {"name": "web", "namespace": "shop", "uid": "web-uid"},
        "spec": {
            "type": "NodePort",
            "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30081, "protocol": "TCP"}],
        },
    },
    "shop/dns": {
        "metadata": {"name": "dns", "namespace": "shop", "uid": "dns-uid"},
        "spec": {
            "type": "NodePort",
            "ports": [{"port": 53, "targetPort": 53, "nodePort": 30053, "protocol": "UDP"}],
        },
    },
}


def route(kind: str, name: str, backends: list[dict[str, Any]], **spec: Any) -> Route:
    return Route(
        kind,
        {
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"parentRefs": [{"name": "web"}], "rules": [{"backendRefs": backends}], **spec},
        },
    )


async def build(
    lb_type: LoadBalancerType,
    listeners: list[dict[str, Any]],
    routes: list[Route],
    lb_spec: dict[str, Any] | None = None,
    config: ControllerSettings | None = None,
    resolver: Resolver | None = None,
) -> GatewayBuild:
    parsed = [Listener.parse(raw) for raw in listeners]
    builder = GatewayModelBuilder(
        config or settings(), resolver or Resolver(), SERVICES.get, lambda _ns, _name: None
    )
    lb_config = merge(None, {"metadata": {"name": "cfg", "namespace": "shop"}, "spec": lb_spec or {}})
    return await builder.build(
        GATEWAY,
        lb_type,
        lb_config,
        parsed,
        attach(GATEWAY, parsed, routes, lambda _n: None),
        StackTags("my-cluster", GATEWAY_ALB_TAG_PREFIX, "shop/web"),
    )


HTTP_80 = [{"name": "http", "protocol": "HTTP", "port": 80}]


async def test_managed_sg_opens_listener_ports_to_everyone_by_default_and_uses_the_backend_sg() -> None:
    built = await build(
        LoadBalancerType.APPLICATION, HTTP_80, [route("HTTPRoute", "api", [{"name": "api", "port": 80}])]
    )
    model = built.model
    assert model.security_group_refs == (MANAGED_SG_REF, BACKEND_SG_REF) and model.needs_backend_sg
    assert model.managed_sg is not None
    assert model.managed_sg.ingress == (Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0")),)
    [binding] = model.target_group_bindings
    assert binding.networking is not None and binding.networking.security_group_refs == frozenset(
        {BACKEND_SG_REF}
    )


async def test_source_ranges_and_prefixes_replace_the_default_and_ipv6_needs_dualstack() -> None:
    spec = {"sourceRanges": ["10.0.0.0/8", "2001:db8::/32"], "securityGroupPrefixes": ["pl-1"]}
    ipv4 = await build(LoadBalancerType.APPLICATION, HTTP_80, [], spec)
    assert ipv4.model.managed_sg is not None
    assert ipv4.model.managed_sg.ingress == (
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),
        Rule.of("tcp", 80, 80, PrefixListSource("pl-1")),
    )
    dual = await build(LoadBalancerType.APPLICATION, HTTP_80, [], {**spec, "ipAddressType": "dualstack"})
    assert dual.model.managed_sg is not None
    assert Rule.of("tcp", 80, 80, Ipv6CidrSource("2001:db8::/32")) in dual.model.managed_sg.ingress


async def test_custom_sgs_by_id_and_name_without_and_with_backend_rule_management() -> None:
    resolver = Resolver({"my-frontend": "sg-0frontend"})
    plain = await build(
        LoadBalancerType.APPLICATION,
        HTTP_80,
        [route("HTTPRoute", "api", [{"name": "api", "port": 80}])],
        {"securityGroups": ["sg-0abc", "my-frontend"]},
        resolver=resolver,
    )
    assert plain.model.managed_sg is None and not plain.model.needs_backend_sg
    assert plain.model.security_group_refs == ("sg-0abc", "sg-0frontend")
    assert plain.model.target_group_bindings[0].networking is None
    managed = await build(
        LoadBalancerType.APPLICATION,
        HTTP_80,
        [route("HTTPRoute", "api", [{"name": "api", "port": 80}])],
        {"securityGroups": ["sg-0abc"], "manageBackendSecurityGroupRules": True},
        resolver=resolver,
    )
    assert managed.model.security_group_refs == ("sg-0abc", BACKEND_SG_REF) and managed.model.needs_backend_sg
    assert managed.model.target_group_bindings[0].networking is not None


async def test_unknown_custom_sg_is_a_retryable_error_naming_the_configuration() -> None:
    with pytest.raises(UnresolvedAnnotationError) as caught:
        await build(LoadBalancerType.APPLICATION, HTTP_80, [], {"securityGroups": ["nosuch"]})
    assert caught.value.retryable
    assert "LoadBalancerConfiguration shop/cfg" in str(caught.value) and "nosuch" in str(caught.value)


async def test_backend_rule_management_needs_the_backend_sg_feature() -> None:
    with pytest.raises(InvalidObjectError, match="backendSG feature is required"):
        await build(
            LoadBalancerType.APPLICATION,
            HTTP_80,
            [],
            {"securityGroups": ["sg-0abc"], "manageBackendSecurityGroupRules": True},
            config=settings(enable_backend_security_group=False),
        )


async def test_without_the_backend_sg_the_managed_sg_sources_the_node_rules() -> None:
    built = await build(
        LoadBalancerType.APPLICATION,
        HTTP_80,
        [route("HTTPRoute", "api", [{"name": "api", "port": 80}])],
        config=settings(enable_backend_security_group=False),
    )
    assert built.model.security_group_refs == (MANAGED_SG_REF,) and not built.model.needs_backend_sg
    networking = built.model.target_group_bindings[0].networking
    assert networking is not None and networking.security_group_refs == frozenset({MANAGED_SG_REF})


async def test_nlb_udp_listener_gets_udp_rules_and_disable_security_group_drops_them_all() -> None:
    listeners = [
        {"name": "dns", "protocol": "UDP", "port": 53},
        {"name": "api", "protocol": "TCP", "port": 80},
    ]
    routes = [
        route("UDPRoute", "dns", [{"name": "dns", "port": 53}]),
        route("TCPRoute", "api", [{"name": "api", "port": 80}]),
    ]
    built = await build(LoadBalancerType.NETWORK, listeners, routes)
    assert built.model.managed_sg is not None
    assert built.model.managed_sg.ingress == (
        Rule.of("udp", 53, 53, Ipv4CidrSource("0.0.0.0/0")),
        Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0")),
    )
    assert [(ls.port, ls.protocol) for ls in built.model.listeners] == [(53, "UDP"), (80, "TCP")]
    assert all(isinstance(ls.default_action, ForwardAction) for ls in built.model.listeners)
    udp_group = next(tg for tg in built.model.target_groups if tg.protocol == "UDP")
    assert udp_group.port == 30053 and udp_group.health_check.protocol == "TCP"
    disabled = await build(LoadBalancerType.NETWORK, listeners, routes, {"disableSecurityGroup": True})
    assert disabled.model.managed_sg is None and disabled.model.security_group_refs == ()
    assert not disabled.model.needs_backend_sg


async def test_missing_backend_answers_500_and_is_reported_per_route() -> None:
    built = await build(
        LoadBalancerType.APPLICATION,
        HTTP_80,
        [
            route("HTTPRoute", "api", [{"name": "api", "port": 80}]),
            route("HTTPRoute", "gone", [{"name": "absent", "port": 80}]),
        ],
    )
    [listener] = built.model.listeners
    actions = {rule.action.__class__ for rule in listener.rules}
    assert actions == {ForwardAction, FixedResponseAction}
    assert [u.reason for u in built.unresolved["shop/gone"]] == [REASON_BACKEND_NOT_FOUND]
    assert "shop/api" not in built.unresolved
    assert built.services == frozenset({"shop/api", "shop/absent"})


async def test_conflicting_listener_protocols_and_https_without_certificate_are_refused() -> None:
    with pytest.raises(InvalidObjectError, match="already used with protocol HTTP"):
        await build(
            LoadBalancerType.APPLICATION,
            [*HTTP_80, {"name": "https", "protocol": "HTTPS", "port": 80}],
            [],
        )
    with pytest.raises(InvalidObjectError, match="needs a certificate"):
        await build(LoadBalancerType.APPLICATION, [{"name": "https", "protocol": "HTTPS", "port": 443}], [])
    with pytest.raises(ModelBuildError, match="must be one of TCP, UDP, TLS"):
        await build(LoadBalancerType.NETWORK, HTTP_80, [])


async def test_https_listener_takes_certificates_and_policy_from_listener_configurations() -> None:
    built = await build(
        LoadBalancerType.APPLICATION,
        [{"name": "https", "protocol": "HTTPS", "port": 443}],
        [],
        {
            "listenerConfigurations": [
                {"protocolPort": "HTTPS:443", "defaultCertificate": "arn:a", "certificates": ["arn:b"]}
            ]
        },
    )
    [listener] = built.model.listeners
    assert listener.certificate_arns == ("arn:a", "arn:b")
    assert listener.ssl_policy == settings().default_ssl_policy


async def test_names_follow_upstream_formulas() -> None:
    built = await build(
        LoadBalancerType.APPLICATION, HTTP_80, [route("HTTPRoute", "api", [{"name": "api", "port": 80}])]
    )
    assert built.model.load_balancer.name.startswith("k8s-shop-web-")
    assert built.model.managed_sg is not None and built.model.managed_sg.name.startswith("k8s-shop-web-")
    [group] = built.model.target_groups
    assert group.name.startswith("k8s-shop-api-") and len(group.name) == len("k8s-shop-api-") + 10
    assert group.resource_id == "shop/web:shop-api:HTTPRoute-shop-api:80"
    with pytest.raises(InvalidObjectError, match="cannot be longer than 32 characters"):
        await build(LoadBalancerType.APPLICATION, HTTP_80, [], {"loadBalancerName": "x" * 33})


async def test_nlb_tls_listener_forwards_a_tls_route_over_tcp_with_its_certificate() -> None:
    built = await build(
        LoadBalancerType.NETWORK,
        [{"name": "tls", "protocol": "TLS", "port": 443}],
        [route("TLSRoute", "secure", [{"name": "api", "port": 80}])],
        {
            "listenerConfigurations": [
                {"protocolPort": "TLS:443", "defaultCertificate": "arn:cert", "alpnPolicy": "HTTP2Preferred"}
            ]
        },
    )
    [listener] = built.model.listeners
    assert (listener.protocol, listener.certificate_arns, listener.alpn_policy) == (
        "TLS",
        ("arn:cert",),
        "HTTP2Preferred",
    )
    [group] = built.model.target_groups
    assert group.protocol == "TCP" and group.health_check.protocol == "TCP"


async def test_weighted_backends_become_one_weighted_forward_and_zero_weights_are_left_out() -> None:
    built = await build(
        LoadBalancerType.APPLICATION,
        HTTP_80,
        [
            route(
                "HTTPRoute",
                "canary",
                [{"name": "api", "port": 80, "weight": 3}, {"name": "web", "port": 80, "weight": 1}],
            ),
            route(
                "HTTPRoute",
                "only",
                [{"name": "api", "port": 80, "weight": 90}, {"name": "web", "port": 80, "weight": 0}],
            ),
            route(
                "HTTPRoute",
                "twice",
                [{"name": "web", "port": 80, "weight": 2}, {"name": "web", "port": 80, "weight": 5}],
            ),
        ],
    )
    [listener] = built.model.listeners
    actions = [rule.action for rule in listener.rules if isinstance(rule.action, ForwardAction)]
    assert len(actions) == 3
    weighted = [a for a in actions if a.target_groups]
    assert [tuple(t.weight for t in a.target_groups) for a in weighted] == [(3, 1)]
    # Zero weights are left out; the same Service port twice is one target group.
    assert sum(1 for a in actions if not a.target_groups) == 2
