"""A real Prometheus scrapes our /metrics, and promtool lints the exposition.

Both binaries come from Debian's ``prometheus`` package, which ``.ci/run`` installs. They are a
hard dependency of this test: a machine without them fails here rather than skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry
from prometheus_server import PrometheusServer, prometheus_binary, running_prometheus

from framework.controller import Controller, Result, WorkerSettings
from framework.health import HealthChecks
from framework.httpserver import BindAddress, ObservabilityServer

SCRAPE_DEADLINE_S = 45.0


class _CountingReconciler:
    def __init__(self, expected: int) -> None:
        self.seen: list[str] = []
        self._expected = expected
        self.all_seen = asyncio.Event()

    async def reconcile(self, key: str) -> Result:
        self.seen.append(key)
        if len(self.seen) >= self._expected:
            self.all_seen.set()
        return Result()


@contextlib.asynccontextmanager
async def _served_controller_metrics() -> AsyncIterator[tuple[int, _CountingReconciler]]:
    registry = CollectorRegistry()
    reconciler = _CountingReconciler(expected=5)
    controller: Controller[str] = Controller(
        "scrape-test",
        reconciler,
        workers=WorkerSettings(max_concurrent_reconciles=2),
        registry=registry,
    )
    server = ObservabilityServer(
        metrics_address=BindAddress("127.0.0.1", 0),
        probe_address=None,
        healthz=HealthChecks("healthz"),
        readyz=HealthChecks("readyz"),
        registry=registry,
    )
    await server.start()
    controller.start()
    try:
        for index in range(5):
            controller.queue.add(f"ns/object-{index}")
        async with asyncio.timeout(10):
            await reconciler.all_seen.wait()
        port = server.metrics_port
        assert port is not None
        yield port, reconciler
    finally:
        await controller.stop(timeout=5)
        await server.stop()


async def _scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        return await response.text()


async def test_promtool_accepts_our_exposition(tmp_path: Path) -> None:
    promtool = prometheus_binary("promtool")
    async with _served_controller_metrics() as (port, _):
        text = await _scrape(port)
    assert 'controller_runtime_reconcile_total{controller="scrape-test",result="success"} 5.0' in text
    process = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        output, _ = await process.communicate(text.encode())
    assert process.returncode == 0, output.decode()


async def test_prometheus_scrapes_upstream_metric_names(tmp_path: Path) -> None:
    async with (
        _served_controller_metrics() as (port, _),
        running_prometheus(tmp_path, job="controller", targets=[f"127.0.0.1:{port}"]) as prometheus,
    ):
        values = await _wait_for_query(
            prometheus, 'controller_runtime_reconcile_total{controller="scrape-test",result="success"}'
        )
        assert values == [5.0]
        names = await _metric_names(prometheus)
    for expected in (
        "workqueue_adds_total",
        "workqueue_depth",
        "workqueue_queue_duration_seconds_bucket",
        "workqueue_work_duration_seconds_bucket",
        "workqueue_retries_total",
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
    ):
        assert expected in names, f"{expected} was not scraped; got {sorted(names)}"


async def _wait_for_query(prometheus: PrometheusServer, query: str) -> list[float]:
    """Poll Prometheus's query API until the series exists (the first scrape lands in ~1 s)."""
    async with asyncio.timeout(SCRAPE_DEADLINE_S):
        while True:
            result = await prometheus.query(query)
            if result:
                return [float(series["value"][1]) for series in result]
            await asyncio.sleep(0.25)


async def _metric_names(prometheus: PrometheusServer) -> set[str]:
    async with prometheus.session.get(f"{prometheus.url}/api/v1/label/__name__/values") as response:
        body = await response.json()
        return set(body["data"])
