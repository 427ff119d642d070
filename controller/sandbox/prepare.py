"""``python -m controller.sandbox.prepare seed|samples``: the one-shot steps of a sandbox whose
pieces run as separate processes (docker-compose.yml), doing what ``make run`` does in-process.

``seed``
    Given a running AWS endpoint (``python -m controller.sandbox --no-seed``) and Kubernetes API
    (``python -m framework.testing.apiserver``): the VPC and its ELB subnets, the worker nodes' SG
    and instances, our CRDs, the ``alb`` IngressClass, the Node objects, and the target group and
    client SG that config/samples/ names. Prints one JSON line (VPC, node SG, nodes). A sandbox
    that already has the VPC is left as it is, so running it again (``docker compose up`` after a
    stop) does not seed a second cluster the controller could not choose between.
``samples``
    Apply every file of config/samples/ (what ``make run --once`` applies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.ec2 import Ec2
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.cluster import CRD_DIR, SandboxCluster, apply_gateway_crds, seed_cluster
from controller.sandbox.moto_server import MotoEndpoint
from controller.sandbox.samples import SAMPLES_DIR, MotoRandom, apply_samples, create_sample_dependencies
from controller.sandbox.seed import SANDBOX_CLUSTER, seed_vpc
from framework.kube import KubeClient

PROG = "python -m controller.sandbox.prepare"
# The API server writes its kubeconfig right after it starts listening; a readiness probe may
# answer in between.
KUBECONFIG_WAIT_S = 30.0
KUBECONFIG_POLL_S = 0.1


async def seed_sandbox(
    aws: AwsApi,
    kube: KubeClient,
    moto: MotoRandom,
    *,
    cluster_name: str = SANDBOX_CLUSTER,
    node_count: int = 2,
    crd_dir: Path = CRD_DIR,
    gateway_api_crd_dir: Path | None = None,
) -> SandboxCluster:
    """Everything the sandbox starts with, in AWS and in Kubernetes (``make run`` and ``seed``).
    Given ``gateway_api_crd_dir``, the Gateway API CRDs from there and ours from ``crd_dir/gateway``
    too: the controller started afterwards then runs its Gateway controllers."""
    vpc = await seed_vpc(aws, cluster_name=cluster_name)
    cluster = await seed_cluster(aws, kube, vpc, node_count=node_count, crd_dir=crd_dir)
    if gateway_api_crd_dir is not None:
        await apply_gateway_crds(kube, gateway_api_crd_dir, crd_dir / "gateway")
    await create_sample_dependencies(aws, moto, vpc)
    return cluster


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    steps = parser.add_subparsers(dest="step", required=True)
    seed = steps.add_parser("seed", help="seed AWS and the Kubernetes API like make run does")
    seed.add_argument("--aws-endpoint-url", required=True, help="the AWS endpoint (moto behind the proxy)")
    seed.add_argument("--kubeconfig", type=Path, required=True)
    seed.add_argument("--cluster-name", default=SANDBOX_CLUSTER)
    seed.add_argument("--nodes", type=int, default=2, help="worker nodes to seed")
    seed.add_argument("--crd-dir", type=Path, default=CRD_DIR, help="the CRD manifests to install")
    samples = steps.add_parser("samples", help="apply config/samples/")
    samples.add_argument("--kubeconfig", type=Path, required=True)
    samples.add_argument("--samples-dir", type=Path, default=SAMPLES_DIR)
    return parser.parse_args(argv)


async def _wait_for_file(path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KUBECONFIG_WAIT_S
    # Polled: the file is written by another process (another container).
    while not await asyncio.to_thread(path.exists):
        if loop.time() > deadline:
            raise FileNotFoundError(f"{path} did not appear within {KUBECONFIG_WAIT_S:.0f}s")
        await asyncio.sleep(KUBECONFIG_POLL_S)


async def seed(args: argparse.Namespace) -> dict[str, object]:
    await _wait_for_file(args.kubeconfig)
    async with (
        open_aws_client(sandbox_settings(args.aws_endpoint_url), CollectorRegistry()) as aws,
        await KubeClient.from_environment(kubeconfig=str(args.kubeconfig)) as kube,
    ):
        existing = await Ec2(aws).describe_vpcs(filters={"tag:Name": [args.cluster_name]})
        if existing:
            return {"already_seeded": True, "vpc_id": existing[0].vpc_id, "cluster_name": args.cluster_name}
        cluster = await seed_sandbox(
            aws,
            kube,
            MotoEndpoint(args.aws_endpoint_url),
            cluster_name=args.cluster_name,
            node_count=args.nodes,
            crd_dir=args.crd_dir,
        )
    return {
        "cluster_name": cluster.vpc.cluster_name,
        "vpc_id": cluster.vpc.vpc_id,
        "subnet_ids": list(cluster.vpc.subnet_ids),
        "node_security_group": cluster.node_security_group_id,
        "nodes": [node.name for node in cluster.nodes],
    }


async def samples(args: argparse.Namespace) -> dict[str, object]:
    await _wait_for_file(args.kubeconfig)
    async with await KubeClient.from_environment(kubeconfig=str(args.kubeconfig)) as kube:
        applied = await apply_samples(kube, args.samples_dir)
    return {"applied": applied, "samples_dir": str(args.samples_dir)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    step = seed if args.step == "seed" else samples
    print(json.dumps(asyncio.run(step(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
