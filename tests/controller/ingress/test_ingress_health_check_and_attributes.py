"""ALB health-check annotations, target-group and load-balancer attributes (upstream's
model_build_target_group / model_build_load_balancer_attributes tables and their error texts)."""

from __future__ import annotations

from typing import Any

import pytest
from ingress_factories import build, explicit_group, implicit_group, ingress, service

from controller.annotations import (
    ING_BACKEND_PROTOCOL_VERSION,
    ING_HEALTHCHECK_INTERVAL_SECONDS,
    ING_HEALTHCHECK_PATH,
    ING_HEALTHCHECK_PORT,
    ING_HEALTHCHECK_PROTOCOL,
    ING_HEALTHCHECK_TIMEOUT_SECONDS,
    ING_HEALTHY_THRESHOLD_COUNT,
    ING_LOAD_BALANCER_ATTRIBUTES,
    ING_SUCCESS_CODES,
    ING_TARGET_GROUP_ATTRIBUTES,
    ING_UNHEALTHY_THRESHOLD_COUNT,
    ConflictingGroupSettingError,
    InvalidAnnotationError,
)
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId
from controller.model import HealthCheckSpec, NetworkingPort


async def test_defaults_are_upstreams() -> None:
    model = await build(implicit_group(ingress()))
    (target_group,) = model.target_groups
    assert target_group.health_check == HealthCheckSpec(
        port="traffic-port",
        protocol="HTTP",
        path="/",
        interval_seconds=15,
        timeout_seconds=5,
        healthy_threshold=2,
        unhealthy_threshold=2,
        matcher="200",
    )
    assert target_group.attributes == {}
    assert model.load_balancer.attributes == {}


async def test_grpc_defaults_are_upstreams() -> None:
    model = await build(implicit_group(ingress(annotations={ING_BACKEND_PROTOCOL_VERSION: "GRPC"})))
    check = model.target_groups[0].health_check
    assert (check.path, check.matcher) == ("/AWS.ALB/healthcheck", "12")


async def test_every_health_check_annotation_is_used() -> None:
    annotations = {
        ING_HEALTHCHECK_PORT: "8443",
        ING_HEALTHCHECK_PROTOCOL: "HTTPS",
        ING_HEALTHCHECK_PATH: "/ping",
        ING_HEALTHCHECK_INTERVAL_SECONDS: "30",
        ING_HEALTHCHECK_TIMEOUT_SECONDS: "10",
        ING_HEALTHY_THRESHOLD_COUNT: "5",
        ING_UNHEALTHY_THRESHOLD_COUNT: "7",
        ING_SUCCESS_CODES: "200-300",
    }
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.target_groups[0].health_check == HealthCheckSpec(
        port="8443",
        protocol="HTTPS",
        path="/ping",
        interval_seconds=30,
        timeout_seconds=10,
        healthy_threshold=5,
        unhealthy_threshold=7,
        matcher="200-300",
    )


@pytest.mark.parametrize(
    ("version", "codes"),
    [("HTTP1", "200-300"), ("HTTP2", "200-300"), ("GRPC", "0"), ("HTTP1", "200,202,250-299")],
)
async def test_success_codes_as_upstreams_table(version: str, codes: str) -> None:
    annotations = {ING_BACKEND_PROTOCOL_VERSION: version, ING_SUCCESS_CODES: codes}
    model = await build(implicit_group(ingress(annotations=annotations)))
    assert model.target_groups[0].health_check.matcher == codes


async def test_service_health_check_annotations_win_over_the_ingress() -> None:
    svc = service(annotations={ING_HEALTHCHECK_INTERVAL_SECONDS: "20", ING_SUCCESS_CODES: "204"})
    annotations = {ING_HEALTHCHECK_INTERVAL_SECONDS: "40", ING_SUCCESS_CODES: "200"}
    model = await build(implicit_group(ingress(annotations=annotations)), [svc])
    check = model.target_groups[0].health_check
    assert (check.interval_seconds, check.matcher) == (20, "204")


