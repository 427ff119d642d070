"""The proxy answers throttling and scripted faults exactly as AWS would, and counts every call."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from controller.aws.client import AwsClient, open_aws_client
from controller.aws.errors import AwsApiError, AwsRetriesExhaustedError
from controller.aws.settings import RetrySettings
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.clock import SteppingClock
from controller.sandbox.proxy import AwsProxy

DESCRIBE = "DescribeSecurityGroups"
EC2_THROTTLE_BODY = re.compile(
    r"^<\?xml version=\"1.0\" encoding=\"UTF-8\"\?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
    r"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>[0-9a-f-]{36}</RequestID></Response>$"
)
ELBV2_THROTTLE_BODY = re.compile(
    r"^<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender"
    r"</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>[0-9a-f-]{36}"
    r"</RequestId></ErrorResponse>$"
)


def signed_headers(service: str) -> dict[str, str]:
    scope = f"testing/20261126/us-west-2/{service}/aws4_request"
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    }


async def raw_post(url: str, service: str, body: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(url + "/", data=body, headers=signed_headers(service)) as response,
    ):
        return response.status, await response.text()


async def test_ec2_throttling_is_http_503_request_limit_exceeded(aws_proxy: AwsProxy) -> None:
    aws_proxy.throttle("Describe.*", rate=0.001, burst=1)
    body = "Action=DescribeSecurityGroups&Version=2016-11-15"
    first = await raw_post(aws_proxy.url, "ec2", body)
    second = await raw_post(aws_proxy.url, "ec2", body)

    assert first[0] == 200
    assert second[0] == 503
    assert EC2_THROTTLE_BODY.match(second[1]), second[1]
    assert aws_proxy.throttled_by_operation() == {DESCRIBE: 1}
    assert aws_proxy.calls_by_operation() == {DESCRIBE: 2}


async def test_elbv2_throttling_is_http_400_throttling(aws_proxy: AwsProxy) -> None:
    aws_proxy.throttle("DescribeLoadBalancers", rate=0.001, burst=1)
    body = "Action=DescribeLoadBalancers&Version=2015-12-01"
    assert (await raw_post(aws_proxy.url, "elasticloadbalancing", body))[0] == 200
    status, text = await raw_post(aws_proxy.url, "elasticloadbalancing", body)

    assert status == 400
    assert ELBV2_THROTTLE_BODY.match(text), text


async def test_service_is_recognised_by_api_version_without_a_signature(aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail("DescribeLoadBalancers", code="Boom", status=400, times=1)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(aws_proxy.url + "/", data="Action=DescribeLoadBalancers&Version=2015-12-01") as response,
    ):
        text = await response.text()
    assert text.startswith("<ErrorResponse")
    assert aws_proxy.request_log[-1].service == "elbv2"


async def test_each_operation_has_its_own_bucket_and_later_rules_win(aws_proxy: AwsProxy) -> None:
    aws_proxy.throttle("Describe.*", rate=0.001, burst=1)
    aws_proxy.throttle("DescribeVpcs", rate=1000, burst=1000)
    for body in (
        "Action=DescribeSecurityGroups&Version=2016-11-15",
        "Action=DescribeSubnets&Version=2016-11-15",
        "Action=DescribeVpcs&Version=2016-11-15",
        "Action=DescribeVpcs&Version=2016-11-15",
    ):
        assert (await raw_post(aws_proxy.url, "ec2", body))[0] == 200
    assert (await raw_post(aws_proxy.url, "ec2", "Action=DescribeSubnets&Version=2016-11-15"))[0] == 503


def test_documented_aws_limits_in_virtual_time() -> None:
    clock = SteppingClock()
    proxy = AwsProxy("http://127.0.0.1:1", clock=clock)  # never started: buckets only
    proxy.use_documented_aws_limits()

    def burst(operation: str, count: int) -> Counter[bool]:
        return Counter(proxy.admit(operation) for _ in range(count))

    assert burst("DescribeVpcs", 101) == {True: 100, False: 1}  # a bucket of 100 ...
    clock.advance(1.0)
    assert burst("DescribeVpcs", 21) == {True: 20, False: 1}  # ... refilled at 20/s
    assert burst("DescribeSubnets", 100) == {True: 100}  # every API has its own bucket
    assert burst("AuthorizeSecurityGroupIngress", 51) == {True: 50, False: 1}  # mutating: a bucket of 50 ...
    clock.advance(2.0)
    assert burst("AuthorizeSecurityGroupIngress", 11) == {True: 10, False: 1}  # ... refilled at 5/s
    assert burst("RevokeSecurityGroupIngress", 50) == {True: 50}  # its own bucket
    assert burst("DescribeSecurityGroups", 51) == {True: 50, False: 1}  # unfiltered Describe: 50 ...
    assert burst("CreateTags", 101) == {True: 100, False: 1}  # uncategorized: its own numbers ...
    clock.advance(1.0)
    assert burst("CreateTags", 11) == {True: 10, False: 1}  # ... 10/s
    assert burst("DescribeSecurityGroups", 11) == {True: 10, False: 1}  # ... refilled at 10/s


def test_elbv2_buckets_are_upstream_lbc_defaults_per_api() -> None:
    clock = SteppingClock()
    proxy = AwsProxy("http://127.0.0.1:1", clock=clock)  # never started: buckets only
    proxy.use_documented_aws_limits()

    def burst(operation: str, count: int) -> Counter[bool]:
        return Counter(proxy.admit(operation, "elbv2") for _ in range(count))

    assert burst("RegisterTargets", 21) == {True: 20, False: 1}
    assert burst("DeregisterTargets", 20) == {True: 20}  # its own bucket
    assert burst("DescribeTags", 201) == {True: 200, False: 1}  # Describe*: 50/s burst 200
    assert proxy.admit("DescribeTags", "ec2")  # EC2's DescribeTags is another API
    assert burst("ModifyListener", 21) == {True: 20, False: 1}  # Modify*: 3/s burst 20
    assert burst("CreateListener", 41) == {True: 40, False: 1}  # the rest: 10/s burst 40 each
    clock.advance(1.0)
    assert burst("DescribeTags", 51) == {True: 50, False: 1}  # refilled at 50/s
    assert burst("ModifyListener", 4) == {True: 3, False: 1}  # refilled at 3/s
    assert burst("CreateListener", 11) == {True: 10, False: 1}  # refilled at 10/s
    assert burst("RegisterTargets", 5) == {True: 4, False: 1}  # refilled at 4/s


async def test_throttled_calls_reach_the_client_as_typed_errors(aws_proxy: AwsProxy) -> None:
    aws_proxy.throttle("DescribeVpcs", rate=0.001, burst=2)
    settings = sandbox_settings(aws_proxy.url, retry=RetrySettings(max_retries=0))
    async with open_aws_client(settings, CollectorRegistry()) as aws:
        outcomes = [await _outcome(aws, "DescribeVpcs") for _ in range(3)]
    assert outcomes == ["ok", "ok", "RequestLimitExceeded"]


async def _outcome(aws: AwsClient, operation: str, **params: Any) -> str:
    try:
        await aws.call("ec2", operation, **params)
    except AwsRetriesExhaustedError as error:
        assert error.status_code == 503
        return error.code
    except AwsApiError as error:
        return f"other:{error.code}"
    return "ok"


async def test_fault_fires_the_given_number_of_times(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail(DESCRIBE, code="InvalidParameterValue", status=400, message="bad", times=2)

    for _ in range(2):
        with pytest.raises(AwsApiError) as caught:
            await aws_api.call("ec2", DESCRIBE)
        assert (caught.value.code, caught.value.message, caught.value.status_code) == (
            "InvalidParameterValue",
            "bad",
            400,
        )
    await aws_api.call("ec2", DESCRIBE)

    assert [r.outcome for r in aws_proxy.request_log] == ["fault", "fault", "forwarded"]
    assert aws_proxy.faults.pending() == []


async def test_faults_match_operations_by_full_regex(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    aws_proxy.faults.fail("Describe(Vpcs|Subnets)", code="InvalidParameterValue", status=400, times=None)

    for operation in ("DescribeVpcs", "DescribeSubnets"):
        with pytest.raises(AwsApiError):
            await aws_api.call("ec2", operation)
    await aws_api.call("ec2", "DescribeVpcEndpoints")  # "DescribeVpcs" must not match a prefix


async def test_delay_holds_the_request(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    await aws_api.call("ec2", DESCRIBE)  # the first call after a reset makes moto build the region
    aws_proxy.faults.delay(DESCRIBE, seconds=0.3, times=1)

    started = time.monotonic()
    await aws_api.call("ec2", DESCRIBE)
    assert time.monotonic() - started >= 0.3


async def test_counts_and_log_can_be_reset(aws_api: AwsClient, aws_proxy: AwsProxy) -> None:
    await aws_api.call("ec2", DESCRIBE)
    await aws_api.call("elbv2", "DescribeLoadBalancers")
    assert aws_proxy.calls_by_operation() == {DESCRIBE: 1, "DescribeLoadBalancers": 1}
    record = aws_proxy.request_log[0]
    assert (record.service, record.operation, record.status, record.outcome) == (
        "ec2",
        DESCRIBE,
        200,
        "forwarded",
    )
    assert record.params["Action"] == DESCRIBE

    aws_proxy.reset_counts()

    assert aws_proxy.calls_by_operation() == {}
    assert aws_proxy.request_log == []


async def test_non_aws_paths_are_passed_through(aws_proxy: AwsProxy) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(aws_proxy.url + "/moto-api/reset") as response,
    ):
        assert response.status == 200
    assert aws_proxy.calls_by_operation() == {}
