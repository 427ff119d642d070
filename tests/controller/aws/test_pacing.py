"""Client-side buckets keep a burst under the server's limits: nothing is throttled, on either side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from controller.aws.client import open_aws_client
from controller.aws.errors import AwsRetriesExhaustedError
from controller.aws.settings import RetrySettings
from controller.aws.throttle import ThrottleRule, ThrottleSettings
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import REAL_CLOCK, TimerHandle

SERVER_RATE, SERVER_BURST = 25.0, 10
# Under the server's limits: a request leaves the client when its bucket allows, but the server
# counts it on arrival, and arrivals bunch up (new connections, an event loop shared by client,
# proxy and 200 callers on a busy machine). The burst margin absorbs 8 tokens (320 ms at 25/s)
# of such jitter, and the rate margin earns 10 more every second (a run on a 2-core machine shared
# with four other test suites once bunched past the 6 tokens and 5/s this test allowed before).
CLIENT_RATE, CLIENT_BURST = 15.0, 2
READS = WRITES = 100


class HeldClock:
    """The real clock, except that time can be held still and released again: while held, ``now``
    stays put, and after release it goes on from where it stood (the held span never happened)."""

    def __init__(self) -> None:
        self._lost = 0.0
        self._held_at: float | None = None

    def now(self) -> float:
        if self._held_at is not None:
            return self._held_at
        return REAL_CLOCK.now() - self._lost

    def hold(self) -> None:
        self._held_at = self.now()

    def release(self) -> None:
        if self._held_at is not None:
            self._lost = REAL_CLOCK.now() - self._held_at
            self._held_at = None

    async def sleep(self, seconds: float) -> None:
        await REAL_CLOCK.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return REAL_CLOCK.call_later(delay, callback)


async def test_burst_of_200_calls_is_paced_without_any_throttling(
    aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    aws_proxy.throttle("DescribeSecurityGroups", SERVER_RATE, SERVER_BURST)
    aws_proxy.throttle("AuthorizeSecurityGroupIngress", SERVER_RATE, SERVER_BURST)
    rules = (
        ThrottleRule("ec2", "^DescribeSecurityGroups$", CLIENT_RATE, CLIENT_BURST),
        ThrottleRule("ec2", "^AuthorizeSecurityGroupIngress$", CLIENT_RATE, CLIENT_BURST),
    )
    registry = CollectorRegistry()
    settings = sandbox_settings(
        aws_proxy.url,
        throttle=ThrottleSettings(rules=rules),
        # a connection for every caller, so requests are not bunched up waiting for the pool
        max_pool_connections=READS + WRITES,
        retry=RetrySettings(max_retries=10, backoff_base=0.05),
    )
    async with open_aws_client(settings, registry) as aws:
        # moto allows 60 rules per group: spread the writes over 4 groups
        groups = [
            (
                await aws.call(
                    "ec2", "CreateSecurityGroup", GroupName=f"g{i}", Description="d", VpcId=sandbox_vpc.vpc_id
                )
            )["GroupId"]
            for i in range(4)
        ]
        aws_proxy.reset_counts()

        async def read(index: int) -> None:
            await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[groups[index % 4]])

        async def write(index: int) -> None:
            await aws.call(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                GroupId=groups[index % 4],
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": f"10.1.{index}.0/24"}],
                    }
                ],
            )

        started = time.monotonic()
        await asyncio.gather(*(read(i) for i in range(READS)), *(write(i) for i in range(WRITES)))
        elapsed = time.monotonic() - started
        described = await aws.call("ec2", "DescribeSecurityGroups", GroupIds=groups)
        written = sum(len(p["IpRanges"]) for g in described["SecurityGroups"] for p in g["IpPermissions"])
        assert written == WRITES

    assert aws_proxy.throttled_by_operation() == {}
    calls = aws_proxy.calls_by_operation()
    assert calls["DescribeSecurityGroups"] == READS + 1  # no retries were needed (+1 check above)
    assert calls["AuthorizeSecurityGroupIngress"] == WRITES
    throttled = [
        s for m in registry.collect() if m.name == "aws_api_call_throttled_errors" for s in m.samples
    ]
    assert throttled == []
    # each stream: a burst of 4, then 96 more at 20/s ≈ 4.8 s: the buckets really did pace it
    assert elapsed >= (READS - CLIENT_BURST) / CLIENT_RATE * 0.95


async def test_without_client_buckets_the_same_server_throttles_and_retries_recover(
    aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    aws_proxy.throttle("DescribeSecurityGroups", SERVER_RATE, SERVER_BURST)
    registry = CollectorRegistry()
    settings = sandbox_settings(
        aws_proxy.url,
        throttle=ThrottleSettings(rules=()),
        max_pool_connections=50,
        retry=RetrySettings(max_retries=10, backoff_base=0.1, backoff_cap=2.0),
    )
    async with open_aws_client(settings, registry) as aws:
        await asyncio.gather(*(aws.call("ec2", "DescribeSecurityGroups") for _ in range(50)))

    throttled = aws_proxy.throttled_by_operation()["DescribeSecurityGroups"]
    assert throttled > 0
    assert aws_proxy.calls_by_operation()["DescribeSecurityGroups"] == 50 + throttled
    labels = {
        "service": "EC2",
        "operation": "DescribeSecurityGroups",
        "status_code": "503",
        "error_code": "RequestLimitExceeded",
    }
    assert registry.get_sample_value("aws_api_call_throttled_errors_total", labels) == throttled


def _authorize(group_id: str, index: int) -> dict[str, object]:
    return {
        "GroupId": group_id,
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": f"10.2.{index}.0/24"}],
            }
        ],
    }


async def test_default_client_buckets_keep_a_burst_under_aws_per_api_buckets(
    aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    """60 reads, 50 rule writes and 100 tag writes at once, each operation past its AWS burst or
    near it: with the default buckets the proxy, enforcing AWS's buckets, refuses nothing."""
    registry = CollectorRegistry()
    settings = sandbox_settings(aws_proxy.url, throttle=ThrottleSettings(), max_pool_connections=210)
    async with open_aws_client(settings, registry) as aws:
        groups = [
            (
                await aws.call(
                    "ec2", "CreateSecurityGroup", GroupName=f"g{i}", Description="d", VpcId=sandbox_vpc.vpc_id
                )
            )["GroupId"]
            for i in range(4)
        ]
        aws_proxy.use_documented_aws_limits()
        aws_proxy.reset_counts()
        await asyncio.gather(
            *(aws.call("ec2", "DescribeSecurityGroups", GroupIds=[groups[i % 4]]) for i in range(60)),
            *(
                aws.call("ec2", "AuthorizeSecurityGroupIngress", **_authorize(groups[i % 4], i))
                for i in range(50)
            ),
            *(
                aws.call(
                    "ec2", "CreateTags", Resources=[groups[i % 4]], Tags=[{"Key": f"k{i}", "Value": "v"}]
                )
                for i in range(100)
            ),
        )

    assert aws_proxy.throttled_by_operation() == {}
    assert aws_proxy.calls_by_operation() == {
        "DescribeSecurityGroups": 60,
        "AuthorizeSecurityGroupIngress": 50,
        "CreateTags": 100,
    }
    # Authorize: AWS's bucket is 50 and refills at 5/s, ours 40 at 4/s, so if all 50 calls start
    # at once, 10 of them wait 0.25, 0.5, ... 2.5 s (13.75 s in all). On a loaded machine the calls
    # start spread out and the bucket refills meanwhile, so less waiting is possible, more is not.
    waited = {
        op: registry.get_sample_value(
            "aws_api_throttle_wait_seconds_sum", {"service": "EC2", "operation": op}
        )
        for op in ("AuthorizeSecurityGroupIngress", "CreateTags", "DescribeSecurityGroups")
    }
    assert 0 < waited["AuthorizeSecurityGroupIngress"] <= 1.2 * sum(0.25 * k for k in range(1, 11)), waited
    assert all(seconds is not None and seconds > 0 for seconds in waited.values()), waited
    labels = {"service": "EC2", "operation": "AuthorizeSecurityGroupIngress"}
    assert registry.get_sample_value("aws_api_throttle_wait_seconds_count", labels) == 50
    assert registry.get_sample_value("aws_api_throttle_rate", labels) == 4.0