@pytest.mark.parametrize(
    ("key", "raw", "reason"),
    [
        (
            ING_HEALTHCHECK_INTERVAL_SECONDS,
            "ten",
            "failed to parse int32 annotation, alb.ingress.kubernetes.io/healthcheck-interval-seconds: ten: "
            'strconv.ParseInt: parsing "ten": invalid syntax',
        ),
        (
            ING_HEALTHY_THRESHOLD_COUNT,
            "99999999999",
            "failed to parse int32 annotation, alb.ingress.kubernetes.io/healthy-threshold-count: 99999999999: "
            'strconv.ParseInt: parsing "99999999999": value out of range',
        ),
        (ING_HEALTHCHECK_INTERVAL_SECONDS, "4", "HealthCheckIntervalSeconds must be within [5, 300]"),
        (ING_HEALTHCHECK_TIMEOUT_SECONDS, "121", "HealthCheckTimeoutSeconds must be within [2, 120]"),
        (ING_HEALTHY_THRESHOLD_COUNT, "1", "HealthyThresholdCount must be within [2, 10]"),
        (ING_UNHEALTHY_THRESHOLD_COUNT, "11", "UnhealthyThresholdCount must be within [2, 10]"),
        (ING_SUCCESS_CODES, "200-", "success codes must be codes or ranges"),
        (ING_SUCCESS_CODES, "500", "success code 500 is not within [200, 499]"),
        (ING_SUCCESS_CODES, "300-200", "success code 300-200 is not within [200, 499]"),
        (ING_TARGET_GROUP_ATTRIBUTES, "a=b,c", "failed to parse stringMap annotation"),
        (ING_LOAD_BALANCER_ATTRIBUTES, "idle_timeout", "failed to parse stringMap annotation"),
    ],
)
async def test_bad_values_name_the_ingress_the_key_and_the_value(key: str, raw: str, reason: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(implicit_group(ingress(annotations={key: raw})))
    error = caught.value
    assert (str(error.object_ref), error.key, error.value) == ("Ingress ns-1/ing-1", key, raw)
    assert reason in error.reason


async def test_grpc_success_codes_are_checked_against_grpc_range() -> None:
    annotations = {ING_BACKEND_PROTOCOL_VERSION: "GRPC", ING_SUCCESS_CODES: "200"}
    with pytest.raises(InvalidAnnotationError, match=r"not within \[0, 99\]"):
        await build(implicit_group(ingress(annotations=annotations)))


async def test_target_group_attributes_from_service_win_and_are_kept_as_written() -> None:
    svc = service(
        annotations={ING_TARGET_GROUP_ATTRIBUTES: "stickiness.enabled=true,stickiness.type=lb_cookie"}
    )
    raw = "deregistration_delay.timeout_seconds=30"
    model = await build(implicit_group(ingress(annotations={ING_TARGET_GROUP_ATTRIBUTES: raw})), [svc])
    assert model.target_groups[0].attributes == {"stickiness.enabled": "true", "stickiness.type": "lb_cookie"}
    model = await build(implicit_group(ingress(annotations={ING_TARGET_GROUP_ATTRIBUTES: raw})))
    assert model.target_groups[0].attributes == {"deregistration_delay.timeout_seconds": "30"}


async def test_load_balancer_attributes_merge_across_the_group() -> None:
    first = ingress("a", annotations={ING_LOAD_BALANCER_ATTRIBUTES: "idle_timeout.timeout_seconds=120"})
    second = ingress(
        "b",
        annotations={
            ING_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=true,idle_timeout.timeout_seconds=120"
        },
    )
    model = await build(explicit_group("g", first, second))
    assert model.load_balancer.attributes == {
        "idle_timeout.timeout_seconds": "120",
        "deletion_protection.enabled": "true",
    }


async def test_conflicting_load_balancer_attributes_name_both_ingresses() -> None:
    first = ingress("a", annotations={ING_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=true"})
    second = ingress("b", annotations={ING_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=false"})
    with pytest.raises(ConflictingGroupSettingError) as caught:
        await build(explicit_group("g", first, second))
    assert caught.value.setting == "load balancer attributes deletion_protection.enabled"
    assert [(str(ref), value) for ref, value in caught.value.values] == [
        ("Ingress ns-1/a", "true"),
        ("Ingress ns-1/b", "false"),
    ]


async def test_ingress_class_params_attributes_resolve_conflicts_and_win() -> None:
    """Upstream: a conflict on a key the IngressClassParams set is no error, and its value wins."""
    params: dict[str, Any] = {
        "metadata": {"name": "params"},
        "spec": {
            "loadBalancerAttributes": [
                {"key": "deletion_protection.enabled", "value": "false"},
                {"key": "routing.http2.enabled", "value": "false"},
            ]
        },
    }
    members = [
        ClassifiedIngress(
            ingress(name, annotations={ING_LOAD_BALANCER_ATTRIBUTES: f"deletion_protection.enabled={value}"}),
            params,
        )
        for name, value in (("a", "true"), ("b", "false"))
    ]
    group = IngressGroup(IngressGroupId.explicit("g"), tuple(members))
    model = await build(group)
    assert model.load_balancer.attributes == {
        "deletion_protection.enabled": "false",
        "routing.http2.enabled": "false",
    }


async def test_custom_health_check_port_is_opened_next_to_the_traffic_port() -> None:
    """Instance targets: the traffic NodePort and the health-check port, one rule each."""
    model = await build(implicit_group(ingress(annotations={ING_HEALTHCHECK_PORT: "31999"})))
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert [rule.ports for rule in networking.ingress] == [
        (NetworkingPort("TCP", 32768),),
        (NetworkingPort("TCP", 31999),),
    ]
