"""Cached, batched, single-flight SG reads against moto behind the proxy."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sg_test_helpers import authorize_directly, create_sg

from controller.aws.api import AwsApi, Service
from controller.aws.errors import AwsApiError
from controller.networking.errors import SecurityGroupNotFoundError
from controller.networking.rules import Ipv4CidrSource, Rule, SecurityGroupSource
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock


def describes(proxy: AwsProxy) -> int:
    return proxy.calls_by_operation()["DescribeSecurityGroups"]


class GatedApi:
    """Passes calls through, but holds every describe until ``release`` is set (to stage races)."""

    def __init__(self, inner: AwsApi) -> None:
        self.inner = inner
        self.release = asyncio.Event()
        self.describes_started = 0
        self._started = asyncio.Condition()

    async def wait_started(self, count: int = 1) -> None:
        async with self._started:
            await asyncio.wait_for(
                self._started.wait_for(lambda: self.describes_started >= count), timeout=10
            )

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        return await self.inner.call(service, operation, **params)

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        async with self._started:
            self.describes_started += 1
            self._started.notify_all()
        await asyncio.wait_for(self.release.wait(), timeout=10)
        return await self.inner.paginate(service, operation, result_key, **params)


async def test_get_parses_tags_and_expanded_rules(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web", {"team": "a"}, description="hello")
    peer = await create_sg(aws_api, sandbox_vpc.vpc_id, "peer")
    rules = [
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8"), "ops"),
        Rule.of("tcp", 80, 80, SecurityGroupSource(peer), "elbv2.k8s.aws/targetGroupBinding=shared"),
    ]
    await authorize_directly(aws_api, group_id, *rules)

    info = await sg_reader.get(group_id)

    assert (info.group_id, info.group_name, info.vpc_id, info.description) == (
        group_id,
        "web",
        sandbox_vpc.vpc_id,
        "hello",
    )
    assert dict(info.tags) == {"team": "a"}
    assert set(info.ingress) == set(rules)
    assert {r.description for r in info.ingress} == {"ops", "elbv2.k8s.aws/targetGroupBinding=shared"}


async def test_cache_lasts_ten_virtual_minutes_and_is_bypassed_by_invalidate_and_fresh(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    fake_clock: FakeClock,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web")
    assert (await sg_reader.get(group_id)).ingress == ()
    rule = Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"))
    await authorize_directly(aws_api, group_id, rule)
    fake_clock.advance(599)
    assert (await sg_reader.get(group_id)).ingress == ()  # stale, from the cache
    assert describes(aws_proxy) == 1
    fake_clock.advance(1)
    assert (await sg_reader.get(group_id)).ingress == (rule,)  # expired
    assert describes(aws_proxy) == 2

    await aws_api.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    assert (await sg_reader.get(group_id)).ingress == (rule,)  # cached again
    assert (await sg_reader.get(group_id, fresh=True)).ingress == ()
    await authorize_directly(aws_api, group_id, rule)
    sg_reader.invalidate(group_id)
    assert (await sg_reader.get(group_id)).ingress == (rule,)
    assert describes(aws_proxy) == 4


async def test_many_concurrent_readers_of_many_sgs_share_chunked_describes(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, fake_clock: FakeClock
) -> None:
    ids = [
        await create_sg(aws_api, sandbox_vpc.vpc_id, f"sg{i}") for i in range(60)
    ]  # moto: not concurrently
    reader = SecurityGroupReader(aws_api, clock=fake_clock, chunk_size=25)
    try:
        # 30 reconciles each reading its own SG, then 30 more each reading all of them, fresh.
        singles = await asyncio.gather(*(reader.get(gid) for gid in ids))
        assert [info.group_id for info in singles] == ids
        assert describes(aws_proxy) == 3  # ceil(30 / 12)
        aws_proxy.reset_counts()
        results = await asyncio.gather(*(reader.get_many(ids, fresh=True) for _ in range(30)))
        assert all(set(result) == set(ids) for result in results)
        assert describes(aws_proxy) == 3
    finally:
        await reader.aclose()


async def test_one_deleted_sg_does_not_poison_the_batch(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    alive = await create_sg(aws_api, sandbox_vpc.vpc_id, "alive")
    gone = await create_sg(aws_api, sandbox_vpc.vpc_id, "gone")
    await aws_api.call("ec2", "DeleteSecurityGroup", GroupId=gone)

    found, error = await asyncio.gather(sg_reader.get(alive), sg_reader.get(gone), return_exceptions=True)

    assert found.group_id == alive  # type: ignore[union-attr]
    assert isinstance(error, SecurityGroupNotFoundError)
    assert error.code == "InvalidGroup.NotFound"
    assert error.group_id == gone
    assert describes(aws_proxy) == 1
    assert set(await sg_reader.get_many([alive, gone])) == {alive}


async def test_a_failed_describe_reaches_every_waiter_and_is_not_cached(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web")
    aws_proxy.faults.fail("DescribeSecurityGroups", code="UnauthorizedOperation", status=403, message="no")

    results = await asyncio.gather(sg_reader.get(group_id), sg_reader.get(group_id), return_exceptions=True)

    assert all(isinstance(r, AwsApiError) for r in results)
    assert [getattr(r, "code", None) for r in results] == ["UnauthorizedOperation"] * 2
    assert describes(aws_proxy) == 1
    assert (await sg_reader.get(group_id)).group_id == group_id


async def test_a_read_in_flight_during_a_write_does_not_refill_the_cache(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, fake_clock: FakeClock
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web")
    gated = GatedApi(aws_api)
    reader = SecurityGroupReader(gated, clock=fake_clock)
    try:
        early = asyncio.create_task(reader.get(group_id))
        await gated.wait_started()
        # The write lands after the describe was sent; the describe's answer may already be stale.
        rule = Rule.of("tcp", 22, 22, Ipv4CidrSource("1.2.3.4/32"))
        reader.invalidate(group_id)
        gated.release.set()
        await early
        await authorize_directly(aws_api, group_id, rule)
        assert (await reader.get(group_id)).ingress == (rule,)
        assert describes(aws_proxy) == 2
    finally:
        await reader.aclose()


async def test_queries_always_ask_aws_and_refresh_the_cache(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    lb = await create_sg(aws_api, sandbox_vpc.vpc_id, "lb")
    tagged = await create_sg(aws_api, sandbox_vpc.vpc_id, "tagged", {"kubernetes.io/cluster/c": "shared"})
    await create_sg(aws_api, sandbox_vpc.vpc_id, "other", {"kubernetes.io/cluster/c": "nope"})
    assert (await sg_reader.get(tagged)).ingress == ()  # cached without rules
    rule = Rule.of("tcp", 80, 80, SecurityGroupSource(lb))
    await authorize_directly(aws_api, tagged, rule)
    aws_proxy.reset_counts()

    found = await sg_reader.find_tagged(sandbox_vpc.vpc_id, "kubernetes.io/cluster/c", ("owned", "shared"))
    assert set(found) == {tagged}
    assert found[tagged].ingress == (rule,)  # not from the cache: the query is always sent
    assert set(await sg_reader.find_referencing(sandbox_vpc.vpc_id, lb)) == {tagged}
    assert await sg_reader.find_referencing(sandbox_vpc.vpc_id, tagged) == {}
    assert describes(aws_proxy) == 3
    assert (await sg_reader.get(tagged)).ingress == (rule,)  # the queries refreshed the cache
    assert describes(aws_proxy) == 3


async def test_a_query_in_flight_during_a_write_does_not_refill_the_cache(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, fake_clock: FakeClock
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web", {"team": "a"})
    gated = GatedApi(aws_api)
    reader = SecurityGroupReader(gated, clock=fake_clock)
    try:
        early = asyncio.create_task(reader.find_tagged(sandbox_vpc.vpc_id, "team", ["a"]))
        await gated.wait_started()
        reader.invalidate(group_id)
        gated.release.set()
        assert set(await early) == {group_id}
        rule = Rule.of("tcp", 22, 22, Ipv4CidrSource("1.2.3.4/32"))
        await authorize_directly(aws_api, group_id, rule)
        assert (await reader.get(group_id)).ingress == (rule,)
        assert describes(aws_proxy) == 2
    finally:
        await reader.aclose()


async def test_fresh_read_does_not_join_a_read_already_on_the_wire(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, fake_clock: FakeClock
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web")
    gated = GatedApi(aws_api)
    reader = SecurityGroupReader(gated, clock=fake_clock)
    try:
        first = asyncio.create_task(reader.get(group_id))
        await gated.wait_started()
        joined = asyncio.create_task(reader.get(group_id))
        fresh = asyncio.create_task(reader.get(group_id, fresh=True))
        await gated.wait_started(2)
        gated.release.set()
        await asyncio.gather(first, joined, fresh)
        assert describes(aws_proxy) == 2
    finally:
        await reader.aclose()


async def test_a_cancelled_reader_does_not_cancel_the_others(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc, fake_clock: FakeClock
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "web")
    gated = GatedApi(aws_api)
    reader = SecurityGroupReader(gated, clock=fake_clock)
    try:
        impatient = asyncio.create_task(reader.get(group_id))
        patient = asyncio.create_task(reader.get(group_id))
        await gated.wait_started()
        impatient.cancel()
        gated.release.set()
        assert (await patient).group_id == group_id
        with pytest.raises(asyncio.CancelledError):
            await impatient
    finally:
        await reader.aclose()


async def test_aclose_cancels_pending_reads(fake_clock: FakeClock) -> None:
    gated = GatedApi(_UnusedApi())
    reader = SecurityGroupReader(gated, clock=fake_clock)
    waiting = asyncio.create_task(reader.get("sg-123"))
    await gated.wait_started()
    await reader.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiting


def test_chunk_size_is_capped_at_the_filter_limit() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        SecurityGroupReader(GatedApi(_UnusedApi()), chunk_size=201)


class _UnusedApi:
    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        raise AssertionError("no call expected")

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        raise AssertionError("no call expected")


async def test_aclose_before_the_dispatcher_ran_still_releases_the_waiters(fake_clock: FakeClock) -> None:
    reader = SecurityGroupReader(_UnusedApi(), clock=fake_clock)
    waiting = asyncio.ensure_future(reader.get("sg-123"))
    await asyncio.sleep(0)  # the waiter has queued its id; the dispatcher has not run yet
    await reader.aclose()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, timeout=5)
