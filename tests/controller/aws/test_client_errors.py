"""AwsClient against moto through the proxy: every retry and error path, with the calls counted."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from controller.aws.client import AwsClient, is_retryable, open_aws_client
from controller.aws.errors import (
    CONNECTION_ERROR,
    PARAM_VALIDATION_ERROR,
    RESPONSE_PARSER_ERROR,
    TIMEOUT_ERROR,
    AwsApiError,
    AwsRetriesExhaustedError,
)
from controller.aws.settings import RetrySettings
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.clock import SteppingClock
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

EC2 = "EC2"
DESCRIBE = "DescribeSecurityGroups"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_throttling_is_retried_then_succeeds(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(
        DESCRIBE, code="RequestLimitExceeded", status=503, message="Request limit exceeded.", times=3
    )

    result = await aws_api.call("ec2", DESCRIBE)

    assert "SecurityGroups" in result
    assert aws_proxy.calls_by_operation()[DESCRIBE] == 4


async def test_elbv2_throttling_is_retried(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(
        "DescribeLoadBalancers", code="Throttling", status=400, message="Rate exceeded", times=2
    )

    result = await aws_api.call("elbv2", "DescribeLoadBalancers")

    assert result["LoadBalancers"] == []
    assert aws_proxy.calls_by_operation()["DescribeLoadBalancers"] == 3


async def test_server_errors_are_retried(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="InternalError", status=500, times=1)
    aws_proxy.faults.fail(DESCRIBE, code="ServiceUnavailable", status=503, times=1)

    await aws_api.call("ec2", DESCRIBE)

    assert aws_proxy.calls_by_operation()[DESCRIBE] == 3


async def test_connection_reset_is_retried(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.reset_connection(DESCRIBE, times=2)

    await aws_api.call("ec2", DESCRIBE)

    assert aws_proxy.calls_by_operation()[DESCRIBE] == 3
    assert [r.outcome for r in aws_proxy.request_log] == ["reset", "reset", "forwarded"]


async def test_slow_answer_times_out_and_is_retried(aws_proxy: AwsProxy) -> None:
    settings = sandbox_settings(aws_proxy.url, attempt_timeout=1.0)
    async with open_aws_client(settings, CollectorRegistry()) as client:
        await client.call("ec2", DESCRIBE)  # the first call after a reset makes moto build the region
        aws_proxy.reset_counts()
        aws_proxy.faults.delay(DESCRIBE, seconds=5.0, times=1)
        await client.call("ec2", DESCRIBE)

    assert aws_proxy.calls_by_operation()[DESCRIBE] == 2
    # the delayed request was cancelled when the client gave up; only the retry was answered
    assert [r.outcome for r in aws_proxy.request_log] == ["forwarded"]


async def test_non_retryable_error_surfaces_at_once_with_its_code(
    aws_api: AwsClient, aws_proxy: AwsProxy, aws_registry: CollectorRegistry
) -> None:
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call("ec2", DESCRIBE, GroupIds=["sg-0000000000000dead"])

    error = caught.value
    assert not isinstance(error, AwsRetriesExhaustedError)
    assert error.code == "InvalidGroup.NotFound"
    assert error.status_code == 400
    assert error.attempts == 1
    assert (error.service, error.operation) == ("ec2", DESCRIBE)
    assert aws_proxy.calls_by_operation()[DESCRIBE] == 1
    labels = {
        "service": EC2,
        "operation": DESCRIBE,
        "status_code": "400",
        "error_code": "InvalidGroup.NotFound",
    }
    assert sample(aws_registry, "aws_api_calls_total", **labels) == 1
    assert sample(aws_registry, "aws_api_requests_total", **labels) == 1


async def test_client_errors_from_faults_are_not_retried(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="UnauthorizedOperation", status=403, message="no", times=5)

    with pytest.raises(AwsApiError) as caught:
        await aws_api.call("ec2", DESCRIBE)

    assert caught.value.code == "UnauthorizedOperation"
    assert aws_proxy.calls_by_operation()[DESCRIBE] == 1


async def test_retries_exhausted_raises_typed_error(aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="RequestLimitExceeded", status=503, times=None)
    settings = sandbox_settings(aws_proxy.url, retry=RetrySettings(max_retries=3, backoff_base=0.001))
    async with open_aws_client(settings, CollectorRegistry()) as client:
        with pytest.raises(AwsRetriesExhaustedError) as caught:
            await client.call("ec2", DESCRIBE)

    assert caught.value.code == "RequestLimitExceeded"
    assert caught.value.attempts == 4
    assert caught.value.status_code == 503
    assert aws_proxy.calls_by_operation()[DESCRIBE] == 4


async def test_connection_failures_exhausted_carry_a_local_code(aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.reset_connection(DESCRIBE, times=None)
    settings = sandbox_settings(aws_proxy.url, retry=RetrySettings(max_retries=2, backoff_base=0.001))
    async with open_aws_client(settings, CollectorRegistry()) as client:
        with pytest.raises(AwsRetriesExhaustedError) as caught:
            await client.call("ec2", DESCRIBE)

    assert caught.value.code == CONNECTION_ERROR
    assert caught.value.status_code is None
    assert aws_proxy.calls_by_operation()[DESCRIBE] == 3


async def test_timeouts_exhausted_carry_a_local_code(aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.delay(DESCRIBE, seconds=5.0, times=None)
    settings = sandbox_settings(
        aws_proxy.url, attempt_timeout=0.3, retry=RetrySettings(max_retries=1, backoff_base=0.001)
    )
    async with open_aws_client(settings, CollectorRegistry()) as client:
        with pytest.raises(AwsRetriesExhaustedError) as caught:
            await client.call("ec2", DESCRIBE)

    assert caught.value.code == TIMEOUT_ERROR
    assert caught.value.attempts == 2


async def test_unimplemented_moto_operation_is_a_typed_error_not_retried(
    aws_api: AwsClient, aws_proxy: AwsProxy
) -> None:
    # moto 5.2.5 answers DescribeTrustStores with an HTML 500 page, which botocore cannot parse.
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call("elbv2", "DescribeTrustStores")

    assert not isinstance(caught.value, AwsRetriesExhaustedError)
    assert caught.value.code == RESPONSE_PARSER_ERROR
    assert aws_proxy.calls_by_operation()["DescribeTrustStores"] == 1


async def test_unknown_operation_is_a_programming_error(aws_api: AwsClient) -> None:
    with pytest.raises(ValueError, match="NoSuchThing"):
        await aws_api.call("ec2", "NoSuchThing")


async def test_botocore_does_not_retry_on_its_own(aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="InternalError", status=500, times=None)
    settings = sandbox_settings(aws_proxy.url, retry=RetrySettings(max_retries=0))
    async with open_aws_client(settings, CollectorRegistry()) as client:
        with pytest.raises(AwsRetriesExhaustedError):
            await client.call("ec2", DESCRIBE)

    assert aws_proxy.calls_by_operation()[DESCRIBE] == 1


async def test_metrics_count_calls_requests_retries_and_error_kinds(
    aws_api: AwsClient, aws_proxy: AwsProxy, aws_registry: CollectorRegistry
) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="RequestLimitExceeded", status=503, times=2)
    aws_proxy.faults.fail("CreateSecurityGroup", code="SecurityGroupLimitExceeded", status=400, times=1)
    aws_proxy.faults.fail("DeleteSecurityGroup", code="AuthFailure", status=401, times=1)
    aws_proxy.faults.fail("DescribeLoadBalancers", code="ValidationError", status=400, times=1)

    await aws_api.call("ec2", DESCRIBE)
    for operation, service in (
        ("CreateSecurityGroup", "ec2"),
        ("DeleteSecurityGroup", "ec2"),
        ("DescribeLoadBalancers", "elbv2"),
    ):
        params = {"GroupName": "x", "Description": "x"} if operation == "CreateSecurityGroup" else {}
        if operation == "DeleteSecurityGroup":
            params = {"GroupId": "sg-1"}
        with pytest.raises(AwsApiError):
            await aws_api.call(service, operation, **params)  # type: ignore[arg-type]

    ok = {"service": EC2, "operation": DESCRIBE}
    throttled = {**ok, "status_code": "503", "error_code": "RequestLimitExceeded"}
    assert sample(aws_registry, "aws_api_calls_total", **ok, status_code="200", error_code="") == 1
    assert sample(aws_registry, "aws_api_requests_total", **ok, status_code="200", error_code="") == 1
    assert sample(aws_registry, "aws_api_requests_total", **throttled) == 2
    assert sample(aws_registry, "aws_api_call_throttled_errors_total", **throttled) == 2
    assert sample(aws_registry, "aws_api_call_retries_count", **ok) == 1
    assert sample(aws_registry, "aws_api_call_retries_sum", **ok) == 2
    assert sample(aws_registry, "aws_api_call_retries_bucket", **ok, le="1.0") == 0
    assert sample(aws_registry, "aws_api_call_retries_bucket", **ok, le="2.0") == 1
    assert sample(aws_registry, "aws_api_call_duration_seconds_count", **ok) == 1
    assert sample(aws_registry, "aws_api_request_duration_seconds_count", **ok) == 3

    limit = {"service": EC2, "operation": "CreateSecurityGroup", "status_code": "400"}
    assert (
        sample(
            aws_registry,
            "aws_api_call_service_limit_exceeded_errors_total",
            **limit,
            error_code="SecurityGroupLimitExceeded",
        )
        == 1
    )
    permission = {
        "service": EC2,
        "operation": "DeleteSecurityGroup",
        "status_code": "401",
        "error_code": "AuthFailure",
    }
    assert sample(aws_registry, "aws_api_call_permission_errors_total", **permission) == 1
    validation = {
        "service": "Elastic Load Balancing v2",
        "operation": "DescribeLoadBalancers",
        "status_code": "400",
        "error_code": "ValidationError",
    }
    assert sample(aws_registry, "aws_api_call_validation_errors_total", **validation) == 1
    assert sample(aws_registry, "aws_api_calls_total", **validation) == 1


async def test_backoff_is_exponential_with_full_jitter_in_virtual_time(aws_proxy: AwsProxy) -> None:
    clock = SteppingClock()
    aws_proxy.faults.fail(DESCRIBE, code="InternalError", status=500, times=6)
    settings = sandbox_settings(
        aws_proxy.url, retry=RetrySettings(max_retries=10, backoff_base=1.0, backoff_cap=8.0)
    )
    async with open_aws_client(settings, CollectorRegistry(), clock) as client:
        await client.call("ec2", DESCRIBE)

    assert len(clock.sleeps) == 6
    for attempt, slept in enumerate(clock.sleeps, start=1):
        assert 0.0 <= slept <= min(8.0, 2.0 ** (attempt - 1))


async def test_paginate_follows_tokens_for_both_services(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    for index in range(3):
        await aws_api.call(
            "ec2", "CreateSecurityGroup", GroupName=f"g{index}", Description="d", VpcId=sandbox_vpc.vpc_id
        )
    groups = await aws_api.paginate(
        "ec2", DESCRIBE, "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": [sandbox_vpc.vpc_id]}]
    )
    # three created plus the VPC's default group
    assert len(groups) == 4
    for index in range(3):
        await aws_api.call(
            "elbv2",
            "CreateTargetGroup",
            Name=f"tg{index}",
            Protocol="HTTP",
            Port=80,
            VpcId=sandbox_vpc.vpc_id,
            TargetType="ip",
        )
    target_groups = await aws_api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups", PageSize=1)
    assert sorted(tg["TargetGroupName"] for tg in target_groups) == ["tg0", "tg1", "tg2"]


async def test_invalid_parameters_fail_locally_without_a_request(
    aws_api: AwsClient, aws_proxy: AwsProxy
) -> None:
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call("ec2", DESCRIBE, GroupIds="sg-not-a-list")

    assert caught.value.code == PARAM_VALIDATION_ERROR
    assert caught.value.attempts == 1
    assert aws_proxy.calls_by_operation() == {}


async def test_connection_errors_are_counted_with_status_zero(
    aws_api: AwsClient, aws_proxy: AwsProxy, aws_registry: CollectorRegistry
) -> None:
    aws_proxy.faults.reset_connection(DESCRIBE, times=1)

    await aws_api.call("ec2", DESCRIBE)

    failed = {"service": EC2, "operation": DESCRIBE, "status_code": "0", "error_code": CONNECTION_ERROR}
    assert sample(aws_registry, "aws_api_requests_total", **failed) == 1
    ok = {"service": EC2, "operation": DESCRIBE, "status_code": "200", "error_code": ""}
    assert sample(aws_registry, "aws_api_calls_total", **ok) == 1
    assert sample(aws_registry, "aws_api_calls_total", **failed) == 0


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("RequestLimitExceeded", 503, True),
        ("Throttling", 400, True),
        ("ThrottlingException", 400, True),
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        (CONNECTION_ERROR, None, True),
        (TIMEOUT_ERROR, None, True),
        (RESPONSE_PARSER_ERROR, None, False),
        ("InvalidGroup.NotFound", 400, False),
        ("DependencyViolation", 400, False),
        ("UnauthorizedOperation", 403, False),
        (PARAM_VALIDATION_ERROR, None, False),
    ],
)
def test_retry_classification(code: str, status: int | None, retryable: bool) -> None:
    error = AwsApiError(service="ec2", operation=DESCRIBE, code=code, message="", status_code=status)
    assert is_retryable(error) is retryable
