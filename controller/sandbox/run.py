"""``make run``: the controller against the embedded sandbox, everything on 127.0.0.1.

Starts moto behind the AWS-like proxy, seeds a VPC with worker instances, starts the Kubernetes
API stand-in (writing a kubeconfig for kubectl), registers the CRD, the ``alb`` IngressClass and
the Nodes, then runs ``python -m controller`` as its own process, exactly as it runs in a cluster
(flags, kubeconfig, AWS endpoint). Apply the samples with kubectl and watch it work::

    kubectl --kubeconfig .run/kubeconfig apply -f config/samples/ingress-echo.yaml

Stops everything on Ctrl-C (or SIGTERM), or when the controller exits.

Every port is checked (or, given as 0, chosen) before anything starts, so a busy port is one
line on stderr and exit code 1, not a crash after the "ready" line. The JSON line is printed only
once the controller answers ``/readyz``; it lists every port in use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry

from controller.aws.client import open_aws_client
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.cluster import SandboxCluster, seed_cluster
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, seed_vpc
from framework.kube import KubeClient
from framework.testing.apiserver import StandInApiServer, StandInSettings

PROG = "python -m controller.sandbox.run"
HOST = "127.0.0.1"
# The controller waits up to 120 s for its caches to sync before giving up on its own.
READY_TIMEOUT_S = 150.0
READY_POLL_S = 0.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument(
        "--api-port", type=int, default=8001, help="port of the Kubernetes API stand-in (0: any free)"
    )
    parser.add_argument("--kubeconfig", type=Path, default=Path(".run/kubeconfig"))
    parser.add_argument(
        "--metrics-port", type=int, default=8080, help="the controller's /metrics (0: any free)"
    )
    parser.add_argument(
        "--health-port", type=int, default=61779, help="the controller's probes (0: any free)"
    )
    parser.add_argument("--moto-port", type=int, default=0, help="moto behind the proxy (0: any free)")
    parser.add_argument("--proxy-port", type=int, default=0, help="the AWS endpoint (0: any free)")
    parser.add_argument("--nodes", type=int, default=2, help="worker nodes to seed")
    parser.add_argument(
        "--aws-limits",
        action="store_true",
        help="throttle like AWS's per-API buckets (EC2's documented values; ELBv2: upstream LBC's defaults)",
    )
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------ ports


@dataclass(frozen=True)
class PortRequest:
    """One port the sandbox needs: the flag and the ``make`` variable that set it, and what for."""

    flag: str
    variable: str
    purpose: str
    port: int


@dataclass(frozen=True)
class SandboxPorts:
    api: int
    metrics: int
    health: int
    moto: int
    proxy: int

    def as_json(self) -> dict[str, int]:
        return {
            "kubernetes_api": self.api,
            "metrics": self.metrics,
            "health": self.health,
            "moto": self.moto,
            "aws_proxy": self.proxy,
        }


class PortUnavailable(Exception):
    """A requested port cannot be used; the message says which and how to choose another."""


def port_requests(args: argparse.Namespace) -> dict[str, PortRequest]:
    return {
        "api": PortRequest("--api-port", "API_PORT", "the Kubernetes API", args.api_port),
        "metrics": PortRequest(
            "--metrics-port", "METRICS_PORT", "the controller's metrics", args.metrics_port
        ),
        "health": PortRequest("--health-port", "HEALTH_PORT", "the controller's probes", args.health_port),
        "moto": PortRequest("--moto-port", "MOTO_PORT", "moto", args.moto_port),
        "proxy": PortRequest("--proxy-port", "PROXY_PORT", "the AWS endpoint", args.proxy_port),
    }


def choose_ports(requests: dict[str, PortRequest]) -> SandboxPorts:
    """Check every requested port, then pick free ones for those given as 0. The servers bind
    later (the controller in its own process), so another program may still take a port in
    between; the controller then fails to start and ``serve`` reports that instead."""
    chosen: dict[str, int] = {}
    for name, request in requests.items():
        if request.port == 0:
            continue
        if not 0 < request.port < 65536:
            raise PortUnavailable(_port_problem(request, "not a TCP port number"))
        owner = next((requests[other] for other, port in chosen.items() if port == request.port), None)
        if owner is not None:
            raise PortUnavailable(_port_problem(request, f"also asked for by {owner.variable}"))
        reason = _bind_problem(request.port)
        if reason is not None:
            raise PortUnavailable(_port_problem(request, reason))
        chosen[name] = request.port
    for name, request in requests.items():
        if request.port == 0:
            chosen[name] = _free_port(set(chosen.values()))
    return SandboxPorts(**chosen)


def _port_problem(request: PortRequest, reason: str) -> str:
    return (
        f"cannot use port {request.port} for {request.purpose} ({request.variable} / {request.flag}): "
        f"{reason}; choose another port, or 0 for any free one"
    )


def _bind_problem(port: int) -> str | None:
    """Why ``port`` cannot be listened on now, or None. SO_REUSEADDR as the servers set it, so a
    port that only has connections in TIME_WAIT counts as free, as it is for them."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as error:
            return os.strerror(error.errno) if error.errno else str(error)
    return None


