"""NLB health-check annotations (upstream's buildTargetGroupHealthCheckConfig table), target-group
and load-balancer attributes (with the legacy access-log and cross-zone annotations)."""

from __future__ import annotations

import pytest
from service_factories import NLB_IP, build, lb_service, make_config, port

from controller.annotations import (
    SVC_ACCESS_LOG_ENABLED,
    SVC_ACCESS_LOG_S3_BUCKET_NAME,
    SVC_ACCESS_LOG_S3_BUCKET_PREFIX,
    SVC_CROSS_ZONE_ENABLED,
    SVC_HEALTHCHECK_HEALTHY_THRESHOLD,
    SVC_HEALTHCHECK_INTERVAL,
    SVC_HEALTHCHECK_PATH,
    SVC_HEALTHCHECK_PORT,
    SVC_HEALTHCHECK_PROTOCOL,
    SVC_HEALTHCHECK_SUCCESS_CODES,
    SVC_HEALTHCHECK_TIMEOUT,
    SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD,
    SVC_LOAD_BALANCER_ATTRIBUTES,
    SVC_TARGET_GROUP_ATTRIBUTES,
    InvalidAnnotationError,
    svc_port_target_group_attributes,
)
from controller.model import HealthCheckSpec, NetworkingPort

ALL = {
    SVC_HEALTHCHECK_PROTOCOL: "HTTP",
    SVC_HEALTHCHECK_PORT: "8888",
    SVC_HEALTHCHECK_PATH: "/healthz",
    SVC_HEALTHCHECK_INTERVAL: "10",
    SVC_HEALTHCHECK_TIMEOUT: "30",
    SVC_HEALTHCHECK_HEALTHY_THRESHOLD: "2",
    SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD: "2",
    SVC_HEALTHCHECK_SUCCESS_CODES: "200-220,231,250-300,301,302",
}


async def test_default_config() -> None:
    model = await build(lb_service())
    assert model.target_groups[0].health_check == HealthCheckSpec(
        port="traffic-port",
        protocol="TCP",
        path=None,
        interval_seconds=10,
        timeout_seconds=10,
        healthy_threshold=3,
        unhealthy_threshold=3,
        matcher=None,
    )
    assert model.target_groups[0].attributes == {}
    assert model.load_balancer.attributes == {}


async def test_with_annotations() -> None:
    model = await build(lb_service(annotations=ALL))
    assert model.target_groups[0].health_check == HealthCheckSpec(
        port="8888",
        protocol="HTTP",
        path="/healthz",
        interval_seconds=10,
        timeout_seconds=30,
        healthy_threshold=2,
        unhealthy_threshold=2,
        matcher="200-220,231,250-300,301,302",
    )


async def test_default_path_and_matcher_code() -> None:
    check = (
        (await build(lb_service(annotations={SVC_HEALTHCHECK_PROTOCOL: "HTTP"})))
        .target_groups[0]
        .health_check
    )
    assert (check.path, check.matcher, check.timeout_seconds) == ("/", "200-399", 10)


async def test_traffic_policy_local_instance_defaults_and_override() -> None:
    local = {"externalTrafficPolicy": "Local", "healthCheckNodePort": 31223}
    check = (await build(lb_service(**local))).target_groups[0].health_check
    assert check == HealthCheckSpec("31223", "HTTP", "/healthz", 10, 6, 2, 2, "200-399")
    override = {
        SVC_HEALTHCHECK_PROTOCOL: "TCP",
        SVC_HEALTHCHECK_PORT: "8888",
        SVC_HEALTHCHECK_PATH: "/healthz",
        SVC_HEALTHCHECK_INTERVAL: "10",
        SVC_HEALTHCHECK_TIMEOUT: "30",
        SVC_HEALTHCHECK_HEALTHY_THRESHOLD: "5",
        SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD: "5",
    }
    check = (await build(lb_service(annotations=override, **local))).target_groups[0].health_check
    assert check == HealthCheckSpec("8888", "TCP", None, 10, 30, 5, 5, None)


async def test_without_the_advanced_config_gate_timeout_and_codes_keep_their_defaults() -> None:
    config = make_config(feature_gates={"NLBHealthCheckAdvancedConfig": False})
    check = (await build(lb_service(annotations=ALL), config=config)).target_groups[0].health_check
    assert (check.timeout_seconds, check.matcher, check.interval_seconds) == (10, None, 10)


async def test_the_interval_is_part_of_the_target_group_name() -> None:
    """Upstream hashes the health-check interval into the name: changing it replaces the group."""
    first = (await build(lb_service())).target_groups[0].name
    second = (await build(lb_service(annotations={SVC_HEALTHCHECK_INTERVAL: "30"}))).target_groups[0].name
    assert first != second


