"""The manager over HTTP: start-up order, probes, metrics, leader election hand-over, lease loss and
the ordered graceful shutdown.

The hand-over and SIGTERM tests run on the session's real kube-apiserver, the hand-over as the
controller's ServiceAccount (config/rbac: its one Lease, reading pods); tests that inject faults
use the stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from fast_election import eventually, fast_election
from prometheus_client import CollectorRegistry
from real_kube import RealKube, RestrictedKube

from framework.controller import Controller, Result
from framework.httpserver import BindAddress
from framework.informer import BackoffPolicy, FunctionHandler, ReflectorSettings, final_state, object_key
from framework.kube import LEASES, MERGE_PATCH_CONTENT_TYPE, PODS, KubeClient, KubeObject
from framework.leaderelection import LeaderElectionSettings
from framework.manager import CacheSyncTimeout, LeaderElectionLost, Manager, ManagerSettings
from framework.testing.apiserver import FaultRule, StandInApiServer

NAMESPACE = "default"
LEASE = "manager-test"
LOCAL = BindAddress("127.0.0.1", 0)
FAST_INFORMERS = ReflectorSettings(backoff=BackoffPolicy(initial=0.05, cap=0.2))


def settings(**overrides: Any) -> ManagerSettings:
    values: dict[str, Any] = {
        "metrics_address": LOCAL,
        "probe_address": LOCAL,
        "graceful_shutdown_timeout": 5.0,
    }
    values.update(overrides)
    return ManagerSettings(**values)


class RecordingReconciler:
    def __init__(self) -> None:
        self.keys: list[str] = []

    async def reconcile(self, key: str) -> Result:
        self.keys.append(key)
        return Result()


class ProbeRunnable:
    """A leader-only runnable that records how and when it was started and stopped."""

    def __init__(self, name: str, on_stop: Callable[[], None] | None = None):
        self.name = name
        self.started = False
        self.stop_timeouts: list[float | None] = []
        self._on_stop = on_stop

    def start(self) -> None:
        self.started = True

    async def stop(self, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109 - Controller's signature
        self.stop_timeouts.append(timeout)
        if self._on_stop is not None:
            self._on_stop()


@pytest_asyncio.fixture
async def client(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        yield kube


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def get(http: aiohttp.ClientSession, port: int | None, path: str) -> tuple[int, str]:
    assert port is not None
    async with http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def pod(name: str) -> KubeObject:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}


async def finish(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_probes_metrics_controllers_and_ordered_graceful_shutdown(
    client: KubeClient,
    http: aiohttp.ClientSession,
    standin_server: StandInApiServer,
) -> None:
    await client.create(PODS, pod("a"), NAMESPACE)
    registry = CollectorRegistry()
    manager = Manager(
        client,
        settings(leader_election=fast_election("one", release=True, lease=LEASE, namespace=NAMESPACE)),
        registry=registry,
        informer_settings=FAST_INFORMERS,
    )
    reconciler = RecordingReconciler()
    controller: Controller[str] = Controller("pods", reconciler, registry=registry)
    pods = manager.informers.informer(PODS, namespace=NAMESPACE)
    pods.add_handler(FunctionHandler(add=lambda obj, _: controller.queue.add(object_key(obj))))
    manager.add_controller(controller)

    order: list[str] = []
    lease_holder = ""

    def holder() -> str:
        lease = standin_server.get_object(LEASES.group, LEASES.plural, NAMESPACE, LEASE)
        return "" if lease is None else str(lease["spec"]["holderIdentity"])

    def on_controller_stop() -> None:
        order.append("controllers")
        assert pods.is_running, "informers must still run while controllers drain"
        assert holder() == "one", "the lease must still be held while controllers drain"

    manager.add_controller(ProbeRunnable("probe", on_stop=on_controller_stop))
    assert manager.elector is not None
    real_release = manager.elector.release

    async def recording_release() -> bool:
        order.append("release")
        assert not pods.is_running, "informers stop before the lease is released"
        status, _ = await get(http, manager.probe_port, "/healthz")
        assert status == 200, "HTTP servers stop last"
        return await real_release()

    manager.elector.release = recording_release  # type: ignore[method-assign]

    # The first two lists fail: the probes must answer while the informer is still syncing.
    standin_server.faults.add(FaultRule(verb="list", resource="pods", status=500, delay_seconds=0.3, times=2))
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        await eventually(lambda: manager.probe_port is not None and manager.metrics_port is not None)
        probe_port = manager.probe_port
        status, body = await get(http, manager.probe_port, "/readyz?verbose")
        assert status == 500 and "[-]informer-sync" in body
        status, body = await get(http, manager.probe_port, "/healthz?verbose")
        assert status == 200 and "[+]ping ok" in body and "[+]leaderElection ok" in body

        await eventually(lambda: reconciler.keys == [f"{NAMESPACE}/a"])
        assert manager.is_leader
        assert (await get(http, manager.probe_port, "/readyz"))[0] == 200
        lease_holder = holder()
        status, text = await get(http, manager.metrics_port, "/metrics")
        assert status == 200
        assert f'leader_election_master_status{{name="{LEASE}"}} 1.0' in text
        assert 'workqueue_adds_total{controller="pods",name="pods"} 1.0' in text
        assert 'controller_runtime_reconcile_total{controller="pods",result="success"} 1.0' in text
        assert 'controller_runtime_max_concurrent_reconciles{controller="pods"} 1.0' in text

        manager.request_shutdown()
        await asyncio.wait_for(task, 5.0)
    finally:
        await finish(task)
    assert lease_holder == "one"
    assert order == ["controllers", "release"]
    assert holder() == ""  # released for a fast hand-over
    assert registry.get_sample_value("leader_election_master_status", {"name": LEASE}) == 0
    assert not controller.running
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, probe_port, "/healthz")


async def test_two_managers_exactly_one_leader_and_the_standby_takes_over(
    real_kube: RealKube,
    restricted_kube: RestrictedKube,
) -> None:
    client = restricted_kube.client

    def restricted_election(identity: str) -> LeaderElectionSettings:
        return fast_election(
            identity, lease=restricted_kube.lease_name, namespace=restricted_kube.lease_namespace
        )

    loop = asyncio.get_running_loop()
    first_runnable, second_runnable = ProbeRunnable("first"), ProbeRunnable("second")
    first = Manager(
        client, settings(leader_election=restricted_election("first")), registry=CollectorRegistry()
    )
    second = Manager(
        client, settings(leader_election=restricted_election("second")), registry=CollectorRegistry()
    )
    first.add_controller(first_runnable)
    second.add_controller(second_runnable)
    first.informers.informer(PODS, namespace=real_kube.namespace)
    second.informers.informer(PODS, namespace=real_kube.namespace)

    both_leading = 0
    sampling = True

    async def sample() -> None:
        nonlocal both_leading
        while sampling:
            if first.is_leader and second.is_leader:
                both_leading += 1
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    first_task = asyncio.create_task(first.run(handle_signals=False))
    second_task: asyncio.Task[None] | None = None
    try:
        await eventually(lambda: first.is_leader)
        second_task = asyncio.create_task(second.run(handle_signals=False))
        await asyncio.sleep(1.0)
        assert not second.is_leader and not second_runnable.started
        assert second.elector is not None and second.elector.observed_leader == "first"

        first.request_shutdown()  # no release configured: the standby waits for the lease to expire
        await asyncio.wait_for(first_task, 5.0)
        stopped_at = loop.time()
        await eventually(lambda: second.is_leader, within=5.0)
        assert loop.time() - stopped_at >= 2.0 - 0.3 - 0.05  # not before the lease ran out
        assert second_runnable.started
        assert first_runnable.stop_timeouts and first_runnable.stop_timeouts[0] is not None
        assert first_runnable.stop_timeouts[0] > 0  # graceful: controllers were allowed to drain
        second.request_shutdown()
        await asyncio.wait_for(second_task, 5.0)
    finally:
        sampling = False
        await finish(sampler)
        await finish(first_task)
        if second_task is not None:
            await finish(second_task)
    assert both_leading == 0


def key_handler(controller: Controller[str]) -> FunctionHandler:
    """Every change enqueues the object's key."""
    return FunctionHandler(
        add=lambda obj, _initial: controller.queue.add(object_key(obj)),
        update=lambda _old, new: controller.queue.add(object_key(new)),
        delete=lambda obj: controller.queue.add(object_key(final_state(obj))),
    )


