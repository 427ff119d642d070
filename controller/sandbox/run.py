"""``make run``: the controller against the embedded sandbox, everything on 127.0.0.1.

Starts moto behind the AWS-like proxy, seeds a VPC with worker instances (and the target group and
client SG that config/samples/targetgroupbinding.yaml names), starts the Kubernetes API stand-in
(writing a kubeconfig for kubectl), registers our CRDs, the ``alb`` IngressClass and the Nodes,
then runs ``python -m controller`` as its own process, exactly as it runs in a cluster (flags,
kubeconfig, AWS endpoint). Apply the samples with kubectl and watch it work::

    kubectl --kubeconfig .run/kubeconfig apply -f config/samples/

When ``make gateway-api-crds`` has fetched the Gateway API CRDs (``make run`` does), they and our
gateway.k8s.aws CRDs are installed before the controller starts, so it runs its Gateway
controllers; the Gateway sample is then one more apply::

    kubectl --kubeconfig .run/kubeconfig apply -f config/samples/gateway/

Without them the sandbox runs without Gateways, and says so in one line on stderr.

While it runs, a small table (plain lines when stdout is not a terminal) shows reconciles, queued
items, load balancers, our SGs, the rules on each node SG and the AWS calls made so far. AWS is
region us-west-2 with the dummy credentials testing/testing; the AWS CLI works against it (the
JSON line's ``aws_cli`` names the real port)::

    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url http://127.0.0.1:PROXY_PORT --region us-west-2 ec2 describe-security-groups

With ``--once`` it applies every file of config/samples/ (and of config/samples/gateway/ when the
Gateway CRDs are installed) itself, waits until everything has converged, prints every security
group with its inbound rules and exits 0 (1, naming what did not converge, after ``--timeout``
seconds).

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
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
from prometheus_client import CollectorRegistry
from rich.console import Console

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.ec2 import Ec2
from controller.aws.settings import RetrySettings
from controller.sandbox.client_settings import SANDBOX_CREDENTIALS, sandbox_settings
from controller.sandbox.cluster import GATEWAY_API_CRD_DIR, SandboxCluster, gateway_api_crds_fetched
from controller.sandbox.convergence import not_converged
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.prepare import seed_sandbox
from controller.sandbox.progress import READ_TIMEOUT_S, Progress, ProgressSources, read_progress
from controller.sandbox.progress_view import progress_view
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.samples import GATEWAY_SAMPLES_DIR, SAMPLES_DIR, apply_samples
from controller.sandbox.seed import SANDBOX_REGION
from controller.sandbox.summary import security_group_table
from framework.kube import KubeClient, KubeError
from framework.testing.apiserver import StandInApiServer, StandInSettings

PROG = "python -m controller.sandbox.run"
HOST = "127.0.0.1"
# The controller waits up to 120 s for its caches to sync before giving up on its own.
READY_TIMEOUT_S = 150.0
READY_POLL_S = 0.2
PROGRESS_POLL_S = 1.0
DEFAULT_ONCE_TIMEOUT_S = 120.0
SUMMARY_WIDTH_UNBOUNDED = 1000
QUIET_POLLS = 3
SUMMARY_TIMEOUT_S = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    parser.add_argument(
        "--once",
        action="store_true",
        help=(
            "apply config/samples/ (and config/samples/gateway/ when the Gateway CRDs are installed), "
            "wait for convergence, print every SG and its rules, exit (0: converged)"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_ONCE_TIMEOUT_S,
        help="with --once: seconds to wait for convergence before exiting 1",
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


def gateway_api_crd_dir() -> Path | None:
    """Where the sandbox installs the Gateway API CRDs from, or None (with one line on stderr
    saying how to get them) when they were not fetched: the sandbox then runs without Gateways."""
    if gateway_api_crds_fetched(GATEWAY_API_CRD_DIR):
        return GATEWAY_API_CRD_DIR
    print(
        f"{PROG}: no Gateway API CRDs in {GATEWAY_API_CRD_DIR}, so Gateways are off in this sandbox; "
        "`make gateway-api-crds` fetches them (needs Go), `make run` does that first",
        file=sys.stderr,
        flush=True,
    )
    return None


def ready_info(
    args: argparse.Namespace,
    api_server: str,
    proxy_url: str,
    cluster: SandboxCluster,
    ports: SandboxPorts,
    gateways: bool,
) -> dict[str, object]:
    """The JSON line printed once the controller is ready: every address, and how to reach them."""
    info: dict[str, object] = {
        "kubeconfig": str(args.kubeconfig),
        "kubernetes_api": api_server,
        "aws_endpoint_url": proxy_url,
        "aws_region": SANDBOX_REGION,
        "aws_access_key_id": SANDBOX_CREDENTIALS.access_key_id,
        "aws_secret_access_key": SANDBOX_CREDENTIALS.secret_access_key,
        "vpc_id": cluster.vpc.vpc_id,
        "node_security_group": cluster.node_security_group_id,
        "metrics": f"http://{HOST}:{ports.metrics}/metrics",
        "health": f"http://{HOST}:{ports.health}/readyz",
        "ports": ports.as_json(),
        "try": f"kubectl --kubeconfig {args.kubeconfig} apply -f config/samples/",
        "aws_cli": (
            f"AWS_ACCESS_KEY_ID={SANDBOX_CREDENTIALS.access_key_id} "
            f"AWS_SECRET_ACCESS_KEY={SANDBOX_CREDENTIALS.secret_access_key} "
            f"aws --endpoint-url {proxy_url} --region {SANDBOX_REGION} ec2 describe-security-groups"
        ),
        "gateway_api": gateways,
    }
    if gateways:
        info["try_gateway"] = f"kubectl --kubeconfig {args.kubeconfig} apply -f config/samples/gateway/"
    return info


async def serve(args: argparse.Namespace, ports: SandboxPorts, moto: MotoServer) -> int:
    args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    stop = _stop_on_signals()
    async with AwsProxy(moto.url, port=ports.proxy) as proxy:
        if args.aws_limits:
            proxy.use_documented_aws_limits()
        settings = StandInSettings(host=HOST, port=ports.api)
        async with (
            StandInApiServer(settings, kubeconfig_path=args.kubeconfig) as api,
            open_aws_client(sandbox_settings(proxy.url), CollectorRegistry()) as aws,
            # The view reads moto directly, failing fast: a slow answer shows as "?" for one poll.
            open_aws_client(
                sandbox_settings(moto.url, retry=RetrySettings(max_retries=0)), CollectorRegistry()
            ) as moto_api,
            KubeClient.from_configuration(api.client_configuration()) as kube,
        ):
            gateway_crds = gateway_api_crd_dir()
            cluster = await seed_sandbox(
                aws, kube, moto, node_count=args.nodes, gateway_api_crd_dir=gateway_crds
            )
            gateways = gateway_crds is not None
            vpc = cluster.vpc
            proxy.reset_counts()  # "AWS calls" counts the controller's calls, not the seeding
            with _controller_output(args) as output:
                process = await asyncio.create_subprocess_exec(
                    *controller_command(cluster, args.kubeconfig, ports),
                    env=controller_environment(proxy.url),
                    stdout=output,
                    stderr=output,
                )
            try:
                log_hint = "above" if output is None else f"in {_controller_log_path(args)}"
                if not await _wait_until_ready(process, ports.health, stop, log_hint):
                    return 0  # stopped by the user before the controller was ready
                info = ready_info(args, api.server, proxy.url, cluster, ports, gateways)
                if output is not None:
                    info["controller_log"] = str(_controller_log_path(args))
                print(json.dumps(info), flush=True)
                sources = ProgressSources(
                    metrics_url=f"http://{HOST}:{ports.metrics}/metrics",
                    moto=moto_api,
                    cluster_name=vpc.cluster_name,
                    vpc_id=vpc.vpc_id,
                    node_security_groups=(cluster.node_security_group_id,),
                    aws_calls=lambda: sum(proxy.calls_by_operation().values()),
                )
                if args.once:
                    return await _once(args, kube, moto_api, sources, cluster, gateways, process, stop)
                await _follow(sources, process, stop)
            finally:
                await _stop_controller(process)
            return process.returncode or 0


@contextlib.contextmanager
def _controller_output(args: argparse.Namespace) -> Iterator[TextIO | None]:
    """On a terminal the controller logs to a file next to the kubeconfig, so its lines do not
    tear the live table; anywhere else (CI, a pipe) its log stays on this process's output."""
    if not sys.stdout.isatty():
        yield None
        return
    with _controller_log_path(args).open("a") as log:
        yield log


