"""The controller as it runs in a cluster: its own process, a kubeconfig, an AWS endpoint.

The world around it: the Kubernetes API (stand-in or real), moto behind the AWS-like proxy, and
seeded worker nodes. Tests act only through the Kubernetes API and AWS, never on the controller's
internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from controller.aws.api import AwsApi
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.seed import SANDBOX_REGION

T = TypeVar("T")

EVENTUALLY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningController:
    process: asyncio.subprocess.Process
    metrics_port: int
    health_port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def controller_process(
    *,
    kubeconfig: Path,
    aws_endpoint: str,
    cluster: SandboxCluster,
    log_dir: Path,
    extra_flags: tuple[str, ...] = (),
) -> AsyncIterator[RunningController]:
    """Start ``python -m controller``; on exit send SIGTERM and require a clean, timely exit."""
    metrics_port, health_port = free_port(), free_port()
    log_path = log_dir / "controller.log"
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller",
            f"--cluster-name={cluster.vpc.cluster_name}",
            f"--kubeconfig={kubeconfig}",
            f"--aws-vpc-id={cluster.vpc.vpc_id}",
            f"--metrics-bind-addr=127.0.0.1:{metrics_port}",
            f"--health-probe-bind-addr=127.0.0.1:{health_port}",
            "--leader-election-namespace=kube-system",
            "--log-level=debug",
            *extra_flags,
            env=environment,
            stdout=log_file,
            stderr=log_file,
        )
    running = RunningController(process, metrics_port, health_port, log_path)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(40):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
                raise AssertionError(
                    f"controller did not stop on SIGTERM within 40 s:\n{running.log()[-4000:]}"
                ) from None


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, what: str, within: float = EVENTUALLY_TIMEOUT_S
) -> T:
    """Poll ``probe`` until it returns something other than None (or fail naming ``what``)."""
    last_error: BaseException | None = None
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    value = await probe()
                except AssertionError as error:  # a probe may assert to explain what it saw
                    last_error = error
                    value = None
                if value is not None:
                    return value
                await asyncio.sleep(0.25)
    except TimeoutError:
        detail = f": {last_error}" if last_error else ""
        raise AssertionError(f"timed out after {within:.0f}s waiting for {what}{detail}") from None


async def ingress_rules(aws: AwsApi, group_id: str) -> list[dict[str, Any]]:
    described = await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id])
    permissions: list[dict[str, Any]] = described["SecurityGroups"][0].get("IpPermissions", [])
    return permissions
