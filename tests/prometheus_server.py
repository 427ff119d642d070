"""Debian's Prometheus (``/usr/bin/prometheus``) as a test process: a temporary configuration that
scrapes given targets every second and loads given rule files, on a free port.

The binary is a hard dependency (``.ci/run`` installs Debian's ``prometheus`` package): a machine
without it fails the tests that need it rather than skipping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest


def prometheus_binary(name: str) -> str:
    """``prometheus`` or ``promtool`` from the PATH, or a test failure saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's 'prometheus' package (.ci/run does)")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusQueryError(Exception):
    """Prometheus rejected a query (``status: error``): a parse or evaluation error."""


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    session: aiohttp.ClientSession

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (one entry per series); PrometheusQueryError if it fails."""
        async with self.session.get(f"{self.url}/api/v1/query", params={"query": expr}) as response:
            body = await response.json()
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{body.get('errorType')}: {body.get('error')}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    async def rule_groups(self) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/api/v1/rules") as response:
            body = await response.json()
        groups: list[dict[str, Any]] = body["data"]["groups"]
        return groups

    async def ready(self) -> bool:
        try:
            async with self.session.get(f"{self.url}/-/ready") as response:
                return response.status == 200
        except aiohttp.ClientConnectionError:
            return False


@contextlib.asynccontextmanager
async def running_prometheus(
    workdir: Path,
    *,
    job: str,
    targets: Sequence[str],
    rule_files: Sequence[Path] = (),
    scrape_interval_s: int = 1,
) -> AsyncIterator[PrometheusServer]:
    """Start Prometheus scraping ``targets`` as ``job``; stopped (SIGTERM) on leave."""
    binary = prometheus_binary("prometheus")
    web_port = _free_port()
    config = workdir / "prometheus.yml"
    # JSON is YAML: no hand-built indentation.
    config.write_text(
        json.dumps(
            {
                "global": {
                    "scrape_interval": f"{scrape_interval_s}s",
                    "scrape_timeout": f"{scrape_interval_s}s",
                    "evaluation_interval": f"{scrape_interval_s}s",
                },
                "rule_files": [str(path) for path in rule_files],
                "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
            }
        )
    )
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
            stdout=log,
            stderr=log,
        )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            server = PrometheusServer(f"http://127.0.0.1:{web_port}", session)
            try:
                async with asyncio.timeout(60):
                    while not await server.ready():
                        if process.returncode is not None:
                            raise AssertionError(f"prometheus exited:\n{log_path.read_text()[-3000:]}")
                        await asyncio.sleep(0.25)
            except TimeoutError:
                raise AssertionError(f"prometheus not ready:\n{log_path.read_text()[-3000:]}") from None
            yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