async def test_a_burst_over_aws_buckets_is_throttled_and_the_default_client_adapts_without_failing(
    fresh_moto: MotoServer, sandbox_vpc: SandboxVpc
) -> None:
    """Another client of the account empties AWS's DescribeSecurityGroups bucket (and is
    throttled itself); our client, starting with a full bucket of its own, meets AWS's refusals,
    lowers its rate and retries, and every one of its calls succeeds."""
    # AWS's buckets stand still while the other client drains them, so how fast a loaded machine
    # delivers its 60 calls cannot refill them; time runs again when our client starts.
    clock = HeldClock()
    async with AwsProxy(fresh_moto.url, clock=clock) as aws_proxy:
        await _drain_then_adapt(aws_proxy, clock)


async def _drain_then_adapt(aws_proxy: AwsProxy, clock: HeldClock) -> None:
    aws_proxy.use_documented_aws_limits()
    unpaced = sandbox_settings(aws_proxy.url, max_pool_connections=60, retry=RetrySettings(max_retries=0))
    clock.hold()
    async with open_aws_client(unpaced, CollectorRegistry()) as other:
        outcomes = await asyncio.gather(
            *(other.call("ec2", "DescribeSecurityGroups") for _ in range(60)), return_exceptions=True
        )
    refused = [o for o in outcomes if isinstance(o, AwsRetriesExhaustedError)]
    assert refused and all(o.code == "RequestLimitExceeded" and o.status_code == 503 for o in refused)
    assert len(refused) + sum(isinstance(o, dict) for o in outcomes) == 60

    registry = CollectorRegistry()
    ours = sandbox_settings(
        aws_proxy.url,
        throttle=ThrottleSettings(),
        retry=RetrySettings(max_retries=10, backoff_base=0.1, backoff_cap=2.0),
    )
    aws_proxy.reset_counts()
    clock.release()
    async with open_aws_client(ours, registry) as aws:
        await asyncio.gather(*(aws.call("ec2", "DescribeSecurityGroups") for _ in range(30)))

    throttled = aws_proxy.throttled_by_operation()["DescribeSecurityGroups"]
    assert throttled > 0  # AWS did refuse us, and nothing reached the callers
    assert aws_proxy.calls_by_operation()["DescribeSecurityGroups"] == 30 + throttled
    labels = {"service": "EC2", "operation": "DescribeSecurityGroups"}
    rate = registry.get_sample_value("aws_api_throttle_rate", labels)
    assert rate is not None and rate < 8  # lowered from 80% of AWS's 10/s, still recovering
