"""Listener rules built from ``actions.<name>``, ``conditions.<name>`` and ``ssl-redirect`` (upstream
``model_build_listener_rules.go``, ``model_build_listener.go``, ``model_builder.go``, ``rule_optimizer.go``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ingress_factories import (
    backend,
    build,
    explicit_group,
    http_rule,
    implicit_group,
    ingress,
    path,
    service,
)

from controller.annotations import (
    ING_CERTIFICATE_ARN,
    ING_LISTEN_PORTS,
    ING_SSL_REDIRECT,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
)
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId
from controller.ingress.reconciler import backend_service_names
from controller.ingress.rule_optimizer import Rule, optimize_rules
from controller.model import (
    FixedResponseAction,
    ForwardAction,
    NetworkingPort,
    RedirectAction,
    RuleCondition,
    TargetGroupStickiness,
    TargetGroupTuple,
)

ACTIONS = "alb.ingress.kubernetes.io/actions."
CONDITIONS = "alb.ingress.kubernetes.io/conditions."
CERT = "arn:aws:acm:us-west-2:123456789012:certificate/abc"
HTTP_AND_HTTPS = json.dumps([{"HTTP": 80}, {"HTTPS": 443}])
WEIGHTED = json.dumps(
    {
        "type": "forward",
        "forwardConfig": {
            "targetGroups": [
                {"serviceName": "blue", "servicePort": "80", "weight": 40},
                {"serviceName": "green", "servicePort": 80, "weight": 60},
            ],
            "targetGroupStickinessConfig": {"enabled": True, "durationSeconds": 200},
        },
    }
)
SSL_REDIRECT_ACTION = json.dumps(
    {"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
)


def use_annotation(value: str, name: str, path_type: str = "Prefix") -> dict[str, Any]:
    return path(value, name, "use-annotation", path_type)


def blue_green() -> list[dict[str, Any]]:
    return [
        service("blue", ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31001}]),
        service("green", ports=[{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31002}]),
    ]


async def test_weighted_forward_builds_a_target_group_and_binding_per_service() -> None:
    member = ingress(
        annotations={ACTIONS + "weighted": WEIGHTED}, rules=[http_rule([use_annotation("/", "weighted")])]
    )
    model = await build(implicit_group(member), blue_green())
    assert [tg.resource_id for tg in model.target_groups] == ["ns-1/ing-1-blue:80", "ns-1/ing-1-green:80"]
    assert [tg.port for tg in model.target_groups] == [31001, 31002]
    (rule,) = model.listeners[0].rules
    assert rule.action == ForwardAction(
        target_groups=(
            TargetGroupTuple("ns-1/ing-1-blue:80", weight=40),
            TargetGroupTuple("ns-1/ing-1-green:80", weight=60),
        ),
        stickiness=TargetGroupStickiness(True, 200),
    )
    # Both Services' NodePorts are opened to the LB's SG through their bindings.
    ports = [b.networking.ingress[0].ports for b in model.target_group_bindings if b.networking]
    assert [(b.service_name, b.service_port) for b in model.target_group_bindings] == [
        ("blue", 80),
        ("green", 80),
    ]
    assert ports == [(NetworkingPort("TCP", 31001),), (NetworkingPort("TCP", 31002),)]


async def test_forward_to_a_target_group_arn_and_unsupported_name() -> None:
    arn = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/existing/0123456789abcdef"
    member = ingress(
        annotations={ACTIONS + "existing": json.dumps({"type": "forward", "targetGroupARN": arn})},
        rules=[http_rule([use_annotation("/", "existing")])],
    )
    model = await build(implicit_group(member), [])
    assert model.listeners[0].rules[0].action == ForwardAction(
        target_groups=(TargetGroupTuple(target_group_arn=arn),)
    )
    assert model.target_groups == ()
    by_name = json.dumps({"type": "forward", "targetGroupName": "existing"})
    member = ingress(
        annotations={ACTIONS + "existing": by_name}, rules=[http_rule([use_annotation("/", "existing")])]
    )
    with pytest.raises(InvalidAnnotationError, match="targetGroupName existing is not supported") as caught:
        await build(implicit_group(member), [])
    assert (caught.value.key, caught.value.value) == (ACTIONS + "existing", by_name)


async def test_fixed_response_redirect_and_missing_actions_on_rules_and_default_backend() -> None:
    fixed = json.dumps(
        {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503", "messageBody": "down"}}
    )
    redirect = json.dumps(
        {"type": "redirect", "redirectConfig": {"host": "example.org", "statusCode": "HTTP_302"}}
    )
    member = ingress(
        annotations={ACTIONS + "down": fixed, ACTIONS + "moved": redirect},
        rules=[http_rule([use_annotation("/down", "down"), use_annotation("/gone", "missing")])],
        default_backend=backend("moved", "use-annotation"),
    )
    model = await build(implicit_group(member), [])
    listener = model.listeners[0]
    assert [rule.action for rule in listener.rules] == [
        FixedResponseAction("503", None, "down"),
        FixedResponseAction("503", "text/plain", "Backend action does not exist"),
    ]
    assert listener.default_action == RedirectAction("HTTP_302", host="example.org")
    assert model.target_groups == ()


async def test_conditions_come_first_then_merged_host_and_path() -> None:
    extra = json.dumps(
        [
            {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes"]}},
            {"field": "host-header", "hostHeaderConfig": {"values": ["anno.example.com"]}},
            {"field": "path-pattern", "pathPatternConfig": {"values": ["/anno"]}},
            {"field": "source-ip", "sourceIPConfig": {"values": ["10.0.0.0/8"]}},
        ]
    )
    member = ingress(
        annotations={CONDITIONS + "svc-1": extra},
        rules=[
            http_rule(
                [path("/app", "svc-1", "http"), path("/other", "svc-2", "http")], host="www.example.com"
            )
        ],
    )
    model = await build(implicit_group(member), [service(), service("svc-2")])
    other, app = model.listeners[0].rules  # the longer prefix first
    assert app.conditions == (
        RuleCondition("http-header", ("yes",), http_header_name="X-Canary"),
        RuleCondition("source-ip", ("10.0.0.0/8",)),
        RuleCondition("host-header", ("www.example.com", "anno.example.com")),
        RuleCondition("path-pattern", ("/app", "/app/*", "/anno")),
    )
    # conditions.svc-1 applies to svc-1's backends only.
    assert [c.field for c in other.conditions] == ["host-header", "path-pattern"]


async def test_conditions_alone_replace_the_default_path_and_regex_cannot_mix_with_the_rule_host() -> None:
    only_header = json.dumps(
        [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "H", "values": ["v"]}}]
    )
    member = ingress(
        annotations={CONDITIONS + "svc-1": only_header},
        rules=[http_rule([path(None, "svc-1", "http", None)])],
    )
    model = await build(implicit_group(member))
    assert model.listeners[0].rules[0].conditions == (
        RuleCondition("http-header", ("v",), http_header_name="H"),
    )

    regex = json.dumps([{"field": "host-header", "hostHeaderConfig": {"regexValues": ["^.+$"]}}])
    member = ingress(
        annotations={CONDITIONS + "svc-1": regex},
        rules=[http_rule([path("/", "svc-1", "http")], host="www.example.com")],
    )
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(member))
    assert (caught.value.key, caught.value.value) == (CONDITIONS + "svc-1", regex)
    assert caught.value.reason == (
        "host condition must specify exactly one of Values and RegexValues, "
        "got both Values [www.example.com] and RegexValues [^.+$]"
    )


async def test_ssl_redirect_makes_http_listeners_redirect_without_rules() -> None:
    member = ingress(
        annotations={ING_LISTEN_PORTS: HTTP_AND_HTTPS, ING_CERTIFICATE_ARN: CERT, ING_SSL_REDIRECT: "443"},
        rules=[http_rule([path("/", "svc-1", "http")])],
    )
    model = await build(implicit_group(member))
    http, https = model.listeners
    assert (http.port, http.protocol, http.rules) == (80, "HTTP", ())
    assert http.default_action == RedirectAction("HTTP_301", protocol="HTTPS", port="443")
    assert (https.port, https.protocol, len(https.rules)) == (443, "HTTPS", 1)
    assert https.default_action == FixedResponseAction("404", "text/plain")


@pytest.mark.parametrize(
    ("raw", "ports", "reason"),
    [
        ("8443", HTTP_AND_HTTPS, "listener does not exist for SSLRedirect port: 8443"),
        ("80", HTTP_AND_HTTPS, "listener protocol non-SSL for SSLRedirect port: 80"),
        ("https", HTTP_AND_HTTPS, "not an integer"),
        ("443", json.dumps([{"HTTP": 80}]), "listener does not exist for SSLRedirect port: 443"),
    ],
)
async def test_invalid_ssl_redirect(raw: str, ports: str, reason: str) -> None:
    member = ingress(annotations={ING_LISTEN_PORTS: ports, ING_CERTIFICATE_ARN: CERT, ING_SSL_REDIRECT: raw})
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(member))
    assert (str(caught.value.object_ref), caught.value.key, caught.value.value) == (
        "Ingress ns-1/ing-1",
        ING_SSL_REDIRECT,
        raw,
    )
    assert caught.value.reason == reason


async def test_conflicting_ssl_redirect_ports_and_class_params_port() -> None:
    a = ingress("a", annotations={ING_LISTEN_PORTS: HTTP_AND_HTTPS, ING_SSL_REDIRECT: "443"})
    b = ingress("b", annotations={ING_LISTEN_PORTS: json.dumps([{"HTTPS": 8443}]), ING_SSL_REDIRECT: "8443"})
    with pytest.raises(ConflictingGroupSettingError, match="sslRedirect port"):
        await build(explicit_group("g", a, b))
    params = {"metadata": {"name": "p"}, "spec": {"sslRedirectPort": "443"}}
    member = ingress(annotations={ING_LISTEN_PORTS: HTTP_AND_HTTPS, ING_SSL_REDIRECT: "8443"})
    group = IngressGroup(IngressGroupId.implicit("ns-1", "ing-1"), (ClassifiedIngress(member, params),))
    model = await build(group)
    assert model.listeners[0].default_action == RedirectAction("HTTP_301", protocol="HTTPS", port="443")


async def test_legacy_ssl_redirect_action_is_optimized_per_listener() -> None:
    # The old pattern: an actions.ssl-redirect backend first, then the real paths, on HTTP and HTTPS.
    member = ingress(
        annotations={ING_LISTEN_PORTS: HTTP_AND_HTTPS, ACTIONS + "ssl-redirect": SSL_REDIRECT_ACTION},
        rules=[
            http_rule(
                [
                    use_annotation("/*", "ssl-redirect", "ImplementationSpecific"),
                    path("/app", "svc-1", "http", "ImplementationSpecific"),
                ]
            )
        ],
    )
    model = await build(implicit_group(member))
    http, https = model.listeners
    # HTTP: the redirect covers every later rule, which could never match.
    assert [type(rule.action) for rule in http.rules] == [RedirectAction]
    # HTTPS: redirecting HTTPS:443 to HTTPS:443 would loop, so that rule is left out.
    assert [(rule.priority, type(rule.action)) for rule in https.rules] == [(1, ForwardAction)]
    # The /app rule is on HTTP (shadowed) and HTTPS: one target group all the same.
    assert len(model.target_groups) == 1


def test_service_index_follows_forward_actions() -> None:
    member = ingress(
        annotations={ACTIONS + "weighted": WEIGHTED},
        rules=[http_rule([use_annotation("/", "weighted"), path("/x", "plain", 80)])],
    )
    assert backend_service_names(member) == {"blue", "green", "plain"}


def test_optimizer_keeps_rules_a_redirect_does_not_cover() -> None:
    redirect = RedirectAction("HTTP_301", protocol="HTTPS", port="443")
    forward = ForwardAction("tg")
    everything = (RuleCondition("path-pattern", ("/*",)),)
    header = (RuleCondition("http-header", ("v",), http_header_name="H"), *everything)
    api = (RuleCondition("host-header", ("a.example.com",)), RuleCondition("path-pattern", ("/api",)))
    # A redirect with any non-host/path condition covers nothing; on HTTPS:443 it would loop.
    rules = [Rule(header, redirect), Rule(api, forward)]
    assert optimize_rules(80, "HTTP", rules) == rules
    assert optimize_rules(443, "HTTPS", rules) == [Rule(api, forward)]
    # A redirect elsewhere (another host) never loops; host-limited redirects cover only their hosts.
    away = RedirectAction("HTTP_302", host="b.example.com")
    only_a = (RuleCondition("host-header", ("a.example.com",)),)
    assert optimize_rules(
        443, "HTTPS", [Rule(only_a, away), Rule(api, forward), Rule(everything, forward)]
    ) == [
        Rule(only_a, away),
        Rule(everything, forward),
    ]


def test_a_members_annotations_are_copied_once() -> None:
    # Every backend's target group and action reads them; a 400-annotation Ingress made that a copy each.
    member = ClassifiedIngress(ingress(annotations={ACTIONS + "weighted": WEIGHTED}))
    assert member.annotations is member.annotations
    assert member.annotations[ACTIONS + "weighted"] == WEIGHTED
