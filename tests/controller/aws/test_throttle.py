"""Client-side token buckets and the --aws-api-throttle format, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from controller.aws.throttle import (
    DEFAULT_THROTTLE_RULES,
    OperationThrottler,
    ThrottleRule,
    ThrottleSettings,
    TokenBucket,
    normalize_service,
    parse_throttle_rules,
)
from controller.sandbox.clock import SteppingClock
from controller.sandbox.proxy import AwsProxy


def test_parse_upstream_format_with_service_ids() -> None:
    rules = parse_throttle_rules(
        "Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=4:20,"
        "Elastic Load Balancing v2:.*=10:40, EC2:^Describe=20.5:100"
    )
    assert rules == (
        ThrottleRule("elbv2", "RegisterTargets|DeregisterTargets", rate=4, burst=20),
        ThrottleRule("elbv2", ".*", rate=10, burst=40),
        ThrottleRule("ec2", "^Describe", rate=20.5, burst=100),
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ec2", "ec2"),
        ("EC2", "ec2"),
        ("elbv2", "elbv2"),
        ("Elastic Load Balancing v2", "elbv2"),
        ("elasticloadbalancing", "elbv2"),
        ("WAFV2", "wafv2"),
    ],
)
def test_service_names_accept_sdk_ids_and_short_names(name: str, expected: str) -> None:
    assert normalize_service(name) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ec2:Describe",
        "ec2=1:2",
        "ec2:Describe=x:2",
        "ec2:Describe=1:x",
        "ec2:(=1:2",
        "ec2:Describe=0:2",
        "ec2:D=1:0",
    ],
)
def test_parse_rejects_malformed_entries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_throttle_rules(text)


def test_flag_replaces_defaults_only_for_the_services_it_names() -> None:
    config = ThrottleSettings.parse("ec2:^Describe=1:2")
    ec2_rules = [r for r in config.rules if r.service == "ec2"]
    elbv2_rules = [r for r in config.rules if r.service == "elbv2"]
    assert ec2_rules == [ThrottleRule("ec2", "^Describe", rate=1, burst=2)]
    assert elbv2_rules == [r for r in DEFAULT_THROTTLE_RULES if r.service == "elbv2"]


def test_defaults_cover_what_the_controller_calls() -> None:
    config = ThrottleSettings()
    for service, operation in [
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeNetworkInterfaces"),
        ("ec2", "AuthorizeSecurityGroupIngress"),
        ("ec2", "RevokeSecurityGroupIngress"),
        ("ec2", "CreateSecurityGroup"),
        ("ec2", "DeleteSecurityGroup"),
        ("ec2", "CreateTags"),
        ("elbv2", "RegisterTargets"),
        ("elbv2", "DescribeTargetHealth"),
        ("elbv2", "ModifyListener"),
    ]:
        assert config.rules_for(service, operation), (service, operation)
    # upstream matching is a regex search, and a Register call must not also hit Describe buckets
    assert [r.rate for r in config.rules_for("elbv2", "RegisterTargets")] == [4]
    assert ThrottleSettings.parse(config.render()) == config


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = SteppingClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    clock.advance(0.1)
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.advance(10)
    assert bucket.tokens == 5  # never more than the burst


async def test_acquire_waits_for_the_next_token_in_virtual_time() -> None:
    clock = SteppingClock()
    bucket = TokenBucket(rate=4, burst=2, clock=clock)
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0.25, 0.25, 0.25])


async def test_a_stall_releases_at_most_a_burst() -> None:
    clock = SteppingClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    clock.advance(60)  # the event loop was stalled (or nobody called) for a minute
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.1])


async def test_concurrent_acquires_are_paced_in_virtual_time() -> None:
    clock = SteppingClock()
    throttler = OperationThrottler(ThrottleSettings(rules=(ThrottleRule("ec2", "^Describe", 10, 10),)), clock)
    start = clock.now()
    finished: list[float] = []

    async def one() -> None:
        await throttler.wait("ec2", "DescribeSecurityGroups")
        finished.append(clock.now() - start)

    await asyncio.gather(*(one() for _ in range(30)))
    # 10 from the burst at once, the other 20 at 10/s: the last one is 2 s later
    assert max(finished) == pytest.approx(2.0)
    assert sum(1 for t in finished if t == 0) == 10


async def test_an_operation_waits_for_every_matching_bucket() -> None:
    clock = SteppingClock()
    rules = (ThrottleRule("elbv2", "Targets$", 1, 1), ThrottleRule("elbv2", ".*", 100, 100))
    throttler = OperationThrottler(ThrottleSettings(rules=rules), clock)
    assert len(throttler.buckets_for("elbv2", "RegisterTargets")) == 2
    assert await throttler.wait("elbv2", "RegisterTargets") == 0
    assert await throttler.wait("elbv2", "RegisterTargets") == pytest.approx(1.0)
    assert await throttler.wait("elbv2", "DescribeTags") == 0
    assert await throttler.wait("ec2", "DescribeTags") == 0  # no rule: never waits


async def test_default_buckets_stay_under_the_documented_ec2_limits() -> None:
    """Drive the default client buckets flat out in virtual time against a proxy enforcing AWS's
    documented EC2 buckets on the same clock: not one request may be refused."""
    clock = SteppingClock()
    throttler = OperationThrottler(ThrottleSettings(), clock)
    server = AwsProxy("http://127.0.0.1:1", clock=clock)  # never started: buckets only
    server.use_documented_aws_limits()
    refused: list[str] = []

    async def caller(operation: str) -> None:
        for _ in range(150):
            await throttler.wait("ec2", operation)
            if not server.admit(operation):
                refused.append(operation)

    operations = [
        "DescribeSecurityGroups",
        "DescribeNetworkInterfaces",
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "CreateTags",
        "DeleteSecurityGroup",
    ]
    # One operation at a time, three callers each: at most one caller sleeps at any moment, so
    # the auto-advancing fake clock is exact.
    for operation in operations:
        await asyncio.gather(*(caller(operation) for _ in range(3)))

    assert refused == []
    # the four mutating operations share one bucket: 1800 calls, a burst of 40, then 4/s
    assert clock.now() - 1000.0 >= (4 * 450 - 40) / 4
