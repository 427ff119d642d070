"""The client's HTTP session: no thread-pool round trips per request, the proxy environment read once.

The proxy is a recording stand-in on 127.0.0.1: it answers a plain-HTTP request itself (with a
Lease) and refuses a CONNECT, so what reached it, and through which proxy, is visible.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import Configuration

from framework.kube import LEASES, KubeClient, KubeConnectionError
from framework.testing.apiserver import StandInApiServer

P = ParamSpec("P")
T = TypeVar("T")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
PROXIED_LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "proxied"}}


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@dataclass
class RecordingProxy:
    port: int
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    """(request line, Proxy-Authorization header) of each request."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        self.requests.append((head[0], headers.get("Proxy-Authorization")))
        if head[0].startswith("CONNECT "):
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        else:
            body = json.dumps(PROXIED_LEASE).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        await writer.drain()
        writer.close()


@pytest_asyncio.fixture
async def proxy() -> AsyncIterator[RecordingProxy]:
    recording = RecordingProxy(0)
    server = await asyncio.start_server(recording.handle, "127.0.0.1", 0)
    recording.port = server.sockets[0].getsockname()[1]
    async with server:
        yield recording


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def get_lease(client: KubeClient) -> dict[str, Any]:
    return await client.get(LEASES, "l", "default", request_timeout=5)


async def test_a_request_makes_no_thread_pool_round_trip(standin_server: StandInApiServer) -> None:
    """With aiohttp's ``trust_env`` every request looked up ~/.netrc and the proxy environment in
    the default executor (two round trips each)."""
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        await client.create(LEASES, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}}, "default")
        for _ in range(5):
            assert (await get_lease(client))["spec"]["holderIdentity"] == "x"
    assert executor.submitted == 0


async def test_the_proxy_environment_is_read_once_when_the_client_is_built(
    standin_server: StandInApiServer, proxy: RecordingProxy, no_proxy_environment: pytest.MonkeyPatch
) -> None:
    env = no_proxy_environment
    async with KubeClient.from_configuration(standin_server.client_configuration()) as direct:
        await direct.create(LEASES, {"metadata": {"name": "l"}, "spec": {"holderIdentity": "x"}}, "default")
        env.setenv("HTTP_PROXY", proxy.url)
        # Built before the variable was set: it keeps talking to the server directly.
        assert (await get_lease(direct))["spec"]["holderIdentity"] == "x"
    assert proxy.requests == []

    async with KubeClient.from_configuration(standin_server.client_configuration()) as proxied:
        assert (await get_lease(proxied))["metadata"]["name"] == "proxied"
    path = LEASES.object_path("l", "default")
    assert proxy.requests == [(f"GET {standin_server.server}{path} HTTP/1.1", None)]

    env.setenv("no_proxy", "example.com,127.0.0.1")  # NO_PROXY names the server's host: direct
    async with KubeClient.from_configuration(standin_server.client_configuration()) as bypassing:
        assert (await get_lease(bypassing))["spec"]["holderIdentity"] == "x"
    assert len(proxy.requests) == 1

    # A proxy the configuration names (a kubeconfig's proxy-url) wins over the environment.
    env.delenv("no_proxy")
    env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    configuration = standin_server.client_configuration()
    configuration.proxy = proxy.url
    async with KubeClient.from_configuration(configuration) as configured:
        assert (await get_lease(configured))["metadata"]["name"] == "proxied"
    assert len(proxy.requests) == 2


async def test_an_https_server_is_reached_through_https_proxy_with_its_credentials(
    proxy: RecordingProxy, no_proxy_environment: pytest.MonkeyPatch
) -> None:
    no_proxy_environment.setenv("HTTPS_PROXY", f"http://kube:s%40cret@127.0.0.1:{proxy.port}")
    no_proxy_environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # for http:// URLs only
    async with KubeClient.from_configuration(Configuration(host="https://kube.invalid:6443")) as client:
        with pytest.raises(KubeConnectionError):  # the proxy refuses the tunnel
            await get_lease(client)
    credentials = base64.b64encode(b"kube:s@cret").decode()
    assert proxy.requests == [("CONNECT kube.invalid:6443 HTTP/1.1", f"Basic {credentials}")]
