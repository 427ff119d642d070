"""List and watch semantics through kubernetes_asyncio: resourceVersions, paging, selectors,
replay, bookmarks, 410 Expired and timeouts. Tests that compact history or tune bookmarks use the
stand-in directly; the rest are conformance tests on `apiserver`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.rest import ApiException

from framework.testing.apiserver import StandInApiServer


def _configmap(name: str, labels: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data={"k": name})


async def _collect(stream: Any, count: int, within: float = 5.0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(consume(), within)
    return events


async def test_list_resource_version_and_watch_replay(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("a"))
    listed = await core.list_namespaced_config_map(namespace)
    assert [c.metadata.name for c in listed.items] == ["a"]
    list_rv = listed.metadata.resource_version
    await core.create_namespaced_config_map(namespace, _configmap("b"))
    await core.patch_namespaced_config_map("a", namespace, {"data": {"k": "changed"}})
    await core.delete_namespaced_config_map("b", namespace)
    w = watch.Watch()
    async with w.stream(
        core.list_namespaced_config_map, namespace, resource_version=list_rv, timeout_seconds=5
    ) as s:
        events = await _collect(s, 3)
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("ADDED", "b"),
        ("MODIFIED", "a"),
        ("DELETED", "b"),
    ]
    assert events[1]["object"].data == {"k": "changed"}
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and versions[0] > int(list_rv)


async def test_watch_from_zero_sends_synthetic_added(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    for name in ("a", "b"):
        await core.create_namespaced_config_map(namespace, _configmap(name))
    w = watch.Watch()
    async with w.stream(
        core.list_namespaced_config_map, namespace, resource_version="0", timeout_seconds=5
    ) as s:
        initial = await _collect(s, 2)
        assert sorted((e["type"], e["object"].metadata.name) for e in initial) == [
            ("ADDED", "a"),
            ("ADDED", "b"),
        ]
        await core.create_namespaced_config_map(namespace, _configmap("c"))
        live = await _collect(s, 1)
    assert (live[0]["type"], live[0]["object"].metadata.name) == ("ADDED", "c")


async def test_watch_timeout_seconds_ends_stream(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    listed = await core.list_namespaced_config_map(namespace)
    w = watch.Watch()
    started = asyncio.get_running_loop().time()
    async with w.stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=1,
    ) as s:
        events = [e async for e in s]
    assert [e["type"] for e in events if e["type"] != "BOOKMARK"] == []
    assert asyncio.get_running_loop().time() - started < 4


async def test_watch_with_label_selector_reports_transitions(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("a", {"tier": "web"}))
    listed = await core.list_namespaced_config_map(namespace, label_selector="tier=web")
    w = watch.Watch()
    async with w.stream(
        core.list_namespaced_config_map,
        namespace,
        label_selector="tier=web",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    ) as s:
        await core.create_namespaced_config_map(namespace, _configmap("other", {"tier": "db"}))
        await core.patch_namespaced_config_map("a", namespace, {"metadata": {"labels": {"tier": "db"}}})
        await core.patch_namespaced_config_map("other", namespace, {"metadata": {"labels": {"tier": "web"}}})
        events = await _collect(s, 2)
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("DELETED", "a"), ("ADDED", "other")]


async def test_paging_with_limit_and_continue(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    names = [f"cm-{i:02d}" for i in range(7)]
    for name in names:
        await core.create_namespaced_config_map(namespace, _configmap(name))
    first = await core.list_namespaced_config_map(namespace, limit=3)
    assert [c.metadata.name for c in first.items] == names[:3]
    assert first.metadata._continue and first.metadata.remaining_item_count == 4
    # Changes after the first page do not leak into later pages: they are served at the first page's version.
    await core.create_namespaced_config_map(namespace, _configmap("cm-99"))
    await core.delete_namespaced_config_map("cm-05", namespace)
    second = await core.list_namespaced_config_map(namespace, limit=3, _continue=first.metadata._continue)
    assert [c.metadata.name for c in second.items] == names[3:6]
    assert second.metadata.resource_version == first.metadata.resource_version
    third = await core.list_namespaced_config_map(namespace, limit=3, _continue=second.metadata._continue)
    assert [c.metadata.name for c in third.items] == names[6:]
    assert not third.metadata._continue


async def test_label_selector_operators(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("web", {"tier": "web", "env": "prod"}))
    await core.create_namespaced_config_map(namespace, _configmap("db", {"tier": "db"}))
    await core.create_namespaced_config_map(namespace, _configmap("bare"))

    async def names(selector: str) -> list[str]:
        listed = await core.list_namespaced_config_map(namespace, label_selector=selector)
        return sorted(c.metadata.name for c in listed.items)

    assert await names("tier=web") == ["web"]
    assert await names("tier==db") == ["db"]
    assert await names("tier!=web") == ["bare", "db"]
    assert await names("tier in (web, db)") == ["db", "web"]
    assert await names("tier notin (web)") == ["bare", "db"]
    assert await names("env") == ["web"]
    assert await names("!env") == ["bare", "db"]
    assert await names("tier,!env") == ["db"]


async def test_field_selectors(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    for name in ("a", "b"):
        await core.create_namespaced_config_map(namespace, _configmap(name))
    named = await core.list_namespaced_config_map(namespace, field_selector="metadata.name=b")
    assert [c.metadata.name for c in named.items] == ["b"]
    others = await core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace},metadata.name!=b"
    )
    assert [c.metadata.name for c in others.items] == ["a"]
    with pytest.raises(ApiException) as info:
        await core.list_namespaced_config_map(namespace, field_selector="data.k=a")
    assert info.value.status == 400


async def test_bad_label_selector_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        await client.CoreV1Api(kube_client).list_namespaced_config_map(
            namespace, label_selector="tier in (web"
        )
    assert info.value.status == 400


# ------------------------------------------------------------------------ stand-in only (hooks)


async def test_bookmarks_advance_watch_resource_version(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map("default")
        # Other resources' writes move the global version; the bookmark carries it to this watch.
        await core.create_namespaced_secret(
            "default", client.V1Secret(metadata=client.V1ObjectMeta(name="s"))
        )
        w = watch.Watch()
        async with w.stream(
            core.list_namespaced_config_map,
            "default",
            allow_watch_bookmarks=True,
            resource_version=listed.metadata.resource_version,
            timeout_seconds=5,
        ) as s:
            events = await _collect(s, 1)
        assert events[0]["type"] == "BOOKMARK"
        assert int(w.resource_version) == standin_server.resource_version


async def test_watch_from_compacted_version_is_410(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map("default")
        await core.create_namespaced_config_map("default", _configmap("a"))
        standin_server.compact()
        w = watch.Watch()
        with pytest.raises(ApiException) as info:
            async with w.stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=5,
            ) as s:
                async for _ in s:
                    pass
        assert info.value.status == 410
        # A paged list continued from before the compaction is expired too.
        await core.create_namespaced_config_map("default", _configmap("b"))
        first = await core.list_namespaced_config_map("default", limit=1)
        await core.create_namespaced_config_map("default", _configmap("c"))
        standin_server.compact()
        with pytest.raises(ApiException) as paged:
            await core.list_namespaced_config_map("default", limit=1, _continue=first.metadata._continue)
        assert paged.value.status == 410


async def test_watch_410_is_retried_once_then_raised_without_timeout(
    standin_server: StandInApiServer,
) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map("default")
        await core.create_namespaced_config_map("default", _configmap("a"))
        standin_server.compact()
        standin_server.requests.clear()
        w = watch.Watch()
        with pytest.raises(ApiException) as info:
            async with w.stream(
                core.list_namespaced_config_map, "default", resource_version=listed.metadata.resource_version
            ) as s:
                await asyncio.wait_for(_drain(s), 5)
        assert info.value.status == 410
        assert len(standin_server.requests.records(verb="watch")) == 2


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def test_dropped_watch_resumes_from_last_version(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map("default")
        w = watch.Watch()
        async with w.stream(
            core.list_namespaced_config_map, "default", resource_version=listed.metadata.resource_version
        ) as s:
            await core.create_namespaced_config_map("default", _configmap("a"))
            first = await _collect(s, 1)
            assert standin_server.drop_watches("configmaps") == 1
            await core.create_namespaced_config_map("default", _configmap("b"))
            second = await _collect(s, 1)
        assert [e["object"].metadata.name for e in first + second] == ["a", "b"]
        watches = standin_server.requests.records(verb="watch")
        assert len(watches) == 2
        assert f"resourceVersion={first[0]['object'].metadata.resource_version}" in watches[1].info.query


async def test_stalled_watch_delivers_after_resume(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map("default")
        w = watch.Watch()
        async with w.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=10,
        ) as s:
            standin_server.stall_watches("configmaps")
            await core.create_namespaced_config_map("default", _configmap("a"))
            with pytest.raises(TimeoutError):
                await _collect(s, 1, within=0.3)
            standin_server.resume_watches()
            events = await _collect(s, 1)
        assert events[0]["object"].metadata.name == "a"
