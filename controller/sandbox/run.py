"""``make run``: the controller against the embedded sandbox, everything on 127.0.0.1.

Starts moto behind the AWS-like proxy, seeds a VPC with worker instances, starts the Kubernetes
API stand-in (writing a kubeconfig for kubectl), registers the CRD, the ``alb`` IngressClass and
the Nodes, then runs ``python -m controller`` as its own process, exactly as it runs in a cluster
(flags, kubeconfig, AWS endpoint). Apply the samples with kubectl and watch it work::

    kubectl --kubeconfig .run/kubeconfig apply -f config/samples/ingress-echo.yaml

Stops everything on Ctrl-C (or SIGTERM), or when the controller exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from controller.aws.client import open_aws_client
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.cluster import SandboxCluster, seed_cluster
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, seed_vpc
from framework.kube import KubeClient
from framework.testing.apiserver import StandInApiServer, StandInSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m controller.sandbox.run", description=__doc__)
    parser.add_argument("--api-port", type=int, default=8001, help="port of the Kubernetes API stand-in")
    parser.add_argument("--kubeconfig", type=Path, default=Path(".run/kubeconfig"))
    parser.add_argument("--metrics-port", type=int, default=8080)
    parser.add_argument("--health-port", type=int, default=61779)
    parser.add_argument("--nodes", type=int, default=2, help="worker nodes to seed")
    parser.add_argument(
        "--aws-limits", action="store_true", help="throttle like AWS's documented EC2 buckets"
    )
    return parser.parse_args(argv)


def controller_command(cluster: SandboxCluster, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "controller",
        f"--cluster-name={cluster.vpc.cluster_name}",
        f"--kubeconfig={args.kubeconfig}",
        f"--aws-region={SANDBOX_REGION}",
        f"--aws-vpc-id={cluster.vpc.vpc_id}",
        f"--metrics-bind-addr=127.0.0.1:{args.metrics_port}",
        f"--health-probe-bind-addr=127.0.0.1:{args.health_port}",
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


async def serve(args: argparse.Namespace, moto: MotoServer) -> int:
    args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    async with AwsProxy(moto.url) as proxy:
        if args.aws_limits:
            proxy.use_documented_aws_limits()
        settings = StandInSettings(port=args.api_port)
        async with StandInApiServer(settings, kubeconfig_path=args.kubeconfig) as api:
            async with (
                open_aws_client(sandbox_settings(proxy.url), CollectorRegistry()) as aws,
                KubeClient.from_configuration(api.client_configuration()) as kube,
            ):
                vpc = await seed_vpc(aws, cluster_name=SANDBOX_CLUSTER)
                cluster = await seed_cluster(aws, kube, vpc, node_count=args.nodes)
            process = await asyncio.create_subprocess_exec(
                *controller_command(cluster, args), env=controller_environment(proxy.url)
            )
            print(
                json.dumps(
                    {
                        "kubeconfig": str(args.kubeconfig),
                        "kubernetes_api": api.server,
                        "aws_endpoint_url": proxy.url,
                        "vpc_id": vpc.vpc_id,
                        "node_security_group": cluster.node_security_group_id,
                        "metrics": f"http://127.0.0.1:{args.metrics_port}/metrics",
                        "try": f"kubectl --kubeconfig {args.kubeconfig} apply -f config/samples/",
                    }
                ),
                flush=True,
            )
            return await _wait_for_stop(process)


async def _wait_for_stop(process: asyncio.subprocess.Process) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stopped = asyncio.ensure_future(stop.wait())
    exited = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(40):  # the controller's graceful shutdown budget is 30 s
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await exited
    return process.returncode or 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with MotoServer() as moto:
        moto.warm_up(SANDBOX_REGION)
        return asyncio.run(serve(args, moto))


if __name__ == "__main__":
    sys.exit(main())
