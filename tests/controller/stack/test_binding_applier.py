"""The TGB applier against the Kubernetes API stand-in, reading the stack's TGBs from a real informer:
no LIST while the cache is current, and no stale read of its own writes while it is not (the
stand-in holds back the informer's watch events to make the cache lag)."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
import yaml

from controller.deploy.bindings import stack_labels
from controller.naming import INGRESS_TAG_PREFIX, SERVICE_TAG_PREFIX, StackTags
from controller.stack.binding_applier import TargetGroupBindingApplier, TgbApplyResult
from controller.stack.binding_cache import (
    BINDINGS_BY_STACK_INDEX,
    InformerBindingCache,
    binding_stacks,
    stack_index_value,
)
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.informer import InformerFactory, Store
from framework.kube import NAMESPACES, KubeClient, KubeObject
from framework.testing.apiserver import StandInApiServer

CRD_PATH = pathlib.Path(__file__).resolve().parents[3] / "config/crd/elbv2.k8s.aws_targetgroupbindings.yaml"
STACK = StackTags("cluster", SERVICE_TAG_PREFIX, "apps/web")
TGBS = TARGET_GROUP_BINDINGS.plural


def binding(name: str = "web-80", *, zone: str | None = None, stack: StackTags = STACK) -> KubeObject:
    spec: dict[str, Any] = {
        "targetGroupARN": f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/1",
        "targetType": "instance",
        "serviceRef": {"name": "web", "port": 80},
    }
    if zone is not None:
        spec["nodeSelector"] = {"matchLabels": {"zone": zone}}
    return {
        "apiVersion": TARGET_GROUP_BINDINGS.api_version,
        "kind": TARGET_GROUP_BINDINGS.kind,
        "metadata": {"name": name, "namespace": "apps", "labels": stack_labels(stack)},
        "spec": spec,
    }


@dataclass
class World:
    server: StandInApiServer
    client: KubeClient
    cache: InformerBindingCache
    applier: TargetGroupBindingApplier

    def requests(self, verb: str) -> list[tuple[str, int]]:
        """(name, status) of each request of ``verb`` on TGBs since the log was last cleared."""
        return [(r.info.name, r.status) for r in self.server.requests.records(verb=verb, resource=TGBS)]

    async def cache_until(self, check: Callable[[list[KubeObject]], bool]) -> None:
        """Until the stack's cached TGBs pass ``check`` and the cache shows every write so far."""
        for _ in range(500):
            current = int(self.cache.resource_version or 0) >= self.server.resource_version
            if current and check(self.cache.of_stack(STACK)):
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the cache did not catch up")


@pytest_asyncio.fixture
async def world(standin_server: StandInApiServer) -> AsyncIterator[World]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        crd = yaml.safe_load(CRD_PATH.read_text())
        await client.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
        await client.create(NAMESPACES, {"metadata": {"name": "apps"}})
        factory = InformerFactory(client)
        cache = InformerBindingCache.from_factory(factory)
        factory.start()
        try:
            assert await factory.wait_for_sync(10.0)
            yield World(standin_server, client, cache, TargetGroupBindingApplier(client, cache))
        finally:
            standin_server.resume_watches()
            await factory.stop()


async def test_a_stack_the_cache_shows_is_applied_without_a_list(world: World) -> None:
    steps: list[tuple[list[KubeObject], TgbApplyResult, Callable[[list[KubeObject]], bool]]] = [
        ([binding()], TgbApplyResult(created=("apps/web-80",)), lambda tgbs: len(tgbs) == 1),
        ([binding()], TgbApplyResult(), lambda tgbs: True),
        ([binding(zone="a")], TgbApplyResult(updated=("apps/web-80",)), lambda tgbs: True),
        ([binding(zone="a")], TgbApplyResult(), lambda tgbs: True),
        ([], TgbApplyResult(deleted=("apps/web-80",)), lambda tgbs: tgbs == []),
        ([], TgbApplyResult(), lambda tgbs: True),
    ]
    world.server.requests.clear()
    for desired, result, settled in steps:
        assert await world.applier.apply(STACK, desired) == result
        await world.cache_until(settled)
    assert world.requests("list") == []
    # Each write once; nothing refused.
    assert world.requests("create") == [("", 201)]
    assert world.requests("update") == [("web-80", 200)]
    assert world.requests("delete") == [("web-80", 200)]


