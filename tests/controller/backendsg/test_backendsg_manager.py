"""The shared backend SG against moto behind the AWS-like proxy (upstream-behaviour §3, scenarios 8, 30-35)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import pytest_asyncio

from controller.aws.api import AwsApi
from controller.backendsg import (
    BACKEND_SG_KEY,
    BackendSGDisabledError,
    BackendSGManager,
    BackendSGReconciler,
    BackendSGSettings,
)
from controller.config import ConfigError
from controller.naming import BACKEND_SG_DESCRIPTION, backend_sg_name
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.clock import FakeClock
from framework.controller import Controller, Result

BACKEND_TAGS = {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"}


@dataclass
class Env:
    api: AwsApi
    proxy: AwsProxy
    vpc: SandboxVpc
    settings: BackendSGSettings
    readers: list[SecurityGroupReader]

    def manager(self, settings: BackendSGSettings | None = None) -> BackendSGManager:
        """A manager as a fresh process would build it."""
        reader = SecurityGroupReader(self.api)
        self.readers.append(reader)
        return BackendSGManager(
            settings or self.settings,
            self.api,
            sg_manager=SecurityGroupManager(self.api, reader),
            reader=reader,
        )

    async def groups(self) -> list[dict[str, Any]]:
        found = await self.api.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[
                {"Name": "vpc-id", "Values": [self.vpc.vpc_id]},
                {"Name": "tag:elbv2.k8s.aws/resource", "Values": ["backend-sg"]},
            ],
        )
        return found

    async def tags(self, group_id: str) -> dict[str, str]:
        groups = await self.api.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[{"Name": "group-id", "Values": [group_id]}],
        )
        return {t["Key"]: t["Value"] for t in groups[0].get("Tags") or ()}

    async def reference_from_node_sg(self, backend: str) -> tuple[str, dict[str, Any]]:
        node = await self.api.call(
            "ec2", "CreateSecurityGroup", GroupName="node", Description="n", VpcId=self.vpc.vpc_id
        )
        permission = {
            "IpProtocol": "tcp",
            "FromPort": 30080,
            "ToPort": 30080,
            "UserIdGroupPairs": [
                {"GroupId": backend, "Description": "elbv2.k8s.aws/targetGroupBinding=shared"}
            ],
        }
        await self.api.call(
            "ec2", "AuthorizeSecurityGroupIngress", GroupId=node["GroupId"], IpPermissions=[permission]
        )
        return str(node["GroupId"]), permission


@pytest_asyncio.fixture
async def env(aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc) -> AsyncIterator[Env]:
    settings = BackendSGSettings(
        cluster_name="my-cluster", vpc_id=sandbox_vpc.vpc_id, default_tags={"team": "a", "env": "prod"}
    )
    built = Env(aws_api, aws_proxy, sandbox_vpc, settings, [])
    yield built
    for reader in built.readers:
        await reader.aclose()


def test_custom_backend_sg_must_start_with_sg() -> None:
    # Scenario 35.
    with pytest.raises(ConfigError, match="must start with sg-"):
        BackendSGSettings(cluster_name="c", vpc_id="vpc-1", custom_group_id="foo")


async def test_custom_backend_sg_is_used_as_given_and_never_touched(env: Env) -> None:
    # Scenario 31.
    manager = env.manager(replace(env.settings, custom_group_id="sg-123"))
    env.proxy.reset_counts()
    assert await manager.get(["service/ns/a"]) == "sg-123"
    await manager.resync_users(set())
    assert (await manager.reconcile_deletion()).deleted == ()
    assert sum(env.proxy.calls_by_operation().values()) == 0


async def test_first_user_creates_it_with_upstream_name_description_and_tags(env: Env) -> None:
    # Scenario 8; concurrent first users share one creation (single-flight).
    manager = env.manager()
    ids = await asyncio.gather(*(manager.get([f"service/ns/s{i}"]) for i in range(5)))
    assert len(set(ids)) == 1
    assert env.proxy.calls_by_operation()["CreateSecurityGroup"] == 1
    (group,) = await env.groups()
    assert group["GroupName"] == backend_sg_name("my-cluster") == "k8s-traffic-mycluster-4cbfcec96c"
    assert group["Description"] == BACKEND_SG_DESCRIPTION
    assert group["VpcId"] == env.vpc.vpc_id
    assert [(t["Key"], t["Value"]) for t in group["Tags"]] == [
        ("env", "prod"),
        ("team", "a"),
        ("elbv2.k8s.aws/cluster", "my-cluster"),
        ("elbv2.k8s.aws/resource", "backend-sg"),
    ]
    assert manager.users == {f"service/ns/s{i}" for i in range(5)}


async def test_existing_sg_is_found_by_tags_and_its_tags_reset(env: Env) -> None:
    # Scenario 30: found by tags (any name), reused, tags reset to default + tracking tags.
    existing = await env.api.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName="renamed-by-someone",
        Description="x",
        VpcId=env.vpc.vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "elbv2.k8s.aws/cluster", "Value": "my-cluster"},
                    BACKEND_TAGS,
                    {"Key": "foo", "Value": "bar"},
                    {"Key": "team", "Value": "b"},
                ],
            }
        ],
    )
    env.proxy.reset_counts()
    assert await env.manager().get(["ingress/ns/i"]) == existing["GroupId"]
    assert env.proxy.calls_by_operation()["CreateSecurityGroup"] == 0
    assert await env.tags(existing["GroupId"]) == {
        "elbv2.k8s.aws/cluster": "my-cluster",
        "elbv2.k8s.aws/resource": "backend-sg",
        "team": "a",
        "env": "prod",
    }


async def test_kept_while_any_user_remains_and_deleted_after_the_last(env: Env) -> None:
    # Scenarios 32 and 33.
    manager = env.manager()
    await manager.resync_users(set())
    group_id = await manager.get(["ingress/ns/a", "ingress/ns/b"])
    assert manager.release(["ingress/ns/a"]) is False
    assert (await manager.reconcile_deletion()).deleted == ()
    assert manager.release(["ingress/ns/b"]) is True
    assert (await manager.reconcile_deletion()).deleted == (group_id,)
    assert await env.groups() == []
    assert manager.cached_group_id is None
    # A later user gets a new one.
    assert await manager.get(["ingress/ns/c"]) != group_id


async def test_nothing_is_deleted_before_users_are_known_from_cluster_state(env: Env) -> None:
    manager = env.manager()
    await manager.get(["service/ns/a"])
    manager.release(["service/ns/a"])
    outcome = await manager.reconcile_deletion()
    assert outcome.deleted == () and "not yet computed" in outcome.reason
    assert len(await env.groups()) == 1


async def test_deleted_after_restart_when_no_user_is_left(env: Env) -> None:
    # Fixes upstream scenario 34: a new process that never called get still finds it by tags.
    group_id = await env.manager().get(["service/ns/a"])
    restarted = env.manager()
    outcome = await restarted.resync_users(set())
    assert outcome.deleted == (group_id,)
    assert await env.groups() == []


async def test_not_deleted_after_restart_while_cluster_state_still_has_users(env: Env) -> None:
    await env.manager().get(["service/ns/a"])
    restarted = env.manager()
    assert (await restarted.resync_users({"service/ns/a"})).deleted == ()
    assert len(await env.groups()) == 1


async def test_disabled_feature_refuses_get_but_cleans_a_leftover(env: Env) -> None:
    await env.manager().get(["service/ns/a"])
    disabled = env.manager(replace(env.settings, enabled=False))
    with pytest.raises(BackendSGDisabledError):
        await disabled.get(["service/ns/b"])
    assert len((await disabled.resync_users(set())).deleted) == 1


async def test_dependency_violation_backs_off_and_a_later_retry_deletes(env: Env) -> None:
    manager = env.manager()
    group_id = await manager.get(["service/ns/a"])
    node_sg, permission = await env.reference_from_node_sg(group_id)
    manager.release(["service/ns/a"])
    first = await manager.resync_users(set())
    second = await manager.reconcile_deletion()
    assert first.deleted == () and first.requeue_after == 2.0
    assert second.requeue_after == 4.0
    deletes = [r for r in env.proxy.request_log if r.operation == "DeleteSecurityGroup"]
    assert [r.outcome for r in deletes] == ["dependency", "dependency"]
    await env.api.call("ec2", "RevokeSecurityGroupIngress", GroupId=node_sg, IpPermissions=[permission])
    third = await manager.reconcile_deletion()
    assert third.deleted == (group_id,) and third.requeue_after is None


class SignallingReconciler:
    """Sets ``finished`` after every pass (one key, one worker: a finished pass means idle)."""

    def __init__(self, inner: BackendSGReconciler) -> None:
        self._inner = inner
        self.finished = asyncio.Event()

    async def reconcile(self, key: str) -> Result:
        try:
            return await self._inner.reconcile(key)
        finally:
            asyncio.get_running_loop().call_soon(self.finished.set)

    async def next_pass(self) -> None:
        async with asyncio.timeout(20):
            await self.finished.wait()
        self.finished.clear()


async def test_controller_requeues_on_dependency_violation_without_sleeping_in_a_worker(env: Env) -> None:
    manager = env.manager()
    group_id = await manager.get(["service/ns/a"])
    node_sg, permission = await env.reference_from_node_sg(group_id)
    manager.release(["service/ns/a"])
    clock = FakeClock()
    reconciler = SignallingReconciler(BackendSGReconciler(manager))
    controller: Controller[str] = Controller("backend-sg", reconciler, clock=clock)
    controller.start()
    try:
        await manager.resync_users(set())  # first attempt inline: DependencyViolation, 2 s backoff
        controller.queue.add(BACKEND_SG_KEY)
        await reconciler.next_pass()  # second attempt: DependencyViolation again
        assert env.proxy.calls_by_operation()["DeleteSecurityGroup"] == 2
        assert clock.next_deadline() == pytest.approx(4.0)  # requeued after the backoff, not slept
        assert controller.queue.processing_count == 0  # no worker is held while waiting
        await env.api.call("ec2", "RevokeSecurityGroupIngress", GroupId=node_sg, IpPermissions=[permission])
        clock.advance(4.0)
        await reconciler.next_pass()
        assert await env.groups() == []
        assert env.proxy.calls_by_operation()["DeleteSecurityGroup"] == 3
        assert clock.next_deadline() is None  # deleted: nothing requeued
    finally:
        await controller.stop()
