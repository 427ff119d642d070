"""Seconds for one stack's first deploy when every AWS call takes ``--latency`` seconds.

moto answers in about a millisecond; AWS takes tens to hundreds of milliseconds per call, so a
deploy's wall time there is mostly its longest chain of calls made one after another. This script
starts its own moto server and AWS-like proxy (controller.sandbox), makes the proxy hold every
request for ``--latency`` seconds, and, for each ``--ports`` value, deploys one new NLB Service
stack with that many ports (one target group and one listener each) through a fresh
``StackDeployer``, then deletes it. Prints one JSON object: per port count, the deploy's seconds,
its calls by operation, and the seconds divided by the latency ("calls in a row").

Run: ``.venv/bin/python benchmarks/stack_deploy.py`` (well under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from controller.annotations import SVC_SCHEME
from controller.aws.client import open_aws_client
from controller.aws.settings import AwsSettings, RetrySettings
from controller.config import parse_config
from controller.deploy import StackDeployer
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, seed_vpc
from controller.service import ServiceModelBuilder
from controller.service.reconciler import service_stack_tags


class IdResolver:
    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        return list(names_or_ids)


def _settings(endpoint_url: str) -> AwsSettings:
    """The sandbox client, with retries patient enough for a loaded moto."""
    return sandbox_settings(
        endpoint_url, retry=RetrySettings(max_retries=10, backoff_base=0.01, backoff_cap=0.5)
    )


def _service(name: str, ports: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"0f0e0d0c-1111-2222-3333-{ports:012d}",
            "annotations": {SVC_SCHEME: "internet-facing"},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [
                {
                    "name": f"p{n}",
                    "port": 80 + n,
                    "targetPort": 8080,
                    "nodePort": 31000 + n,
                    "protocol": "TCP",
                }
                for n in range(ports)
            ],
        },
    }


async def run(port_counts: list[int], latency: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with MotoServer() as moto:
        moto.warm_up(SANDBOX_REGION)
        async with (
            AwsProxy(moto.url) as proxy,
            open_aws_client(_settings(proxy.url), CollectorRegistry()) as api,
            open_aws_client(_settings(moto.url), CollectorRegistry()) as direct,
        ):
            vpc = await seed_vpc(direct, cluster_name=SANDBOX_CLUSTER)
            backend_sg = await SecurityGroupManager(direct, SecurityGroupReader(direct)).create(
                name="k8s-traffic-bench", description="backend", vpc_id=vpc.vpc_id, tags={"Name": "backend"}
            )
            config = parse_config(["--cluster-name", vpc.cluster_name])
            builder = ServiceModelBuilder(config, IdResolver())
            proxy.faults.delay(".*", latency, times=None)
            for ports in port_counts:
                name = f"bench-{ports}"
                stack = service_stack_tags(config.cluster_name, f"default/{name}")
                model = await builder.build(_service(name, ports), stack)
                assert model is not None
                reader = SecurityGroupReader(api)
                try:
                    deployer = StackDeployer(api, reader, cluster_name=config.cluster_name, vpc_id=vpc.vpc_id)
                    proxy.reset_counts()
                    started = time.perf_counter()
                    await deployer.deploy(model, backend_sg_id=backend_sg)
                    seconds = time.perf_counter() - started
                    calls = dict(sorted(proxy.calls_by_operation().items()))
                    await deployer.delete_stack(stack)
                finally:
                    await reader.aclose()
                results[str(ports)] = {
                    "target_groups": len(model.target_groups),
                    "seconds": round(seconds, 2),
                    "calls": sum(calls.values()),
                    "calls_in_a_row": round(seconds / latency, 1),
                    "by_operation": calls,
                }
    return {"benchmark": "stack_deploy", "latency_seconds": latency, "by_ports": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ports", default="1,4,10", help="comma-separated port counts (target groups)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the proxy holds every call")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run([int(p) for p in args.ports.split(",")], args.latency))))


if __name__ == "__main__":
    main()
