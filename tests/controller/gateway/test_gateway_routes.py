"""Route attachment (Gateway API rules) and HTTPRoute/GRPCRoute rules in precedence order."""

from __future__ import annotations

from typing import Any

import pytest

from controller.annotations import InvalidObjectError
from controller.gateway.http_rules import routed_rules
from controller.gateway.routes import (
    REASON_NO_MATCHING_PARENT,
    REASON_NOT_ALLOWED_BY_LISTENERS,
    Listener,
    Route,
    attach,
    gateway_keys_of,
)
from controller.model.load_balancer import QueryStringPair, RuleCondition

GATEWAY = {"metadata": {"name": "gw", "namespace": "infra"}}


def route(
    kind: str, name: str, namespace: str = "infra", created: str = "2026-01-01T00:00:00Z", **spec: Any
) -> Route:
    return Route(
        kind, {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": spec}
    )


LISTENERS = [
    Listener.parse({"name": "http", "protocol": "HTTP", "port": 80}),
    Listener.parse(
        {"name": "shared", "protocol": "HTTP", "port": 8080, "allowedRoutes": {"namespaces": {"from": "All"}}}
    ),
    Listener.parse(
        {
            "name": "selected",
            "protocol": "HTTP",
            "port": 9090,
            "allowedRoutes": {
                "namespaces": {"from": "Selector", "selector": {"matchLabels": {"team": "web"}}}
            },
        }
    ),
    Listener.parse({"name": "tcp", "protocol": "TCP", "port": 5000}),
]


def labels(name: str) -> dict[str, str] | None:
    return {"apps": {"team": "web"}, "other": {}}.get(name)


def test_attachment_by_namespace_section_port_and_kind() -> None:
    same = route("HTTPRoute", "same", parentRefs=[{"name": "gw"}])
    other_ns = route("HTTPRoute", "apps", "apps", parentRefs=[{"name": "gw", "namespace": "infra"}])
    unlabelled = route("HTTPRoute", "other", "other", parentRefs=[{"name": "gw", "namespace": "infra"}])
    by_section = route("HTTPRoute", "section", parentRefs=[{"name": "gw", "sectionName": "shared"}])
    by_port = route("TCPRoute", "tcp", parentRefs=[{"name": "gw", "port": 5000}])
    wrong_kind = route("TCPRoute", "tcp-on-http", parentRefs=[{"name": "gw", "sectionName": "http"}])
    missing_section = route("HTTPRoute", "nosuch", parentRefs=[{"name": "gw", "sectionName": "nosuch"}])
    elsewhere = route("HTTPRoute", "elsewhere", parentRefs=[{"name": "another-gw"}])
    attached = attach(
        GATEWAY,
        LISTENERS,
        [same, other_ns, unlabelled, by_section, by_port, wrong_kind, missing_section, elsewhere],
        labels,
    )
    listeners = {a.route.key: a.listeners for a in attached.routes}
    assert listeners["infra/same"] == ("http", "shared")
    assert listeners["apps/apps"] == ("shared", "selected")
    assert listeners["other/other"] == ("shared",)
    assert listeners["infra/section"] == ("shared",)
    assert listeners["infra/tcp"] == ("tcp",)
    assert "infra/elsewhere" not in listeners
    reasons = {a.route.key: a.reason for a in attached.routes}
    assert reasons["infra/tcp-on-http"] == REASON_NOT_ALLOWED_BY_LISTENERS
    assert reasons["infra/nosuch"] == REASON_NO_MATCHING_PARENT
    assert attached.attached_count("shared") == 4 and attached.attached_count("http") == 1


def test_gateway_keys_default_to_the_route_namespace_and_skip_other_kinds() -> None:
    obj = {
        "metadata": {"name": "r", "namespace": "apps"},
        "spec": {
            "parentRefs": [
                {"name": "a"},
                {"name": "b", "namespace": "infra"},
                {"kind": "Service", "name": "s"},
            ]
        },
    }
    assert gateway_keys_of(obj) == {"apps/a", "infra/b"}


def test_http_rules_conditions_as_upstream_builds_them() -> None:
    web = route(
        "HTTPRoute",
        "web",
        hostnames=["shop.example.com"],
        rules=[
            {
                "matches": [
                    {
                        "path": {"type": "PathPrefix", "value": "/api/"},
                        "headers": [{"name": "x-env", "value": "a\\,b,c"}],
                        "queryParams": [{"name": "v", "value": "2"}],
                        "method": "GET",
                    }
                ]
            }
        ],
    )
    [rule] = routed_rules([web])
    assert rule.conditions == (
        RuleCondition("host-header", ("shop.example.com",)),
        RuleCondition("path-pattern", ("/api", "/api/*")),
        RuleCondition("http-header", ("a,b", "c"), http_header_name="x-env"),
        RuleCondition("query-string", query_strings=(QueryStringPair("v", "2"),)),
        RuleCondition("http-request-method", ("GET",)),
    )


def test_precedence_hostname_then_path_kind_and_length_then_age() -> None:
    catch_all = route(
        "HTTPRoute", "a-catch", rules=[{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]
    )
    prefix = route(
        "HTTPRoute", "b-prefix", rules=[{"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}]}]
    )
    exact = route("HTTPRoute", "c-exact", rules=[{"matches": [{"path": {"type": "Exact", "value": "/"}}]}])
    wildcard = route("HTTPRoute", "d-wild", hostnames=["*.example.com"], rules=[{}])
    concrete = route("HTTPRoute", "e-host", hostnames=["a.example.com"], rules=[{}])
    older = route(
        "HTTPRoute",
        "z-older",
        created="2025-01-01T00:00:00Z",
        rules=[{"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}]}],
    )
    order = [r.route.key for r in routed_rules([catch_all, prefix, exact, wildcard, concrete, older])]
    assert order == [
        "infra/e-host",
        "infra/d-wild",
        "infra/c-exact",
        "infra/z-older",
        "infra/b-prefix",
        "infra/a-catch",
    ]


def test_grpc_method_becomes_a_path() -> None:
    grpc = route(
        "GRPCRoute",
        "grpc",
        rules=[
            {
                "matches": [
                    {"method": {"service": "shop.Cart", "method": "Add"}},
                    {"method": {"service": "shop.Cart"}},
                ]
            }
        ],
    )
    paths = [r.conditions[0].values for r in routed_rules([grpc])]
    assert paths == [("/shop.Cart/Add",), ("/shop.Cart/*",)]


def test_prefix_with_wildcard_is_refused_naming_the_route() -> None:
    bad = route("HTTPRoute", "bad", rules=[{"matches": [{"path": {"type": "PathPrefix", "value": "/a*"}}]}])
    with pytest.raises(InvalidObjectError, match="HTTPRoute infra/bad"):
        routed_rules([bad])