async def test_a_standby_queues_nothing_and_enqueues_its_cache_once_on_taking_over(
    real_kube: RealKube,
) -> None:
    """Standbys run no controllers (as upstream): their informers keep the cache warm, but nothing
    is queued where no worker will ever take it. The new leader enqueues each cached object once."""
    client, namespace = real_kube.admin, real_kube.namespace
    for name in ("a", "b"):
        await client.create(PODS, pod(name), namespace)

    def replica(identity: str) -> tuple[Manager, RecordingReconciler, CollectorRegistry]:
        registry = CollectorRegistry()
        election = fast_election(identity, lease=LEASE, namespace=namespace, release=True)
        manager = Manager(
            client, settings(leader_election=election), registry=registry, informer_settings=FAST_INFORMERS
        )
        reconciler = RecordingReconciler()
        controller: Controller[str] = Controller("pods", reconciler, registry=registry)
        controller.watch(manager.informers.informer(PODS, namespace=namespace), key_handler(controller))
        manager.add_controller(controller)
        return manager, reconciler, registry

    def queue(registry: CollectorRegistry, metric: str) -> float | None:
        return registry.get_sample_value(metric, {"controller": "pods", "name": "pods"})

    first, first_keys, _ = replica("first")
    second, second_keys, second_registry = replica("second")
    first_task = asyncio.create_task(first.run(handle_signals=False))
    second_task: asyncio.Task[None] | None = None
    try:
        await eventually(lambda: sorted(first_keys.keys) == [f"{namespace}/a", f"{namespace}/b"])
        second_task = asyncio.create_task(second.run(handle_signals=False))
        standby_pods = second.informers.informer(PODS, namespace=namespace)
        await eventually(lambda: standby_pods.has_synced)

        # Objects change while the second replica is standing by: its cache follows, its queue does not.
        await client.create(PODS, pod("c"), namespace)
        await client.request(
            "PATCH",
            PODS.object_path("a", namespace),
            body={"metadata": {"labels": {"changed": "yes"}}},
            content_type=MERGE_PATCH_CONTENT_TYPE,
        )
        await client.request("DELETE", PODS.object_path("b", namespace), query=[("gracePeriodSeconds", "0")])

        def standby_cache_caught_up() -> bool:
            a = standby_pods.store.get(f"{namespace}/a")
            return (
                a is not None
                and a["metadata"].get("labels") == {"changed": "yes"}
                and standby_pods.store.get(f"{namespace}/b") is None
                and standby_pods.store.get(f"{namespace}/c") is not None
            )

        await eventually(standby_cache_caught_up)
        await eventually(lambda: f"{namespace}/c" in first_keys.keys)  # the leader saw them
        await asyncio.sleep(0.2)  # room for any late delivery to the standby's handlers
        assert not second.is_leader
        assert queue(second_registry, "workqueue_depth") == 0
        assert queue(second_registry, "workqueue_adds_total") == 0
        assert second_keys.keys == []

        first.request_shutdown()  # releases the lease: the standby takes over at its next retry
        await asyncio.wait_for(first_task, 5.0)
        await eventually(lambda: second.is_leader)
        await eventually(lambda: sorted(second_keys.keys) == [f"{namespace}/a", f"{namespace}/c"])
        assert queue(second_registry, "workqueue_adds_total") == 2  # each cached object once

        await client.create(PODS, pod("d"), namespace)  # and it keeps converging as the leader
        await eventually(lambda: f"{namespace}/d" in second_keys.keys)
        await eventually(lambda: queue(second_registry, "workqueue_depth") == 0)
        second.request_shutdown()
        await asyncio.wait_for(second_task, 5.0)
    finally:
        await finish(first_task)
        if second_task is not None:
            await finish(second_task)


