"""Stand-in-only test hooks and ways of running it: fault injection, the request log, the
background-thread server and the `python -m framework.testing.apiserver` entry point."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import sys

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

from framework.testing.apiserver import FaultRule, StandInApiServer, ThreadedStandIn
from framework.testing.handle import ApiServerHandle


def _configmap(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name))


async def test_injected_errors_match_verb_resource_name_and_count(standin_server: StandInApiServer) -> None:
    rule = standin_server.faults.add(
        FaultRule(verb="create", resource="configmaps", name=None, status=503, times=2)
    )
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        for _ in range(2):
            with pytest.raises(ApiException) as info:
                await core.create_namespaced_config_map("default", _configmap("cm"))
            assert info.value.status == 503
            assert json.loads(info.value.body)["reason"] == "ServiceUnavailable"
        await core.create_namespaced_config_map("default", _configmap("cm"))
        assert standin_server.faults.hits(rule) == 2
        # A rule on one name leaves other names alone.
        standin_server.faults.add(
            FaultRule(verb="get", resource="configmaps", name="other", status=500, times=None)
        )
        await core.read_namespaced_config_map("cm", "default")
        with pytest.raises(ApiException):
            await core.read_namespaced_config_map("other", "default")
        standin_server.faults.clear()
        with pytest.raises(ApiException) as missing:
            await core.read_namespaced_config_map("other", "default")
        assert missing.value.status == 404


async def test_injected_latency_and_retry_after(standin_server: StandInApiServer) -> None:
    standin_server.faults.add(FaultRule(verb="list", resource="configmaps", status=None, delay_seconds=0.3))
    standin_server.faults.add(FaultRule(verb="list", resource="secrets", status=429, retry_after_seconds=7))
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await core.list_namespaced_config_map("default")
        assert loop.time() - started >= 0.3
        with pytest.raises(ApiException) as info:
            await core.list_namespaced_secret("default")
        assert info.value.status == 429
        assert info.value.headers["Retry-After"] == "7"


async def test_dropped_connection(standin_server: StandInApiServer) -> None:
    # aiohttp retries an idempotent request once on a fresh connection, so drop both attempts.
    rule = standin_server.faults.add(
        FaultRule(verb="get", resource="namespaces", drop_connection=True, times=2)
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{standin_server.server}/api/v1/namespaces/default") as response:
                await response.read()
        assert standin_server.faults.hits(rule) == 2
        async with session.get(f"{standin_server.server}/api/v1/namespaces/default") as response:
            assert response.status == 200


async def test_request_log_records_verbs(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        core = client.CoreV1Api(api)
        standin_server.requests.clear()
        await core.create_namespaced_config_map("default", _configmap("cm"))
        await core.patch_namespaced_config_map("cm", "default", {"data": {"a": "b"}})
        await core.list_namespaced_config_map("default", label_selector="a=b")
    records = standin_server.requests.records(resource="configmaps")
    assert [(r.info.verb, r.status) for r in records] == [("create", 201), ("patch", 200), ("list", 200)]
    assert records[1].content_type == "application/strategic-merge-patch+json"
    assert records[1].info.name == "cm" and records[1].info.namespace == "default"
    assert "labelSelector=a%3Db" in records[2].info.query


async def test_aborted_watch_connection(standin_server: StandInApiServer) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{standin_server.server}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=0"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            assert response.status == 200
            assert standin_server.open_watches == 1
            assert standin_server.drop_watches(abort=True) == 1
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()


async def test_closed_watch_is_released_promptly(standin_server: StandInApiServer) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{standin_server.server}/api/v1/namespaces/default/configmaps?watch=true"
        response = await session.get(url, timeout=aiohttp.ClientTimeout(total=5))
        assert standin_server.open_watches == 1
        response.close()
        for _ in range(200):
            if standin_server.open_watches == 0:
                break
            await asyncio.sleep(0.01)
        assert standin_server.open_watches == 0


async def test_send_initial_events_ends_with_marked_bookmark(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        await client.CoreV1Api(api).create_namespaced_config_map("default", _configmap("cm"))
    query = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{standin_server.server}/api/v1/namespaces/default/configmaps?{query}") as response,
    ):
        lines = [json.loads(line) for line in (await response.read()).splitlines()]
    assert lines[0]["type"] == "ADDED" and lines[0]["object"]["metadata"]["name"] == "cm"
    assert lines[1]["type"] == "BOOKMARK"
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # Without allowWatchBookmarks the combination is invalid.
    async with aiohttp.ClientSession() as session:
        bad = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        async with session.get(
            f"{standin_server.server}/api/v1/namespaces/default/configmaps?{bad}"
        ) as response:
            assert response.status == 422


async def test_get_object_and_compact(standin_server: StandInApiServer) -> None:
    async with client.ApiClient(standin_server.client_configuration()) as api:
        await client.CoreV1Api(api).create_namespaced_config_map("default", _configmap("cm"))
    stored = standin_server.get_object("", "configmaps", "default", "cm")
    assert stored is not None and stored["metadata"]["name"] == "cm"
    assert standin_server.compact() == standin_server.resource_version


def test_threaded_server_serves_other_loops(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    with ThreadedStandIn(kubeconfig_path=kubeconfig) as server:
        assert isinstance(server, ApiServerHandle)
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == server.server

        async def use() -> list[str]:
            async with client.ApiClient(server.client_configuration()) as api:
                core = client.CoreV1Api(api)
                await core.create_namespaced_config_map("default", _configmap("cm"))
                return [c.metadata.name for c in (await core.list_namespaced_config_map("default")).items]

        assert asyncio.run(use()) == ["cm"]
        assert server.get_object("", "configmaps", "default", "cm") is not None
        assert server.compact() > 0
        assert [r.info.verb for r in server.requests.records(resource="configmaps")] == ["create", "list"]


async def test_module_entry_point_writes_kubeconfig_and_stops_on_sigterm(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "framework.testing.apiserver",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"listening on http://127.0.0.1:" in banner
        configuration = client.Configuration()
        await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        async with client.ApiClient(configuration) as api:
            namespaces = await client.CoreV1Api(api).list_namespace()
        assert {"default", "kube-system"} <= {n.metadata.name for n in namespaces.items}
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
