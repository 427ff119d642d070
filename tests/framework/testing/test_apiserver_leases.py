"""Leases: kubernetes_asyncio's own LeaseLock leader election runs against the server (conformance)."""

from __future__ import annotations

import asyncio
import contextlib

from apiserver_test_helpers import unique_name
from kubernetes_asyncio import client
from kubernetes_asyncio.leaderelection import electionconfig, leaderelection
from kubernetes_asyncio.leaderelection.resourcelock.leaselock import LeaseLock


async def test_lease_lock_leader_election(kube_client: client.ApiClient, namespace: str) -> None:
    lease_name = unique_name("leader")
    leading: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    def candidate(identity: str) -> leaderelection.LeaderElection:
        async def started() -> None:
            leading[identity].set()

        async def stopped() -> None:
            leading[identity].clear()

        lock = LeaseLock(lease_name, namespace, identity, kube_client)
        config = electionconfig.Config(
            lock,
            lease_duration=3,
            renew_deadline=2,
            retry_period=1,
            onstarted_leading=started,
            onstopped_leading=stopped,
        )
        return leaderelection.LeaderElection(config)

    first = asyncio.create_task(candidate("a").run())
    try:
        await asyncio.wait_for(leading["a"].wait(), 5)
        second = asyncio.create_task(candidate("b").run())
        try:
            coordination = client.CoordinationV1Api(kube_client)
            acquired = await coordination.read_namespaced_lease(lease_name, namespace)
            assert acquired.spec.holder_identity == "a"
            # The leader renews with a PUT carrying the resourceVersion it read.
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                renewed = await coordination.read_namespaced_lease(lease_name, namespace)
                if renewed.spec.renew_time != acquired.spec.renew_time:
                    break
                assert asyncio.get_running_loop().time() < deadline, "lease was never renewed"
                await asyncio.sleep(0.1)
            assert renewed.spec.holder_identity == "a"
            assert int(renewed.metadata.resource_version) > int(acquired.metadata.resource_version)
            assert not leading["b"].is_set()
        finally:
            second.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await second
    finally:
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