async def test_back_to_back_applies_see_their_own_writes_before_the_cache_does(world: World) -> None:
    """Nothing of the writes reaches the informer: each apply after the first reads live, and none
    re-creates, re-updates (with a stale resourceVersion) or re-deletes what the one before did."""
    world.server.stall_watches(TGBS)
    world.server.requests.clear()
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult(created=("apps/web-80",))
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult()
    assert await world.applier.apply(STACK, [binding(zone="a")]) == TgbApplyResult(updated=("apps/web-80",))
    assert await world.applier.apply(STACK, [binding(zone="a")]) == TgbApplyResult()
    assert await world.applier.apply(STACK, []) == TgbApplyResult(deleted=("apps/web-80",))
    assert await world.applier.apply(STACK, []) == TgbApplyResult()
    assert world.cache.of_stack(STACK) == []  # it saw nothing
    assert len(world.requests("list")) == 5
    assert [status for _, status in world.requests("create") + world.requests("update")] == [201, 200]
    assert world.requests("delete") == [("web-80", 200)]

    # Once the cache has caught up, the stack is read from it again.
    world.server.resume_watches()
    await world.cache_until(lambda tgbs: tgbs == [])
    world.server.requests.clear()
    assert await world.applier.apply(STACK, []) == TgbApplyResult()
    assert world.requests("list") == []


async def test_a_binding_deleted_at_once_is_hidden_until_the_cache_drops_it(world: World) -> None:
    """Without a finalizer a TGB is gone at once and the answer carries no resourceVersion: the
    cache, current up to the object, may still show it; it is not deleted twice, and one of the same
    name is created again."""
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult(created=("apps/web-80",))
    await world.cache_until(lambda tgbs: len(tgbs) == 1)
    world.server.stall_watches(TGBS)
    world.server.requests.clear()
    assert await world.applier.apply(STACK, []) == TgbApplyResult(deleted=("apps/web-80",))
    assert await world.applier.apply(STACK, []) == TgbApplyResult()
    assert [tgb["metadata"]["name"] for tgb in world.cache.of_stack(STACK)] == ["web-80"]  # still shown
    assert world.requests("delete") == [("web-80", 200)] and world.requests("list") == []
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult(created=("apps/web-80",))
    assert world.requests("create") == [("", 201)]
    world.server.resume_watches()
    await world.cache_until(lambda tgbs: len(tgbs) == 1)
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult()


async def test_an_update_over_a_change_the_cache_has_not_seen_is_retried_on_the_live_object(
    world: World,
) -> None:
    """Another writer (the TGB controller adding its finalizer, a user) changed the object after the
    cache last showed it: the update is refused with 409 Conflict once, then made on the object read
    again, keeping that writer's change."""
    assert await world.applier.apply(STACK, [binding()]) == TgbApplyResult(created=("apps/web-80",))
    await world.cache_until(lambda tgbs: len(tgbs) == 1)
    world.server.stall_watches(TGBS)
    live = await world.client.get(TARGET_GROUP_BINDINGS, "web-80", "apps")
    live["metadata"]["finalizers"] = ["elbv2.k8s.aws/resources"]
    await world.client.replace(TARGET_GROUP_BINDINGS, "web-80", live, "apps")
    world.server.requests.clear()
    assert await world.applier.apply(STACK, [binding(zone="a")]) == TgbApplyResult(updated=("apps/web-80",))
    assert world.requests("update") == [("web-80", 409), ("web-80", 200)]
    updated = await world.client.get(TARGET_GROUP_BINDINGS, "web-80", "apps")
    assert updated["metadata"]["finalizers"] == ["elbv2.k8s.aws/resources"]
    assert updated["spec"]["nodeSelector"] == {"matchLabels": {"zone": "a"}}


async def test_the_cache_finds_a_stack_by_its_tracking_labels_only(world: World) -> None:
    explicit = StackTags("cluster", INGRESS_TAG_PREFIX, "team")
    implicit = StackTags("cluster", INGRESS_TAG_PREFIX, "apps/team")
    for tgb in (binding("a"), binding("b", stack=explicit), binding("c", stack=implicit)):
        await world.client.create(TARGET_GROUP_BINDINGS, tgb, "apps")
    await world.cache_until(lambda tgbs: len(tgbs) == 1)
    names = {
        s.stack_id: [t["metadata"]["name"] for t in world.cache.of_stack(s)] for s in (explicit, implicit)
    }
    assert names == {"team": ["b"], "apps/team": ["c"]}
    assert [t["metadata"]["name"] for t in world.cache.of_stack(STACK)] == ["a"]


def test_the_stack_index_files_a_binding_under_each_stack_it_is_labelled_with() -> None:
    store = Store({BINDINGS_BY_STACK_INDEX: binding_stacks})
    both = binding("both")
    both["metadata"]["labels"] |= {"ingress.k8s.aws/stack": "team", "example.com/other": "x"}
    store.upsert(both)
    assert sorted(binding_stacks(both)) == [
        stack_index_value(INGRESS_TAG_PREFIX, "team"),
        stack_index_value(SERVICE_TAG_PREFIX, "apps/web"),
    ]
    half = binding("half")
    half["metadata"]["labels"] = {"service.k8s.aws/stack-namespace": "apps"}  # no stack-name
    store.upsert(half)
    assert binding_stacks(half) == []
    assert [
        t["metadata"]["name"] for t in store.by_index(BINDINGS_BY_STACK_INDEX, "service.k8s.aws apps/web")
    ] == ["both"]
