"""Client-side token buckets and the --aws-api-throttle format, in virtual time."""

from __future__ import annotations

import asyncio
import re

import botocore.session
import pytest

from controller.aws.aws_limits import AWS_API_LIMITS, CLIENT_SHARE_OF_AWS_LIMITS, aws_limit_for
from controller.aws.throttle import (
    DEFAULT_THROTTLE_RULES,
    AdaptiveRatePolicy,
    OperationThrottler,
    ThrottleRule,
    ThrottleSettings,
    TokenBucket,
    normalize_service,
    parse_throttle_rules,
)
from controller.sandbox.clock import SteppingClock
from controller.sandbox.proxy import AwsProxy, SandboxService
from framework.clock import FakeClock


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
    # the EC2 defaults are gone: a mutating call no rule of the flag names is not paced
    assert config.rules_for("ec2", "CreateTags") == ()
    assert ThrottleSettings.parse("EC2:^Describe=1:2,elasticloadbalancing:.*=5:5").rules == (
        ThrottleRule("ec2", "^Describe", rate=1, burst=2),
        ThrottleRule("elbv2", ".*", rate=5, burst=5),
    )


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
    assert [r.rate for r in config.rules_for("elbv2", "RegisterTargets")] == [pytest.approx(3.2)]
    assert ThrottleSettings.parse(config.render()) == config


@pytest.mark.parametrize(
    ("service", "operation", "rate", "burst"),
    [
        # 80% of the EC2 developer guide's buckets (AWS: 100/20, 50/10, 50/5, 100/10)
        ("ec2", "DescribeVpcs", 16, 80),
        ("ec2", "DescribeSubnets", 16, 80),
        ("ec2", "DescribeTags", 16, 80),
        ("ec2", "DescribeSecurityGroups", 8, 40),
        ("ec2", "DescribeNetworkInterfaces", 8, 40),
        ("ec2", "DescribeInstances", 8, 40),
        ("ec2", "AuthorizeSecurityGroupIngress", 4, 40),
        ("ec2", "RevokeSecurityGroupIngress", 4, 40),
        ("ec2", "AuthorizeSecurityGroupEgress", 4, 40),
        ("ec2", "CreateSecurityGroup", 4, 40),
        ("ec2", "DeleteSecurityGroup", 4, 40),
        ("ec2", "CreateTags", 8, 80),
        ("ec2", "DeleteTags", 8, 80),
        # 80% of upstream LBC's ELBv2 defaults (4/20 for targets, 10/40 for the rest)
        ("elbv2", "RegisterTargets", 3.2, 16),
        ("elbv2", "DeregisterTargets", 3.2, 16),
        ("elbv2", "DescribeTargetHealth", 40, 160),
        ("elbv2", "DescribeTags", 40, 160),
        ("elbv2", "CreateLoadBalancer", 8, 32),
        ("elbv2", "ModifyListener", 2.4, 16),
        ("elbv2", "CreateListener", 8, 32),
    ],
)
def test_defaults_take_80_percent_of_the_one_aws_bucket_of_each_operation(
    service: str, operation: str, rate: float, burst: int
) -> None:
    limit = aws_limit_for(service, operation)
    assert limit is not None
    assert (limit.rate * CLIENT_SHARE_OF_AWS_LIMITS, int(limit.burst * CLIENT_SHARE_OF_AWS_LIMITS)) == (
        pytest.approx(rate),
        burst,
    )
    rules = ThrottleSettings().rules_for(service, operation)
    assert [(r.rate, r.burst) for r in rules] == [(pytest.approx(rate), burst)]  # exactly one rule


def test_aws_limit_patterns_never_overlap_within_a_service() -> None:
    session = botocore.session.get_session()
    for service in ("ec2", "elbv2"):
        for operation in session.get_service_model(service).operation_names:
            matching = [
                limit
                for limit in AWS_API_LIMITS
                if limit.service == service and re.search(limit.pattern, operation)
            ]
            assert len(matching) == 1, (service, operation, matching)


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


async def test_one_rule_gives_each_operation_it_matches_a_bucket_of_its_own() -> None:
    clock = SteppingClock()
    rule = ThrottleRule("ec2", "^(Authorize|Create)", rate=4, burst=4)
    throttler = OperationThrottler(ThrottleSettings(rules=(rule,)), clock)
    assert throttler.buckets_for("ec2", "CreateTags") != throttler.buckets_for(
        "ec2", "AuthorizeSecurityGroupIngress"
    )
    # each operation spends its own burst of 4 without waiting for the other's
    for _ in range(4):
        assert await throttler.wait("ec2", "CreateTags") == 0
        assert await throttler.wait("ec2", "AuthorizeSecurityGroupIngress") == 0
    assert clock.now() == 1000.0
    assert await throttler.wait("ec2", "CreateTags") == pytest.approx(0.25)  # then each at 4/s
    # those 0.25 s refilled the Authorize bucket too: it has its own token ready
    assert await throttler.wait("ec2", "AuthorizeSecurityGroupIngress") == 0
    assert throttler.buckets_for("ec2", "CreateTags")[0].rate == 4  # not divided among operations