@pytest.mark.parametrize(
    ("key", "raw", "reason"),
    [
        (SVC_HEALTHCHECK_PORT, "invalid", "failed to resolve healthCheckPort"),
        (SVC_HEALTHCHECK_PROTOCOL, "UDP", "unsupported health check protocol UDP"),
        (
            SVC_HEALTHCHECK_INTERVAL,
            "1O",
            "failed to parse int32 annotation, service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: "
            '1O: strconv.ParseInt: parsing "1O": invalid syntax',
        ),
        (SVC_HEALTHCHECK_INTERVAL, "301", "HealthCheckIntervalSeconds must be within [5, 300]"),
        (SVC_HEALTHCHECK_TIMEOUT, "1", "HealthCheckTimeoutSeconds must be within [2, 120]"),
        (SVC_HEALTHCHECK_HEALTHY_THRESHOLD, "0", "HealthyThresholdCount must be within [2, 10]"),
        (SVC_HEALTHCHECK_UNHEALTHY_THRESHOLD, "-3", "UnhealthyThresholdCount must be within [2, 10]"),
        (SVC_TARGET_GROUP_ATTRIBUTES, "x", "failed to parse stringMap annotation"),
        (SVC_LOAD_BALANCER_ATTRIBUTES, "a=b,,c", "failed to parse stringMap annotation"),
        (
            SVC_LOAD_BALANCER_ATTRIBUTES,
            "dns_record.client_routing_policy=nearest",
            "invalid dns_record.client_routing_policy set in annotation "
            "service.beta.kubernetes.io/aws-load-balancer-attributes: got 'nearest' expected one of "
            "['any_availability_zone', 'partial_availability_zone_affinity', 'availability_zone_affinity']",
        ),
        (SVC_CROSS_ZONE_ENABLED, "yes", "not a boolean"),
        (SVC_ACCESS_LOG_ENABLED, "maybe", "not a boolean"),
    ],
)
async def test_bad_values_name_the_service_the_key_and_the_value(key: str, raw: str, reason: str) -> None:
    with pytest.raises(InvalidAnnotationError) as caught:
        await build(lb_service(annotations={key: raw}))
    error = caught.value
    assert (str(error.object_ref), error.key, error.value) == ("Service default/svc", key, raw)
    assert reason in error.reason


async def test_success_codes_outside_the_nlb_range_are_refused() -> None:
    annotations = {SVC_HEALTHCHECK_PROTOCOL: "HTTP", SVC_HEALTHCHECK_SUCCESS_CODES: "200-600"}
    with pytest.raises(InvalidAnnotationError, match=r"not within \[200, 599\]"):
        await build(lb_service(annotations=annotations))


async def test_target_group_attributes_per_port_override_non_empty_values() -> None:
    annotations = {
        SVC_TARGET_GROUP_ATTRIBUTES: "deregistration_delay.timeout_seconds=120,stickiness.enabled=true",
        svc_port_target_group_attributes(443): "deregistration_delay.timeout_seconds=10,stickiness.enabled=",
    }
    svc = lb_service(annotations=annotations, ports=[port(80, node_port=31080), port(443, node_port=31443)])
    by_port = {tg.resource_id: tg.attributes for tg in (await build(svc)).target_groups}
    assert by_port == {
        "default/svc:80": {"deregistration_delay.timeout_seconds": "120", "stickiness.enabled": "true"},
        "default/svc:443": {"deregistration_delay.timeout_seconds": "10", "stickiness.enabled": "true"},
    }


async def test_load_balancer_attributes_under_the_legacy_annotations() -> None:
    """Upstream merges the access-log and cross-zone annotations first, so they win."""
    annotations = {
        SVC_LOAD_BALANCER_ATTRIBUTES: "deletion_protection.enabled=true,load_balancing.cross_zone.enabled=false",
        SVC_CROSS_ZONE_ENABLED: "true",
        SVC_ACCESS_LOG_ENABLED: "true",
        SVC_ACCESS_LOG_S3_BUCKET_NAME: "logs",
        SVC_ACCESS_LOG_S3_BUCKET_PREFIX: "nlb",
    }
    model = await build(lb_service(annotations=annotations))
    assert model.load_balancer.attributes == {
        "access_logs.s3.enabled": "true",
        "access_logs.s3.bucket": "logs",
        "access_logs.s3.prefix": "nlb",
        "load_balancing.cross_zone.enabled": "true",
        "deletion_protection.enabled": "true",
    }


async def test_access_log_disabled_sets_nothing() -> None:
    annotations = {SVC_ACCESS_LOG_ENABLED: "false", SVC_ACCESS_LOG_S3_BUCKET_NAME: "logs"}
    assert (await build(lb_service(annotations=annotations))).load_balancer.attributes == {}


async def test_custom_health_check_port_gets_its_own_rule() -> None:
    """Instance targets behind an NLB with SGs: the traffic NodePort and the health-check port."""
    model = await build(lb_service(annotations={SVC_HEALTHCHECK_PORT: "31999"}))
    networking = model.target_group_bindings[0].networking
    assert networking is not None
    assert [rule.ports for rule in networking.ingress] == [
        (NetworkingPort("TCP", 31080),),
        (NetworkingPort("TCP", 31999),),
    ]


async def test_named_health_check_port_of_ip_targets_opens_the_pods_port() -> None:
    """ip targets: a named health-check port resolves to that Service port's numeric targetPort,
    and the pod ENI SG gets a rule for it next to the traffic targetPort."""
    ports = [port(80, target=8080, name="web"), port(9000, target=9901, name="admin")]
    svc = lb_service(annotations={**NLB_IP, SVC_HEALTHCHECK_PORT: "admin"}, ports=ports)
    model = await build(svc)
    binding = next(b for b in model.target_group_bindings if b.service_port == 80)
    assert model.target_groups[0].health_check.port == "9901"
    assert binding.networking is not None
    assert [rule.ports for rule in binding.networking.ingress] == [
        (NetworkingPort("TCP", 8080),),
        (NetworkingPort("TCP", 9901),),
    ]