def _controller_log_path(args: argparse.Namespace) -> Path:
    return Path(args.kubeconfig).parent / "controller.log"


async def _follow(sources: ProgressSources, process: asyncio.subprocess.Process, stop: asyncio.Event) -> None:
    """Show the progress until Ctrl-C or the controller exits."""
    with progress_view(sys.stdout, "sandbox (Ctrl-C stops it)") as view:
        async with aiohttp.ClientSession() as http:
            while not stop.is_set() and process.returncode is None:
                view.show(await read_progress(http, sources))
                await _first_of(stop.wait(), process.wait(), asyncio.sleep(PROGRESS_POLL_S))


async def _once(
    args: argparse.Namespace,
    kube: KubeClient,
    moto_api: AwsApi,
    sources: ProgressSources,
    cluster: SandboxCluster,
    gateways: bool,
    process: asyncio.subprocess.Process,
    stop: asyncio.Event,
) -> int:
    """Apply the samples, show the progress until converged, print the SG summary; 0 or 1."""
    directories = [SAMPLES_DIR, *([GATEWAY_SAMPLES_DIR] if gateways else [])]
    applied = 0
    for directory in directories:
        applied += await apply_samples(kube, directory)
    shown = " and ".join(f"{directory.relative_to(SAMPLES_DIR.parents[1])}/" for directory in directories)
    print(f"applied {applied} objects from {shown}", flush=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.timeout
    missing: list[str] = []
    recent: list[Progress] = []
    with progress_view(sys.stdout, "sandbox --once: converging") as view:
        async with aiohttp.ClientSession() as http:
            while True:
                progress = await read_progress(http, sources)
                view.show(progress)
                recent = [*recent[-(QUIET_POLLS - 1) :], progress]
                missing = await _not_converged(kube, progress)
                if not missing and (len(recent) < QUIET_POLLS or len(set(recent)) > 1):
                    # Work the queues do not show (a pass waiting to run again, a rule not yet
                    # written) still moves the numbers: converged means they stood still too.
                    missing = [f"the numbers still moved in the last {QUIET_POLLS} polls"]
                elif not missing:
                    break
                if stop.is_set() or process.returncode is not None:
                    break
                if loop.time() > deadline:
                    break
                await _first_of(stop.wait(), process.wait(), asyncio.sleep(PROGRESS_POLL_S))
    async with asyncio.timeout(SUMMARY_TIMEOUT_S):
        groups = await Ec2(moto_api).describe_security_groups(filters={"vpc-id": [cluster.vpc.vpc_id]})
    console = Console(file=sys.stdout)
    if not console.is_terminal:
        # A log or a pipe has no width: print the table at its natural width, nothing cut.
        console = Console(file=sys.stdout, width=SUMMARY_WIDTH_UNBOUNDED)
    console.print(security_group_table(groups, {cluster.node_security_group_id}, cluster.vpc.cluster_name))
    if not missing:
        print(f"converged: every sample applied, {len(groups)} security groups", flush=True)
        return 0
    if process.returncode is not None:
        reason = f"the controller exited with code {process.returncode}"
    elif stop.is_set():
        reason = "stopped"
    else:
        reason = f"not converged within {args.timeout:.0f}s"
    print(f"{PROG}: {reason}: {'; '.join(missing)}", file=sys.stderr, flush=True)
    return 1


async def _not_converged(kube: KubeClient, progress: Progress) -> list[str]:
    try:
        async with asyncio.timeout(READ_TIMEOUT_S * 3):
            return await not_converged(kube, progress)
    except (KubeError, TimeoutError) as error:
        return [f"the Kubernetes API did not answer ({error or 'timeout'})"]


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_until_ready(
    process: asyncio.subprocess.Process, health_port: int, stop: asyncio.Event, log_hint: str
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
                    f"the controller exited with code {process.returncode} before it was ready (its log is {log_hint})"
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