async def test_losing_the_lease_stops_controllers_at_once_and_run_raises(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    runnable = ProbeRunnable("probe")
    manager = Manager(
        client,
        settings(leader_election=fast_election("only", lease=LEASE, namespace=NAMESPACE)),
        registry=CollectorRegistry(),
    )
    manager.add_controller(runnable)
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        await eventually(lambda: runnable.started)
        standin_server.faults.add(FaultRule(verb="update", resource="leases", status=500, times=None))
        with pytest.raises(LeaderElectionLost, match="leader election lost"):
            await asyncio.wait_for(task, 5.0)
    finally:
        await finish(task)
    assert runnable.stop_timeouts == [0]  # no drain: another replica may already be reconciling
    assert not manager.is_leader


async def test_cache_sync_timeout_fails_start_and_stops_everything(
    client: KubeClient,
    http: aiohttp.ClientSession,
    standin_server: StandInApiServer,
) -> None:
    runnable = ProbeRunnable("probe")
    manager = Manager(
        client,
        settings(cache_sync_timeout=0.5),
        registry=CollectorRegistry(),
        informer_settings=FAST_INFORMERS,
    )
    manager.add_controller(runnable)
    manager.informers.informer(PODS)
    standin_server.faults.add(FaultRule(verb="list", resource="pods", status=500, times=None))
    task = asyncio.create_task(manager.run(handle_signals=False))
    try:
        await eventually(lambda: manager.probe_port is not None)
        probe_port = manager.probe_port
        with pytest.raises(CacheSyncTimeout, match="pods"):
            await asyncio.wait_for(task, 5.0)
    finally:
        await finish(task)
    assert not runnable.started
    assert all(not informer.is_running for informer in manager.informers.informers)
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, probe_port, "/healthz")


async def test_sigterm_starts_the_graceful_shutdown(real_kube: RealKube) -> None:
    runnable = ProbeRunnable("probe")
    manager = Manager(real_kube.admin, settings(), registry=CollectorRegistry())  # no leader election
    manager.add_controller(runnable)
    manager.informers.informer(PODS, namespace=real_kube.namespace)
    task = asyncio.create_task(manager.run())
    try:
        await eventually(lambda: runnable.started)
        assert manager.is_leader
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 5.0)
    finally:
        await finish(task)
    assert runnable.stop_timeouts and runnable.stop_timeouts[0] is not None and runnable.stop_timeouts[0] > 0
    # The manager's handler was removed again: the default disposition is back.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
