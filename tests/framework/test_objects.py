"""framework.objects against the stand-in API server over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from framework import objects
from framework.kube import KubeApiError, KubeClient, KubeObject, Resource
from framework.testing.apiserver import StandInApiServer

FINALIZER = "example.com/cleanup"
CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
WIDGETS = Resource("example.com", "v1", "widgets", "Widget")


@pytest_asyncio.fixture
async def client(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as kube:
        yield kube


async def _configmap(client: KubeClient, name: str = "cm", **meta: object) -> KubeObject:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **meta}, "data": {"a": "1"}}
    return await client.create(CONFIGMAPS, body, "default")


async def test_patch_merge_and_json(client: KubeClient) -> None:
    created = await _configmap(client)
    merged = await objects.patch_merge(client, CONFIGMAPS, "cm", "default", {"data": {"a": None, "b": "2"}})
    assert merged["data"] == {"b": "2"}
    patched = await objects.patch_json(
        client, CONFIGMAPS, "cm", "default", [{"op": "add", "path": "/data/c", "value": "3"}]
    )
    assert patched["data"] == {"b": "2", "c": "3"}
    # A stale resourceVersion in a merge patch conflicts.
    with pytest.raises(KubeApiError) as stale:
        await objects.patch_merge(
            client,
            CONFIGMAPS,
            "cm",
            "default",
            {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"d": "4"}},
        )
    assert stale.value.is_conflict


async def test_add_finalizer_is_idempotent_and_conflicts_when_stale(client: KubeClient) -> None:
    created = await _configmap(client, finalizers=["other.io/keep"])
    added = await objects.add_finalizer(client, CONFIGMAPS, created, FINALIZER)
    assert added["metadata"]["finalizers"] == ["other.io/keep", FINALIZER]
    # Already present: no request, the same object back.
    assert await objects.add_finalizer(client, CONFIGMAPS, added, FINALIZER) is added
    # Written from a stale read: 409, and the concurrent writer's change survives.
    with pytest.raises(KubeApiError) as stale:
        await objects.add_finalizer(client, CONFIGMAPS, created, "third.io/x")
    assert stale.value.is_conflict
    current = await client.get(CONFIGMAPS, "cm", "default")
    assert current["metadata"]["finalizers"] == ["other.io/keep", FINALIZER]


async def test_add_finalizer_to_object_without_any(client: KubeClient) -> None:
    created = await _configmap(client)
    added = await objects.add_finalizer(client, CONFIGMAPS, created, FINALIZER)
    assert added["metadata"]["finalizers"] == [FINALIZER]


async def test_remove_finalizer_never_drops_a_concurrently_added_one(client: KubeClient) -> None:
    created = await _configmap(client, finalizers=[FINALIZER, "other.io/keep"])
    # Someone else rewrites the list after our read: our index-based remove must not apply.
    await objects.patch_merge(
        client, CONFIGMAPS, "cm", "default", {"metadata": {"finalizers": ["new.io/a", FINALIZER]}}
    )
    with pytest.raises(KubeApiError) as stale:
        await objects.remove_finalizer(client, CONFIGMAPS, created, FINALIZER)
    assert stale.value.is_conflict
    fresh = await client.get(CONFIGMAPS, "cm", "default")
    removed = await objects.remove_finalizer(client, CONFIGMAPS, fresh, FINALIZER)
    assert removed["metadata"]["finalizers"] == ["new.io/a"]
    # Already absent: a no-op.
    assert await objects.remove_finalizer(client, CONFIGMAPS, removed, FINALIZER) is removed


async def test_removing_last_finalizer_completes_a_deletion(client: KubeClient) -> None:
    await _configmap(client, finalizers=[FINALIZER])
    answer = await objects.delete(client, CONFIGMAPS, "cm", "default")
    assert answer is not None and answer["metadata"]["deletionTimestamp"]
    await objects.remove_finalizer(client, CONFIGMAPS, answer, FINALIZER)
    with pytest.raises(KubeApiError) as gone:
        await client.get(CONFIGMAPS, "cm", "default")
    assert gone.value.is_not_found
    assert await objects.delete(client, CONFIGMAPS, "cm", "default") is None
    with pytest.raises(KubeApiError) as missing:
        await objects.delete(client, CONFIGMAPS, "cm", "default", missing_ok=False)
    assert missing.value.is_not_found


async def test_delete_preconditions(client: KubeClient) -> None:
    created = await _configmap(client)
    with pytest.raises(KubeApiError) as wrong_uid:
        await objects.delete(client, CONFIGMAPS, "cm", "default", uid="not-the-uid")
    assert wrong_uid.value.is_conflict
    await objects.delete(client, CONFIGMAPS, "cm", "default", uid=created["metadata"]["uid"])
    assert await objects.delete(client, CONFIGMAPS, "cm", "default") is None


async def test_patch_status_touches_only_status(client: KubeClient, standin_server: StandInApiServer) -> None:
    await client.request(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        body={
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )
    widgets = WIDGETS
    created = await client.create(
        widgets,
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}},
        "default",
    )
    written = await objects.patch_status(
        client, widgets, "w", "default", {"observedGeneration": 1}, resource_version=None
    )
    assert written["status"] == {"observedGeneration": 1}
    assert written["spec"] == {"size": 1}
    with pytest.raises(KubeApiError) as stale:
        await objects.patch_status(
            client,
            widgets,
            "w",
            "default",
            {"observedGeneration": 2},
            resource_version=created["metadata"]["resourceVersion"],
        )
    assert stale.value.is_conflict
    stored = standin_server.get_object("example.com", "widgets", "default", "w")
    assert stored is not None and stored["status"] == {"observedGeneration": 1}


async def test_ensure_and_drop_finalizer_read_again_once_when_stale(client: KubeClient) -> None:
    created = await _configmap(client, finalizers=["other.io/keep"])
    # Someone writes after our read: the plain helpers would answer 409.
    await objects.patch_merge(client, CONFIGMAPS, "cm", "default", {"data": {"b": "2"}})
    added = await objects.ensure_finalizer(client, CONFIGMAPS, created, FINALIZER)
    assert added["metadata"]["finalizers"] == ["other.io/keep", FINALIZER]
    assert added["data"] == {"a": "1", "b": "2"}
    await objects.patch_merge(client, CONFIGMAPS, "cm", "default", {"data": {"c": "3"}})
    await objects.drop_finalizer(client, CONFIGMAPS, added, FINALIZER)
    current = await client.get(CONFIGMAPS, "cm", "default")
    assert current["metadata"]["finalizers"] == ["other.io/keep"]
    assert current["data"] == {"a": "1", "b": "2", "c": "3"}


async def test_drop_finalizer_of_an_object_already_gone_is_done(client: KubeClient) -> None:
    created = await _configmap(client, finalizers=[FINALIZER])
    await client.request("DELETE", CONFIGMAPS.object_path("cm", "default"))
    await objects.patch_merge(client, CONFIGMAPS, "cm", "default", {"metadata": {"finalizers": None}})
    # Gone now: dropping our (stale) finalizer is not an error.
    await objects.drop_finalizer(client, CONFIGMAPS, created, FINALIZER)
    with pytest.raises(KubeApiError) as gone:
        await client.get(CONFIGMAPS, "cm", "default")
    assert gone.value.is_not_found
