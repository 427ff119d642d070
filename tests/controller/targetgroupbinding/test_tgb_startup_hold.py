"""Start-up: bindings publishing one by one converge each endpoint SG once (design.md Difference 2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from tgb_harness import NAMESPACE, Harness, build_harness

from controller.aws.api import AwsApi
from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.packing import pack_rules
from controller.endpointsg.startup_hold import StartupHoldSettings
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework import objects
from framework.kube import KubeClient

BINDINGS = 12
HOLD = StartupHoldSettings(timeout=10.0, poll_interval=1.0)
MAX_RANGES = 4  # the harness's --max-port-ranges-per-source


@pytest_asyncio.fixture
async def held(kube: KubeClient, aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> AsyncIterator[Harness]:
    built = build_harness(kube, aws_api, sandbox_vpc, startup_hold=HOLD)
    try:
        yield built
    finally:
        await built.stop()


def from_sg(group_id: str, port: int | str) -> dict[str, Any]:
    return {
        "ingress": [
            {"from": [{"securityGroup": {"groupID": group_id}}], "ports": [{"protocol": "TCP", "port": port}]}
        ]
    }


def node_port(i: int) -> int:
    # Far apart, so that every arrival re-packs the MAX_RANGES ranges without the hold.
    return 30000 + 53 * i


async def given_bindings(harness: Harness, backend_sg: str, count: int) -> None:
    """``count`` instance bindings, each on its own NodePort and target group."""
    for i in range(count):
        name = f"web-{i}"
        await harness.create_service(name, [{"name": "http", "port": 80, "nodePort": node_port(i)}])
        arn = await harness.target_group(f"tg-{i}", "instance")
        await harness.create_binding(
            name,
            arn=arn,
            target_type="instance",
            service=name,
            port=80,
            networking=from_sg(backend_sg, node_port(i)),
        )


def packed(backend_sg: str, bindings: range) -> set[EndpointRule]:
    """The node SG's rules when ``bindings`` (by index) need their NodePorts."""
    needed = [
        EndpointRule("tcp", PortRange.single(node_port(i)), Source.security_group(backend_sg))
        for i in bindings
    ]
    return set(pack_rules(needed, MAX_RANGES))


async def test_bindings_published_one_by_one_authorize_the_node_sg_once(
    held: Harness, aws_proxy: AwsProxy
) -> None:
    backend_sg, node_sg = await held.security_group("backend"), await held.security_group("node")
    await held.create_node("node-1", await held.instance(node_sg))
    await given_bindings(held, backend_sg, BINDINGS)
    aws_proxy.reset_counts()
    await held.start()

    async def converged() -> None:
        assert await held.labelled_rules(node_sg) == packed(backend_sg, range(BINDINGS))

    await held.eventually(converged, "the node SG to hold every NodePort")
    assert held.clock.now() < HOLD.timeout  # released by the last publish, not by the timeout
    calls = aws_proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] == 1
    assert calls["RevokeSecurityGroupIngress"] == 0

    # Released for good: a binding deleted now is revoked at once, without waiting for anything.
    aws_proxy.reset_counts()
    deleted_at = held.clock.now()
    await objects.delete(held.client, TARGET_GROUP_BINDINGS, "web-0", NAMESPACE)

    async def shrunk() -> None:
        assert await held.labelled_rules(node_sg) == packed(backend_sg, range(1, BINDINGS))

    await held.eventually(shrunk, "web-0's port to be revoked")
    assert held.clock.now() - deleted_at < HOLD.poll_interval


async def test_a_binding_that_cannot_publish_holds_the_sgs_only_until_the_timeout(
    held: Harness, aws_proxy: AwsProxy
) -> None:
    backend_sg, node_sg = await held.security_group("backend"), await held.security_group("node")
    await held.create_node("node-1", await held.instance(node_sg))
    await given_bindings(held, backend_sg, 3)
    # A named port cannot be used with instance targets: this binding never publishes.
    await held.create_service("stuck", [{"name": "http", "port": 80, "nodePort": 32000}])
    await held.create_binding(
        "stuck",
        arn=await held.target_group("tg-stuck", "instance"),
        target_type="instance",
        service="stuck",
        port=80,
        networking=from_sg(backend_sg, "http"),
    )
    aws_proxy.reset_counts()
    await held.start()

    async def published() -> None:
        assert held.ownership.unpublished_tgbs == {f"{NAMESPACE}/stuck"}

    await held.eventually(published, "every binding but the stuck one to publish")
    assert held.clock.now() < HOLD.timeout
    assert aws_proxy.calls_by_operation()["AuthorizeSecurityGroupIngress"] == 0

    async def converged() -> None:
        assert await held.labelled_rules(node_sg) == packed(backend_sg, range(3))

    held.clock.advance(HOLD.timeout)
    await held.eventually(converged, "the held pass to run after the timeout")
    calls = aws_proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] == 1
    assert calls["RevokeSecurityGroupIngress"] == 0