def _free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port


# ------------------------------------------------------------------------------------------ run


class SandboxFailed(Exception):
    """The sandbox could not get the controller ready; the message is the one line to print."""


def controller_command(cluster: SandboxCluster, kubeconfig: Path, ports: SandboxPorts) -> list[str]:
    return [
        sys.executable,
        "-m",
        "controller",
        f"--cluster-name={cluster.vpc.cluster_name}",
        f"--kubeconfig={kubeconfig}",
        f"--aws-region={SANDBOX_REGION}",
        f"--aws-vpc-id={cluster.vpc.vpc_id}",
        f"--metrics-bind-addr={HOST}:{ports.metrics}",
        f"--health-probe-bind-addr={HOST}:{ports.health}",
        "--leader-election-namespace=kube-system",
    ]


def controller_environment(endpoint_url: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    return environment


async def serve(args: argparse.Namespace, ports: SandboxPorts, moto: MotoServer) -> int:
    args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    stop = _stop_on_signals()
    async with AwsProxy(moto.url, port=ports.proxy) as proxy:
        if args.aws_limits:
            proxy.use_documented_aws_limits()
        settings = StandInSettings(host=HOST, port=ports.api)
        async with StandInApiServer(settings, kubeconfig_path=args.kubeconfig) as api:
            async with (
                open_aws_client(sandbox_settings(proxy.url), CollectorRegistry()) as aws,
                KubeClient.from_configuration(api.client_configuration()) as kube,
            ):
                vpc = await seed_vpc(aws, cluster_name=SANDBOX_CLUSTER)
                cluster = await seed_cluster(aws, kube, vpc, node_count=args.nodes)
            process = await asyncio.create_subprocess_exec(
                *controller_command(cluster, args.kubeconfig, ports), env=controller_environment(proxy.url)
            )
            try:
                if not await _wait_until_ready(process, ports.health, stop):
                    return 0  # stopped by the user before the controller was ready
                print(
                    json.dumps(
                        {
                            "kubeconfig": str(args.kubeconfig),
                            "kubernetes_api": api.server,
                            "aws_endpoint_url": proxy.url,
                            "vpc_id": vpc.vpc_id,
                            "node_security_group": cluster.node_security_group_id,
                            "metrics": f"http://{HOST}:{ports.metrics}/metrics",
                            "health": f"http://{HOST}:{ports.health}/readyz",
                            "ports": ports.as_json(),
                            "try": f"kubectl --kubeconfig {args.kubeconfig} apply -f config/samples/",
                        }
                    ),
                    flush=True,
                )
                await _first_of(stop.wait(), process.wait())
            finally:
                await _stop_controller(process)
            return process.returncode or 0


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_until_ready(
    process: asyncio.subprocess.Process, health_port: int, stop: asyncio.Event
) -> bool:
    """True once the controller answers ``/readyz`` with 200; False if stopped first; raises
    ``SandboxFailed`` when the controller exits or stays unready too long."""
    url = f"http://{HOST}:{health_port}/readyz"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while not stop.is_set():
            if process.returncode is not None:
                raise SandboxFailed(
                    f"the controller exited with code {process.returncode} before it was ready (its log is above)"
                )
            # Polled: readiness is only observable over HTTP.
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return True
            if loop.time() > deadline:
                raise SandboxFailed(f"the controller was not ready within {READY_TIMEOUT_S:.0f}s ({url})")
            await _first_of(stop.wait(), process.wait(), asyncio.sleep(READY_POLL_S))
    return False


async def _first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _stop_controller(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(40):  # the controller's graceful shutdown budget is 30 s
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ports = choose_ports(port_requests(args))
        with MotoServer(port=ports.moto) as moto:
            moto.warm_up(SANDBOX_REGION)
            return asyncio.run(serve(args, ports, moto))
    except (PortUnavailable, SandboxFailed) as error:
        print(f"{PROG}: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
