"""Lease-based leader election over HTTP, against the session's real kube-apiserver.

These tests use the real clock with small lease/renew/retry values (seconds, not minutes): the
protocol's correctness depends on real HTTP round trips interleaving with the timers. The hand-over
test runs as the controller's ServiceAccount, which config/rbac allows exactly one Lease; tests
that count requests or inject faults use the stand-in (it has a request log and fault rules).
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from fast_election import eventually, fast_election
from prometheus_client import CollectorRegistry
from real_kube import RealKube, RestrictedKube

from framework.kube import LEASES, KubeClient
from framework.leaderelection import LeaderElectionSettings, LeaderElector, default_identity
from framework.metrics import framework_metrics
from framework.testing.apiserver import FaultRule, StandInApiServer

NAMESPACE = "kube-system"
LEASE = "lb-sg-controller"


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


class LeaderTracker:
    """Asserts on every status change that at most one candidate leads."""

    def __init__(self) -> None:
        self.leaders: set[str] = set()
        self.history: list[tuple[float, str, bool]] = []
        self.overlaps = 0

    def reporter(self, identity: str) -> Callable[[str, bool], None]:
        def report(lease: str, leading: bool) -> None:
            if leading:
                self.leaders.add(identity)
            else:
                self.leaders.discard(identity)
            if len(self.leaders) > 1:
                self.overlaps += 1
            self.history.append((asyncio.get_running_loop().time(), identity, leading))

        return report


@pytest_asyncio.fixture
async def client(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        yield kube


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_config_defaults_and_validation() -> None:
    config = LeaderElectionSettings("n", "ns")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15.0, 10.0, 2.0)
    assert config.request_timeout == 5.0  # max(renew_deadline / 2, 1 s)
    assert (
        LeaderElectionSettings(
            "n", "ns", lease_duration=2, renew_deadline=1.5, retry_period=0.3
        ).request_timeout
        == 1.0
    )
    with pytest.raises(ValueError, match="lease_duration must be greater"):
        LeaderElectionSettings("n", "ns", lease_duration=10, renew_deadline=10)
    with pytest.raises(ValueError, match=r"1\.2"):
        LeaderElectionSettings("n", "ns", renew_deadline=2.4, retry_period=2)
    with pytest.raises(ValueError):
        LeaderElectionSettings("n", "ns", retry_period=0)
    with pytest.raises(ValueError):
        LeaderElectionSettings("", "ns")
    assert re.fullmatch(r".+_[0-9a-f-]{36}", default_identity())
    assert default_identity() != default_identity()


async def test_acquires_by_creating_the_lease_and_renews_with_optimistic_puts(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    registry = CollectorRegistry()
    metrics = framework_metrics(registry)
    started = asyncio.Event()
    elector = LeaderElector(
        client,
        fast_election("a", lease=LEASE, namespace=NAMESPACE),
        on_started_leading=started.set,
        report_status=lambda name, leading: metrics.leader_status(name).set(1 if leading else 0),
        rng=NoJitter(),
    )
    assert registry.get_sample_value("leader_election_master_status", {"name": LEASE}) == 0
    task = asyncio.create_task(elector.run())
    try:
        await asyncio.wait_for(started.wait(), 5.0)
        assert elector.is_leader
        assert registry.get_sample_value("leader_election_master_status", {"name": LEASE}) == 1
        lease = standin_server.get_object("coordination.k8s.io", "leases", NAMESPACE, LEASE)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseDurationSeconds"] == 2
        assert lease["spec"]["leaseTransitions"] == 0
        first_renew = lease["spec"]["renewTime"]
        await eventually(lambda: len(standin_server.requests.records(verb="update", resource="leases")) >= 2)
        lease = standin_server.get_object("coordination.k8s.io", "leases", NAMESPACE, LEASE)
        assert lease is not None and lease["spec"]["renewTime"] > first_renew
        assert lease["spec"]["acquireTime"] <= first_renew
        # Renewals are PUTs on the known version (fast path): no read before each write.
        assert len(standin_server.requests.records(verb="get", resource="leases")) == 1
        assert elector.check_health() is None
    finally:
        await stop(task)
    assert registry.get_sample_value("leader_election_master_status", {"name": LEASE}) == 0


async def test_exactly_one_leader_and_the_second_takes_over_after_the_first_stops_renewing(
    real_kube: RealKube,
    restricted_kube: RestrictedKube,
) -> None:
    """Run as the controller's ServiceAccount on its one allowed Lease: create, get and update
    are all leader election needs."""
    client = restricted_kube.client

    def config(identity: str) -> LeaderElectionSettings:
        return fast_election(
            identity, lease=restricted_kube.lease_name, namespace=restricted_kube.lease_namespace
        )

    tracker = LeaderTracker()
    loop = asyncio.get_running_loop()
    first = LeaderElector(client, config("first"), report_status=tracker.reporter("first"))
    first_task = asyncio.create_task(first.run())
    await eventually(lambda: first.is_leader)
    second_started = asyncio.Event()
    second = LeaderElector(
        client,
        config("second"),
        on_started_leading=second_started.set,
        report_status=tracker.reporter("second"),
    )
    second_task = asyncio.create_task(second.run())
    try:
        await asyncio.sleep(2.5)  # longer than the lease: the standby must still not take over
        assert first.is_leader and not second.is_leader
        assert second.observed_leader == "first"

        await stop(first_task)  # stops renewing, without releasing the lease
        stopped_at = loop.time()
        await asyncio.wait_for(second_started.wait(), 5.0)
        takeover = loop.time() - stopped_at
        # It waits for the lease to expire as *it* observed it (lease 2 s after the last change
        # it saw, which is at most one retry period before the first one stopped) ...
        assert takeover >= 2.0 - 0.3 - 0.05
        # ... and then needs at most one jittered retry period to notice.
        assert takeover <= 2.0 + 0.3 * 2.2 + 0.5
        lease = await real_kube.lease(restricted_kube.lease_name, restricted_kube.lease_namespace)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "second"
        assert lease["spec"]["leaseTransitions"] == 1
    finally:
        await stop(first_task)
        await stop(second_task)
    assert tracker.overlaps == 0
    assert [(who, leading) for _, who, leading in tracker.history] == [
        ("first", False),  # each candidate reports "not leading" when created
        ("first", True),
        ("second", False),
        ("first", False),
        ("second", True),
        ("second", False),
    ]


async def test_release_on_shutdown_lets_the_successor_take_over_at_once(real_kube: RealKube) -> None:
    client, namespace, lease_name = real_kube.admin, real_kube.namespace, f"lease-{uuid.uuid4().hex[:8]}"
    loop = asyncio.get_running_loop()
    first = LeaderElector(client, fast_election("first", release=True, lease=lease_name, namespace=namespace))
    first_task = asyncio.create_task(first.run())
    await eventually(lambda: first.is_leader)
    second = LeaderElector(client, fast_election("second", lease=lease_name, namespace=namespace))
    second_task = asyncio.create_task(second.run())
    try:
        await eventually(lambda: second.observed_leader == "first")
        await stop(first_task)
        assert await first.release()
        released_at = loop.time()
        lease = await real_kube.lease(lease_name)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == ""
        assert lease["spec"]["leaseDurationSeconds"] == 1
        await eventually(lambda: second.is_leader, within=3.0)
        assert loop.time() - released_at < 2.0  # well before the 2 s lease would have run out
        assert not await first.release()  # nothing left to release
    finally:
        await stop(second_task)


async def test_release_after_a_write_we_did_not_see_still_releases(real_kube: RealKube) -> None:
    """A renewal cancelled mid-flight can still land on the server: the release then conflicts on a
    stale resourceVersion, re-reads the lease, finds it still ours and releases it anyway."""
    client, namespace, lease_name = real_kube.admin, real_kube.namespace, f"lease-{uuid.uuid4().hex[:8]}"
    elector = LeaderElector(
        client, fast_election("only", release=True, lease=lease_name, namespace=namespace)
    )
    task = asyncio.create_task(elector.run())
    try:
        await eventually(lambda: elector.is_leader)
    finally:
        await stop(task)
    lease = await real_kube.lease(lease_name)
    assert lease is not None
    # Bump the resourceVersion behind the elector's back; the holder stays "only".
    lease["metadata"].setdefault("annotations", {})["touched"] = "yes"
    await client.replace(LEASES, lease_name, lease, namespace)
    assert await elector.release()
    released = await real_kube.lease(lease_name)
    assert released is not None and released["spec"]["holderIdentity"] == ""


async def test_a_leader_that_cannot_renew_stops_leading_within_the_renew_deadline(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    loop = asyncio.get_running_loop()
    lost_at: list[float] = []
    elector = LeaderElector(
        client,
        fast_election("a", lease=LEASE, namespace=NAMESPACE),
        on_stopped_leading=lambda: lost_at.append(loop.time()),
    )
    task = asyncio.create_task(elector.run())
    try:
        await eventually(lambda: elector.is_leader)
        renewals = len(standin_server.requests.records(verb="update", resource="leases"))
        await eventually(
            lambda: len(standin_server.requests.records(verb="update", resource="leases")) > renewals
        )
        last_success = loop.time()
        # Each renewal now hangs beyond the per-request bound of max(1.5 / 2, 1) = 1 s.
        standin_server.faults.add(
            FaultRule(verb="update", resource="leases", status=None, delay_seconds=1.6, times=None)
        )
        await asyncio.wait_for(task, 5.0)  # run() returns once leadership is lost
    finally:
        await stop(task)
    # Let the server finish the requests it was still delaying, so no handler outlives the test.
    await eventually(
        lambda: all(r.duration_seconds > 0 for r in standin_server.requests.records(verb="update"))
    )
    (lost,) = lost_at
    assert not elector.is_leader
    # Lost after the renew deadline (1.5 s from the first failed round) and before the lease (2 s)
    # could expire for anyone else: retry (0.3) + deadline (1.5), plus scheduling slack.
    assert 1.5 <= lost - last_success <= 0.3 + 1.5 + 0.4
    lease = standin_server.get_object("coordination.k8s.io", "leases", NAMESPACE, LEASE)
    assert lease is not None and lease["spec"]["holderIdentity"] == "a"  # not released, just lost


async def test_health_check_fails_when_leading_without_renewal_past_the_tolerance(
    real_kube: RealKube,
) -> None:
    from framework.clock import FakeClock

    clock = FakeClock()
    config = fast_election("a", lease=f"lease-{uuid.uuid4().hex[:8]}", namespace=real_kube.namespace)
    elector = LeaderElector(real_kube.admin, config, clock=clock, rng=NoJitter())
    task = asyncio.create_task(elector.run())
    try:
        await eventually(lambda: elector.is_leader)
        assert elector.check_health(tolerance=1.0) is None
        # Virtual time jumps past lease (2 s) + tolerance (1 s); the renew loop's sleep fires but the
        # loop has not run yet, which is exactly what a stuck renew loop looks like to the probe.
        clock.advance(3.5)
        problem = elector.check_health(tolerance=1.0)
        assert problem is not None and "failed to renew lease" in problem
    finally:
        await stop(task)