async def test_an_operation_waits_for_every_matching_bucket() -> None:
    clock = SteppingClock()
    rules = (ThrottleRule("elbv2", "Targets$", 1, 1), ThrottleRule("elbv2", ".*", 100, 100))
    throttler = OperationThrottler(ThrottleSettings(rules=rules), clock)
    assert len(throttler.buckets_for("elbv2", "RegisterTargets")) == 2
    assert await throttler.wait("elbv2", "RegisterTargets") == 0
    assert await throttler.wait("elbv2", "RegisterTargets") == pytest.approx(1.0)
    assert await throttler.wait("elbv2", "DescribeTags") == 0
    assert await throttler.wait("ec2", "DescribeTags") == 0  # no rule: never waits


async def test_default_buckets_stay_under_aws_per_api_buckets() -> None:
    """Drive the default client buckets flat out in virtual time against a proxy enforcing AWS's
    per-API buckets on the same clock: not one request may be refused."""
    clock = SteppingClock()
    throttler = OperationThrottler(ThrottleSettings(), clock)
    server = AwsProxy("http://127.0.0.1:1", clock=clock)  # never started: buckets only
    server.use_documented_aws_limits()
    refused: list[str] = []

    async def caller(service: SandboxService, operation: str) -> None:
        for _ in range(150):
            await throttler.wait(service, operation)
            if not server.admit(operation, service):
                refused.append(operation)

    operations: list[tuple[SandboxService, str]] = [
        ("ec2", "DescribeSecurityGroups"),
        ("ec2", "DescribeNetworkInterfaces"),
        ("ec2", "DescribeVpcs"),
        ("ec2", "AuthorizeSecurityGroupIngress"),
        ("ec2", "RevokeSecurityGroupIngress"),
        ("ec2", "CreateTags"),
        ("ec2", "DeleteSecurityGroup"),
        ("elbv2", "RegisterTargets"),
        ("elbv2", "DescribeTags"),
        ("elbv2", "ModifyListener"),
    ]
    took: dict[str, float] = {}
    # One operation at a time, three callers each: at most one caller sleeps at any moment, so
    # the auto-advancing fake clock is exact.
    for service, operation in operations:
        started = clock.now()
        await asyncio.gather(*(caller(service, operation) for _ in range(3)))
        took[operation] = clock.now() - started

    assert refused == []
    # each operation paces on its own bucket: 450 calls, a burst of 40, then 4/s (one shared
    # bucket for the four mutating operations took four times as long)
    assert took["AuthorizeSecurityGroupIngress"] == pytest.approx((450 - 40) / 4)
    assert took["CreateTags"] == pytest.approx((450 - 80) / 8)


def test_throttling_halves_the_operation_rate_then_it_recovers_linearly() -> None:
    clock = FakeClock()
    throttler = OperationThrottler(ThrottleSettings(rules=(ThrottleRule("ec2", ".", 10, 10),)), clock)
    throttler.throttled("ec2", "CreateTags")
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(5)
    assert throttler.current_rate("ec2", "DeleteTags") == pytest.approx(10)  # other operations keep theirs
    throttler.throttled("ec2", "CreateTags")  # an answer to a request sent before the first drop
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(5)
    clock.advance(1.0)  # 5 -> 5.25, then halved again
    throttler.throttled("ec2", "CreateTags")
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(2.625)
    clock.advance(10)  # + 2.5% of the configured rate per second
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(2.625 + 2.5)
    clock.advance(30)
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(10)  # never above the configured rate


def test_repeated_throttling_stops_at_the_floor() -> None:
    clock = FakeClock()
    policy = AdaptiveRatePolicy()
    throttler = OperationThrottler(ThrottleSettings(rules=(ThrottleRule("ec2", ".", 10, 10),)), clock, policy)
    for _ in range(20):
        clock.advance(policy.cooldown)
        throttler.throttled("ec2", "CreateTags")
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(10 * policy.min_fraction)
    clock.advance(37.9)  # from the floor back to the configured rate takes 38 s
    assert throttler.current_rate("ec2", "CreateTags") < 10
    clock.advance(0.1)
    assert throttler.current_rate("ec2", "CreateTags") == pytest.approx(10)


async def test_a_throttled_operation_drops_its_saved_burst_and_waits_at_the_lower_rate() -> None:
    clock = SteppingClock()
    throttler = OperationThrottler(ThrottleSettings(rules=(ThrottleRule("ec2", ".", 10, 10),)), clock)
    assert await throttler.wait("ec2", "CreateTags") == 0  # 9 tokens saved
    throttler.throttled("ec2", "CreateTags")  # AWS's bucket is empty: so is ours, refilled at 5/s
    assert await throttler.wait("ec2", "CreateTags") == pytest.approx(0.2, rel=0.02)
    assert await throttler.wait("ec2", "DeleteTags") == 0  # another operation: untouched


def test_rates_without_a_rule_are_not_adapted() -> None:
    throttler = OperationThrottler(ThrottleSettings(rules=()), FakeClock())
    throttler.throttled("ec2", "CreateTags")
    assert throttler.current_rate("ec2", "CreateTags") is None


@pytest.mark.parametrize(
    "policy",
    [
        {"decrease": 1.0},
        {"decrease": 0.0},
        {"min_fraction": 0.0},
        {"recovery_per_second": 0.0},
        {"cooldown": -1},
    ],
)
def test_adaptive_policy_rejects_nonsense(policy: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveRatePolicy(**policy)
