"""Health probes and /metrics over real HTTP (127.0.0.1, free ports)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from framework.clock import FakeClock
from framework.health import HealthChecks, ping
from framework.httpserver import BindAddress, HttpServer, ListenError, ObservabilityServer, build_app
from framework.metrics import framework_metrics

LOCAL_ANY_PORT = BindAddress("127.0.0.1", 0)
TIMEOUT = aiohttp.ClientTimeout(total=10)


class Toggle:
    """A readiness check whose health the test flips."""

    def __init__(self) -> None:
        self.healthy = False

    async def __call__(self) -> None:
        if not self.healthy:
            raise RuntimeError("informer caches not synced")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def fetch(session: aiohttp.ClientSession, port: int, path: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


@pytest.fixture
async def probes() -> AsyncIterator[tuple[ObservabilityServer, Toggle, CollectorRegistry]]:
    registry = CollectorRegistry()
    framework_metrics(registry).for_controller("ingress")
    healthz = HealthChecks("healthz")
    healthz.add("ping", ping)
    readyz = HealthChecks("readyz")
    synced = Toggle()
    readyz.add("informers", synced)
    readyz.add("ping", ping)
    server = ObservabilityServer(
        metrics_address=LOCAL_ANY_PORT,
        probe_address=LOCAL_ANY_PORT,
        healthz=healthz,
        readyz=readyz,
        registry=registry,
    )
    await server.start()
    try:
        yield server, synced, registry
    finally:
        await server.stop()


async def test_healthz_is_ok_and_verbose_lists_checks(
    probes: tuple[ObservabilityServer, Toggle, CollectorRegistry], http: aiohttp.ClientSession
) -> None:
    server, _, _ = probes
    assert server.probe_port is not None and server.probe_port != server.metrics_port
    assert await fetch(http, server.probe_port, "/healthz") == (200, "ok")
    status, body = await fetch(http, server.probe_port, "/healthz?verbose")
    assert status == 200
    assert body == "[+]ping ok\nhealthz check passed\n"
    assert await fetch(http, server.probe_port, "/healthz/ping") == (200, "ok")


async def test_readyz_fails_with_500_until_its_check_passes(
    probes: tuple[ObservabilityServer, Toggle, CollectorRegistry], http: aiohttp.ClientSession
) -> None:
    server, synced, _ = probes
    port = server.probe_port
    assert port is not None
    status, body = await fetch(http, port, "/readyz")
    assert status == 500
    # Always verbose on failure; the aggregate withholds the reason, as upstream.
    assert body == "[-]informers failed: reason withheld\n[+]ping ok\nreadyz check failed\n"
    status, body = await fetch(http, port, "/readyz/informers")
    assert status == 500
    assert body == "internal server error: RuntimeError: informer caches not synced\n"
    status, body = await fetch(http, port, "/readyz?exclude=informers&verbose")
    assert status == 200
    assert body == "[+]informers excluded: ok\n[+]ping ok\nreadyz check passed\n"
    assert (await fetch(http, port, "/readyz/nope"))[0] == 404
    synced.healthy = True
    assert await fetch(http, port, "/readyz") == (200, "ok")
    assert await fetch(http, port, "/readyz/informers") == (200, "ok")


async def test_metrics_and_probes_are_served_on_separate_listeners(
    probes: tuple[ObservabilityServer, Toggle, CollectorRegistry], http: aiohttp.ClientSession
) -> None:
    server, _, _ = probes
    assert server.metrics_port is not None and server.probe_port is not None
    status, body = await fetch(http, server.metrics_port, "/metrics")
    assert status == 200
    assert 'controller_runtime_reconcile_total{controller="ingress",result="success"} 0.0' in body
    assert "controller_runtime_max_concurrent_reconciles" in body
    assert (await fetch(http, server.metrics_port, "/healthz"))[0] == 404
    assert (await fetch(http, server.probe_port, "/metrics"))[0] == 404


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_one_listener_serves_everything_when_both_addresses_match(http: aiohttp.ClientSession) -> None:
    registry = CollectorRegistry()
    framework_metrics(registry)
    address = BindAddress("127.0.0.1", free_port())
    server = ObservabilityServer(
        metrics_address=address,
        probe_address=address,
        healthz=HealthChecks("healthz"),
        readyz=HealthChecks("readyz"),
        registry=registry,
    )
    await server.start()
    try:
        assert server.metrics_port == server.probe_port == address.port
        status, body = await fetch(http, address.port, "/metrics")
        assert status == 200 and "leader_election_master_status" in body
        # An empty set reports the implicit ping check.
        assert await fetch(http, address.port, "/readyz?verbose") == (
            200,
            "[+]ping ok\nreadyz check passed\n",
        )
        assert await fetch(http, address.port, "/healthz/ping") == (200, "ok")
    finally:
        await server.stop()


async def test_disabled_listeners_report_no_port() -> None:
    server = ObservabilityServer(
        metrics_address=None,
        probe_address=None,
        healthz=HealthChecks("healthz"),
        readyz=HealthChecks("readyz"),
    )
    await server.start()
    await server.stop()
    assert server.metrics_port is None and server.probe_port is None


async def test_http_server_reports_its_port_only_while_started() -> None:
    server = HttpServer(build_app(registry=CollectorRegistry()), LOCAL_ANY_PORT, name="metrics")
    with pytest.raises(RuntimeError):
        _ = server.port
    await server.start()
    try:
        assert server.port > 0
        with pytest.raises(RuntimeError):
            await server.start()
    finally:
        await server.stop()


async def test_a_busy_port_fails_start_with_one_line_naming_listener_and_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(
            build_app(registry=CollectorRegistry()), BindAddress("127.0.0.1", port), name="metrics"
        )
        with pytest.raises(ListenError) as caught:
            await server.start()
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.EADDRINUSE
    assert caught.value.strerror == f"cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    with pytest.raises(RuntimeError):
        _ = server.port


async def test_a_hung_check_fails_at_its_timeout_in_virtual_time() -> None:
    clock = FakeClock()
    checks = HealthChecks("readyz", check_timeout=2.0, clock=clock)

    async def hangs() -> None:
        await asyncio.Event().wait()

    checks.add("apiserver", hangs)
    checks.add("ping", ping)
    run = asyncio.create_task(checks.run())
    await clock.wait_for_timers(2)
    clock.advance(2.0)
    outcomes = await asyncio.wait_for(run, timeout=5)
    assert [(o.name, o.healthy, o.reason) for o in outcomes] == [
        ("apiserver", False, "timed out after 2s"),
        ("ping", True, ""),
    ]


def test_check_names_are_validated_and_unique() -> None:
    checks = HealthChecks("healthz")
    checks.add("ping", ping)
    with pytest.raises(ValueError):
        checks.add("ping", ping)
    with pytest.raises(ValueError):
        checks.add("a/b", ping)
    with pytest.raises(ValueError):
        HealthChecks("bad/kind")
    assert checks.names == ["ping"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", BindAddress(None, 8080)),
        ("127.0.0.1:0", BindAddress("127.0.0.1", 0)),
        ("[::1]:61779", BindAddress("::1", 61779)),
        ("0", None),
    ],
)
def test_bind_address_parsing(text: str, expected: BindAddress | None) -> None:
    assert BindAddress.parse(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:port", ":70000"])
def test_bind_address_parsing_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        BindAddress.parse(text)
