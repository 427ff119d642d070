"""Shared informers over HTTP.

Timing (inactivity windows, backoff, resync) runs on a FakeClock: the tests advance virtual time
and only wait, in real time, for the HTTP round trips those steps cause. Tests that stall, drop or
fail watches, compact, or read the request log use the stand-in; the rest run on the session's
real kube-apiserver, each in a namespace of its own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from real_kube import RealKube

from framework.clock import FakeClock
from framework.informer import (
    BackoffPolicy,
    DeletedFinalStateUnknown,
    FunctionHandler,
    InformerFactory,
    ReflectorSettings,
    SharedInformer,
)
from framework.kube import PODS, KubeClient, KubeObject
from framework.testing.apiserver import FaultRule, StandInApiServer

NAMESPACE = "default"


class NoJitter(random.Random):
    """Jitter factor 0: backoff steps are exactly 0.8, 1.6, 3.2 ...; watch timeouts exactly the minimum."""

    def random(self) -> float:
        return 0.0


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll (real time) until ``predicate()`` holds; used to wait for HTTP round trips only."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def advance_through_backoffs(
    informer: SharedInformer, clock: FakeClock, done: Callable[[], bool]
) -> None:
    """Fire each backoff sleep as soon as the reflector starts it, until ``done()``."""
    fired = 0
    while True:
        await eventually(lambda fired=fired: done() or informer.stats.backoffs > fired)  # type: ignore[misc]
        if done():
            return
        fired = informer.stats.backoffs
        clock.advance_to_next_timer()  # while backing off, the sleep is the only timer


class Recorder:
    """Records every notification with the store state at delivery time."""

    def __init__(self, informer: SharedInformer | None = None):
        self.events: list[tuple[str, Any]] = []
        self.informer = informer
        self.store_had_key_at_delete: list[bool] = []

    def handler(self) -> FunctionHandler:
        return FunctionHandler(add=self.on_add, update=self.on_update, delete=self.on_delete)

    def on_add(self, obj: KubeObject, initial: bool) -> None:
        self.events.append(("add-initial" if initial else "add", obj["metadata"]["name"]))

    def on_update(self, old: KubeObject, new: KubeObject) -> None:
        self.events.append(("resync" if old is new else "update", new["metadata"]["name"]))

    def on_delete(self, obj: KubeObject | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.events.append(("tombstone", obj))
            if self.informer is not None:
                self.store_had_key_at_delete.append(obj.key in self.informer.store)
        else:
            self.events.append(("delete", obj["metadata"]["name"]))

    def kinds(self, kind: str) -> list[Any]:
        return [value for k, value in self.events if k == kind]


def pod(name: str) -> KubeObject:
    return {
        "metadata": {"name": name, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }


@pytest_asyncio.fixture
async def client(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        yield kube


def watch_queries(server: StandInApiServer) -> list[str]:
    return [r.info.query for r in server.requests.records(verb="watch", resource="pods")]


def list_queries(server: StandInApiServer) -> list[str]:
    return [r.info.query for r in server.requests.records(verb="list", resource="pods")]


def query_value(query: str, name: str) -> str | None:
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key == name:
            return value
    return None


async def test_initial_list_is_paginated_transformed_and_delivered_as_initial(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    for index in range(7):
        await client.create(PODS, pod(f"p{index}"), NAMESPACE)
    factory = InformerFactory(client, settings=ReflectorSettings(page_size=3))
    informer = factory.informer(PODS, namespace=NAMESPACE)
    assert factory.informer(PODS, namespace=NAMESPACE) is informer  # one per collection
    recorder = Recorder()
    registration = informer.add_handler(recorder.handler())
    factory.start()
    try:
        assert await factory.wait_for_sync(5.0)
        await asyncio.wait_for(registration.wait_for_sync(), 5.0)
        assert sorted(recorder.kinds("add-initial")) == [f"p{i}" for i in range(7)]
        assert len(informer.store) == 7
        cached = informer.store.get(f"{NAMESPACE}/p0")
        assert cached is not None
        assert "managedFields" not in cached["metadata"]
        assert cached["kind"] == "Pod" and cached["apiVersion"] == "v1"
        lists = list_queries(standin_server)
        assert len(lists) == 3  # 3 + 3 + 1 objects
        assert query_value(lists[0], "resourceVersion") == "0"  # first list served from the watch cache
        assert all(query_value(q, "limit") == "3" for q in lists)
        assert all(query_value(q, "continue") for q in lists[1:])
        assert informer.last_sync_resource_version == str(standin_server.resource_version)

        # Watch events after sync: adds, updates, deletes, in order, store updated first.
        await client.create(PODS, pod("new"), NAMESPACE)
        await client.request(
            "PATCH",
            PODS.object_path("p1", NAMESPACE),
            body={"metadata": {"labels": {"changed": "yes"}}},
            content_type="application/merge-patch+json",
        )
        await client.request("DELETE", PODS.object_path("p2", NAMESPACE))
        await eventually(lambda: len(recorder.events) == 10)
        assert recorder.events[7:] == [("add", "new"), ("update", "p1"), ("delete", "p2")]
        assert f"{NAMESPACE}/p2" not in informer.store
        assert informer.stats.watches == 1
        assert len(informer.store.by_index("namespace", NAMESPACE)) == 7
    finally:
        await factory.stop()
    (watch_query,) = watch_queries(standin_server)  # the request log lists requests on arrival
    assert query_value(watch_query, "resourceVersion") == str(standin_server.resource_version - 3)
    assert query_value(watch_query, "allowWatchBookmarks") == "true"
    assert 300 <= int(query_value(watch_query, "timeoutSeconds") or 0) <= 600


async def test_stalled_watch_is_replaced_within_the_inactivity_window(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    settings = ReflectorSettings(inactivity_timeout=30.0)
    informer = SharedInformer(
        client, PODS, namespace=NAMESPACE, settings=settings, clock=clock, rng=NoJitter()
    )
    recorder = Recorder()
    informer.add_handler(recorder.handler())
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        list_rv = informer.last_sync_resource_version
        await eventually(lambda: standin_server.open_watches == 1)
        await client.create(PODS, pod("before-stall"), NAMESPACE)
        await eventually(lambda: recorder.kinds("add") == ["before-stall"])
        rv_of_last_event = informer.last_sync_resource_version

        standin_server.stall_watches("pods")  # the stream stays open but goes silent
        await client.create(PODS, pod("during-stall"), NAMESPACE)
        clock.advance(29.0)
        await asyncio.sleep(0.05)
        assert informer.stats.watches == 1 and informer.stats.stalls == 0

        clock.advance(1.0)  # the inactivity window has passed: the watch is replaced now
        await eventually(lambda: informer.stats.watches == 2)
        assert informer.stats.stalls == 1
        assert informer.stats.lists == 1  # a stall re-watches from the last RV, no relist
        await eventually(lambda: len(watch_queries(standin_server)) == 2)
        replaced, replacement = watch_queries(standin_server)
        assert query_value(replaced, "resourceVersion") == list_rv
        assert query_value(replacement, "resourceVersion") == rv_of_last_event
        standin_server.resume_watches()
        await eventually(lambda: recorder.kinds("add") == ["before-stall", "during-stall"])
        assert int(informer.last_sync_resource_version) > int(rv_of_last_event)
    finally:
        await informer.stop()


async def test_a_410_storm_relists_once_per_backoff_step_and_rv_never_goes_back(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    settings = ReflectorSettings(backoff=BackoffPolicy(initial=0.8, cap=30.0, jitter=1.0))
    informer = SharedInformer(
        client, PODS, namespace=NAMESPACE, settings=settings, clock=clock, rng=NoJitter()
    )
    recorder = Recorder(informer)
    informer.add_handler(recorder.handler())
    await client.create(PODS, pod("a"), NAMESPACE)
    storm = standin_server.faults.add(FaultRule(verb="watch", resource="pods", status=410, times=None))
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        await eventually(lambda: standin_server.faults.hits(storm) == 1)
        for step, delay in enumerate([0.8, 1.6, 3.2, 6.4, 12.8], start=1):
            # The failure is counted right before the reflector goes to sleep for its backoff.
            await eventually(lambda step=step: informer.stats.watch_failures == step)  # type: ignore[misc]
            assert informer.stats.lists == step
            await client.create(PODS, pod(f"during-storm-{step}"), NAMESPACE)  # history moves on
            clock.advance(delay - 0.01)
            await asyncio.sleep(0.02)
            assert informer.stats.lists == step, "relisted before the backoff step elapsed"
            clock.advance(0.01 + 1e-9)  # (float rounding of the accumulated virtual time)
            await eventually(lambda step=step: informer.stats.lists == step + 1)  # type: ignore[misc]
            await eventually(lambda step=step: standin_server.faults.hits(storm) == step + 1)  # type: ignore[misc]
        standin_server.faults.clear()
        await eventually(lambda: informer.stats.watch_failures == 6)
        clock.advance(25.6)  # the sixth 410 still relists, after its backoff step
        await eventually(lambda: standin_server.open_watches == 1)
        await client.create(PODS, pod("after-storm"), NAMESPACE)
        await eventually(lambda: "after-storm" in recorder.kinds("add"))
    finally:
        await informer.stop()

    lists = list_queries(standin_server)
    assert len(lists) == 7  # the initial list plus one relist per 410 (six of them)
    relist_rvs = [int(query_value(q, "resourceVersion") or 0) for q in lists[1:]]
    watch_rvs = [int(query_value(q, "resourceVersion") or 0) for q in watch_queries(standin_server)]
    assert relist_rvs == sorted(relist_rvs) and relist_rvs[0] > 0  # relists at the last RV, never ""
    assert all(query_value(q, "resourceVersionMatch") == "NotOlderThan" for q in lists[1:])
    assert watch_rvs == sorted(watch_rvs)
    assert recorder.kinds("tombstone") == []


async def test_relist_falls_back_to_a_quorum_read_when_the_last_rv_is_gone(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    informer = SharedInformer(client, PODS, namespace=NAMESPACE, clock=clock, rng=NoJitter())
    await client.create(PODS, pod("a"), NAMESPACE)
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        await eventually(lambda: standin_server.open_watches == 1)
        standin_server.faults.add(FaultRule(verb="watch", resource="pods", status=410, times=1))
        standin_server.faults.add(FaultRule(verb="list", resource="pods", status=410, times=1))
        standin_server.drop_watches("pods")
        await advance_through_backoffs(informer, clock, lambda: informer.stats.lists == 2)
    finally:
        await informer.stop()
    lists = list_queries(standin_server)
    rvs = [query_value(q, "resourceVersion") for q in lists]
    assert rvs[0] == "0" and rvs[1] not in ("", "0") and rvs[2] == ""  # last RV, then a quorum read
    assert len(lists) == 3


async def test_a_delete_missed_during_a_disconnect_arrives_as_a_tombstone_after_relist(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    informer = SharedInformer(client, PODS, namespace=NAMESPACE, clock=clock, rng=NoJitter())
    recorder = Recorder(informer)
    informer.add_handler(recorder.handler())
    for name in ("a", "b", "c"):
        await client.create(PODS, pod(name), NAMESPACE)
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        await eventually(lambda: len(recorder.events) == 3 and standin_server.open_watches == 1)
        last_known_b = informer.store.get(f"{NAMESPACE}/b")

        # Disconnect and keep the watch down while b is deleted and the history is compacted.
        standin_server.faults.add(FaultRule(verb="watch", resource="pods", status=503, times=None))
        standin_server.drop_watches("pods", abort=True)
        await eventually(lambda: informer.stats.watch_failures >= 1)
        await client.request("DELETE", PODS.object_path("b", NAMESPACE))
        await client.create(PODS, pod("d"), NAMESPACE)
        standin_server.compact()
        standin_server.faults.clear()

        # Back online: re-watching from the old RV answers 410, so the informer relists.
        await advance_through_backoffs(informer, clock, lambda: informer.stats.lists == 2)
        await eventually(lambda: ("add", "d") in recorder.events)
    finally:
        await informer.stop()

    relist_events = recorder.events[3:]
    tombstones = recorder.kinds("tombstone")
    assert len(tombstones) == 1
    (tombstone,) = tombstones
    assert tombstone.key == f"{NAMESPACE}/b"
    assert tombstone.obj is last_known_b  # the last state this cache saw
    assert recorder.store_had_key_at_delete == [False]  # store replaced before handlers ran
    # Deletes come before the adds/updates of the same relist.
    assert relist_events[0][0] == "tombstone"
    assert sorted(relist_events[1:]) == [("add", "d"), ("update", "a"), ("update", "c")]


async def test_429_and_5xx_on_the_watch_back_off_and_rewatch_without_relisting(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    informer = SharedInformer(client, PODS, namespace=NAMESPACE, clock=clock, rng=NoJitter())
    throttled = standin_server.faults.add(
        FaultRule(verb="watch", resource="pods", status=429, retry_after_seconds=5, times=2)
    )
    unavailable = standin_server.faults.add(FaultRule(verb="watch", resource="pods", status=503, times=1))
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        await eventually(lambda: informer.stats.watch_failures == 1)
        clock.advance(4.9)  # Retry-After (5 s) wins over the 0.8 s backoff step
        await asyncio.sleep(0.02)
        assert standin_server.faults.hits(throttled) == 1
        clock.advance(0.1)
        await eventually(lambda: informer.stats.watch_failures == 2)
        assert standin_server.faults.hits(throttled) == 2
        clock.advance(5.0)
        await eventually(lambda: informer.stats.watch_failures == 3)
        assert standin_server.faults.hits(unavailable) == 1
        clock.advance(3.2)  # third backoff step: 0.8, 1.6, 3.2
        await eventually(lambda: standin_server.open_watches == 1)
        assert informer.stats.lists == 1  # never relisted
        assert informer.stats.watch_failures == 3
    finally:
        await informer.stop()


async def test_handlers_are_isolated_late_handlers_get_synthetic_adds_and_resync_uses_the_cache(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    informer = SharedInformer(client, PODS, namespace=NAMESPACE, clock=clock, rng=NoJitter())
    release_slow = asyncio.Event()
    slow_seen: list[str] = []

    async def slow_add(obj: KubeObject, initial: bool) -> None:
        await release_slow.wait()  # blocked until the test lets it go
        slow_seen.append(obj["metadata"]["name"])

    slow_registration = informer.add_handler(FunctionHandler(add=slow_add), name="slow")
    fast = Recorder()
    fast_registration = informer.add_handler(fast.handler(), resync_period=0.2, name="fast")  # floor: 1 s
    await client.create(PODS, pod("a"), NAMESPACE)
    informer.start()
    try:
        assert await informer.wait_for_sync(None)
        await eventually(lambda: fast_registration.has_synced)
        assert not slow_registration.has_synced
        await client.create(PODS, pod("b"), NAMESPACE)
        await eventually(lambda: fast.kinds("add") == ["b"])  # the blocked handler did not hold it up
        assert slow_seen == []

        late = Recorder()
        late_registration = informer.add_handler(late.handler())
        await eventually(lambda: late_registration.has_synced)
        assert sorted(late.kinds("add-initial")) == ["a", "b"]

        requests_before = len(standin_server.requests.records())
        clock.advance(0.99)
        await asyncio.sleep(0.02)
        assert fast.kinds("resync") == []
        clock.advance(0.01)  # 1 s minimum resync period reached
        await eventually(lambda: sorted(fast.kinds("resync")) == ["a", "b"])
        assert late.kinds("resync") == []  # only handlers that asked for resync
        assert len(standin_server.requests.records()) == requests_before  # served from the cache

        release_slow.set()
        await eventually(lambda: slow_seen == ["a", "b"])
        assert slow_registration.has_synced
    finally:
        await informer.stop()


async def test_label_selected_informers_are_distinct_and_filtered(real_kube: RealKube) -> None:
    client, namespace = real_kube.admin, real_kube.namespace
    await client.create(PODS, pod("x"), namespace)
    other = pod("y")
    other["metadata"]["labels"] = {"app": "y"}
    await client.create(PODS, other, namespace)
    factory = InformerFactory(client)
    selected = factory.informer(PODS, namespace=namespace, label_selector="app=y")
    everything = factory.informer(PODS, namespace=namespace)
    assert selected is not everything
    factory.start()
    try:
        assert await factory.wait_for_sync(5.0)
        # The server filtered the list: the selector reached it.
        assert selected.store.keys() == [f"{namespace}/y"]
        assert sorted(everything.store.keys()) == [f"{namespace}/x", f"{namespace}/y"]
    finally:
        await factory.stop()


async def test_wait_for_sync_times_out_on_the_clock_when_lists_keep_failing(
    client: KubeClient,
    standin_server: StandInApiServer,
) -> None:
    clock = FakeClock()
    informer = SharedInformer(client, PODS, clock=clock, rng=NoJitter())
    standin_server.faults.add(FaultRule(verb="list", resource="pods", status=500, times=None))
    informer.start()
    try:
        waiter = asyncio.create_task(informer.wait_for_sync(10.0))
        await eventually(lambda: informer.stats.list_failures == 1)
        clock.advance(10.0)
        assert await waiter is False
        assert not informer.has_synced
    finally:
        await informer.stop()


@pytest.mark.parametrize("start_rv", ["0", ""])
async def test_synthetic_added_burst_does_not_advance_the_stored_rv(
    start_rv: str, real_kube: RealKube
) -> None:
    """Watching from RV "0"/"" replays ADDED events in arbitrary order; only later events count."""
    from framework.informer.reflector import Reflector

    class Sink:
        def replace(self, objects: list[KubeObject], resource_version: str) -> None:
            raise AssertionError("not used")

        def apply(self, event_type: str, obj: KubeObject) -> None:
            pass

    reflector = Reflector(real_kube.admin, PODS, Sink())

    def event(kind: str, name: str, rv: str) -> KubeObject:
        return {"type": kind, "object": {"metadata": {"name": name, "namespace": "d", "resourceVersion": rv}}}

    reflector._resource_version = start_rv
    in_burst = start_rv in ("", "0")
    in_burst = reflector._handle_event(event("ADDED", "a", "90"), in_burst)
    in_burst = reflector._handle_event(event("ADDED", "b", "40"), in_burst)
    assert reflector.last_sync_resource_version == start_rv
    in_burst = reflector._handle_event(event("MODIFIED", "a", "95"), in_burst)
    assert reflector.last_sync_resource_version == "95" and not in_burst
    in_burst = reflector._handle_event(event("ADDED", "c", "96"), in_burst)
    assert reflector.last_sync_resource_version == "96"
    reflector._handle_event(
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "120"}}}, in_burst
    )
    assert reflector.last_sync_resource_version == "120"


async def test_an_unexpected_error_is_logged_backed_off_and_relisted_not_fatal(real_kube: RealKube) -> None:
    client, namespace = real_kube.admin, real_kube.namespace
    clock = FakeClock()
    failures = {"left": 1}

    def flaky_transform(obj: KubeObject) -> KubeObject:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("transform bug")
        return obj

    await client.create(PODS, pod("a"), namespace)
    informer = SharedInformer(
        client, PODS, namespace=namespace, transform=flaky_transform, clock=clock, rng=NoJitter()
    )
    informer.start()
    try:
        await advance_through_backoffs(informer, clock, lambda: informer.has_synced)
        assert informer.stats.list_failures == 1
        assert list(informer.store.keys()) == [f"{namespace}/a"]
    finally:
        await informer.stop()
