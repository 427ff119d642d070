"""Describes per single stack change at 10, 100 and 1,000 existing stacks: fleet scan vs ``Elbv2Index``.

Starts its own moto server and AWS-like proxy (controller.sandbox). The other stacks (one NLB and
one target group each, carrying our tracking tags, as a previous controller process would leave
them) are created straight against moto, not through the proxy or the controller. Then, at each
fleet size, a fresh ``StackDeployer`` deploys one NLB Service stack and, counted, one change to it
(an added tag), once per way of finding the stack's resources:

* ``old``: what every reconcile did before the index: list every LB (resp. target group) of the
  VPC and read their tags 20 ARNs at a time, for each look-up;
* ``new``: the ``Elbv2Index``: one scan on first use (counted apart, as ``first_scan``), then
  nothing but the describes the deploy needs for the stack's own resources (e.g. its listeners).

Prints one JSON object. Run: ``.venv/bin/python benchmarks/stack_lookup.py`` (about 1-2 min; use
``--sizes 10,100`` for a quick run). The largest size that fits ``--create-budget`` seconds is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from controller.annotations import SVC_ADDITIONAL_TAGS, SVC_SCHEME
from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import LoadBalancer, TargetGroup
from controller.aws.settings import AwsSettings, RetrySettings
from controller.config import parse_config
from controller.deploy import StackDeployer
from controller.deploy.elbv2_index import LOAD_BALANCER, TARGET_GROUP, Elbv2Index
from controller.deploy.elbv2_tags import ResourceT, StackResources, TaggedResource, match_by_resource_id
from controller.naming import SERVICE_TAG_PREFIX, StackTags, resource_tag_key
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, SandboxVpc, seed_vpc
from controller.service import ServiceModelBuilder
from controller.service.reconciler import service_stack_tags

FLEET_READS = ("DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTags")
CREATE_CONCURRENCY = 1
"""moto answers concurrent ELBv2 creates with an occasional 500 (its state is not thread-safe)."""


class FleetScanEveryLookUp(Elbv2Index):
    """The way before the index: each look-up lists the VPC's resources of its kind and reads all
    their tags (the deployer's writes are still reported here, and ignored)."""

    async def load_balancers(self, stack: StackTags) -> StackResources[LoadBalancer]:
        return await self._scan_kind(self._elbv2.describe_load_balancers, stack, LOAD_BALANCER)

    async def target_groups(self, stack: StackTags) -> StackResources[TargetGroup]:
        return await self._scan_kind(self._elbv2.describe_target_groups, stack, TARGET_GROUP)

    async def _scan_kind(
        self, describe: Callable[[], Awaitable[list[ResourceT]]], stack: StackTags, kind: str
    ) -> StackResources[ResourceT]:
        described = [item for item in await describe() if item.vpc_id == self._vpc_id]
        tags = await self._elbv2.describe_tags([item.arn for item in described])
        wanted = stack.tracking_tags()
        found = [
            TaggedResource(item.arn, item, tags.get(item.arn, {}))
            for item in described
            if all(tags.get(item.arn, {}).get(k) == v for k, v in wanted.items())
        ]
        return match_by_resource_id(found, resource_tag_key(stack.prefix), kind)


class IdResolver:
    async def resolve(self, names_or_ids: list[str]) -> list[str]:
        return list(names_or_ids)


def _settings(endpoint_url: str) -> AwsSettings:
    """The sandbox client, with retries patient enough for a loaded moto."""
    return sandbox_settings(
        endpoint_url, retry=RetrySettings(max_retries=10, backoff_base=0.01, backoff_cap=0.5)
    )


def _service(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "bench",
            "namespace": "default",
            "uid": "0f0e0d0c-1111-2222-3333-444455556666",
            "annotations": {SVC_SCHEME: "internet-facing", **annotations},
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"name": "tcp", "port": 80, "targetPort": 8080, "nodePort": 31080, "protocol": "TCP"}],
        },
    }


async def _create_other_stacks(direct: AwsApi, vpc: SandboxVpc, first: int, last: int) -> None:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(n: int) -> None:
        stack = StackTags(vpc.cluster_name, SERVICE_TAG_PREFIX, f"fleet/svc-{n}")
        async with gate:
            await direct.call(
                "elbv2",
                "CreateLoadBalancer",
                Name=f"fleet-{n}",
                Type="network",
                Subnets=list(vpc.subnet_ids),
                Tags=[{"Key": k, "Value": v} for k, v in stack.resource_tags("LoadBalancer").items()],
            )
            await direct.call(
                "elbv2",
                "CreateTargetGroup",
                Name=f"fleet-{n}",
                Protocol="TCP",
                Port=80,
                VpcId=vpc.vpc_id,
                TargetType="instance",
                Tags=[{"Key": k, "Value": v} for k, v in stack.resource_tags("tg").items()],
            )

    await asyncio.gather(*(one(n) for n in range(first, last)))


def _describes(proxy: AwsProxy) -> dict[str, int]:
    return dict(sorted((op, n) for op, n in proxy.calls_by_operation().items() if op.startswith("Describe")))


async def _one_change(
    api: AwsApi, proxy: AwsProxy, vpc: SandboxVpc, backend_sg: str, index: Elbv2Index
) -> dict[str, Any]:
    config = parse_config(["--cluster-name", vpc.cluster_name])
    reader = SecurityGroupReader(api)
    try:
        deployer = StackDeployer(
            api, reader, cluster_name=config.cluster_name, vpc_id=vpc.vpc_id, elbv2_index=index
        )
        builder = ServiceModelBuilder(config, IdResolver())
        stack = service_stack_tags(config.cluster_name, "default/bench")
        proxy.reset_counts()
        first = await builder.build(_service({}), stack)
        assert first is not None
        await deployer.deploy(first, backend_sg_id=backend_sg)
        creation = _describes(proxy)
        proxy.reset_counts()
        started = time.perf_counter()
        changed = await builder.build(_service({SVC_ADDITIONAL_TAGS: "team=bench"}), stack)
        assert changed is not None
        await deployer.deploy(changed, backend_sg_id=backend_sg)
        seconds = time.perf_counter() - started
        change = _describes(proxy)
        await deployer.delete_stack(stack)
    finally:
        await reader.aclose()
    return {
        "describes_per_change": sum(change.values()),
        "fleet_reads_per_change": sum(n for op, n in change.items() if op in FLEET_READS),
        "by_operation": change,
        "change_seconds": round(seconds, 3),
        "describes_when_creating_the_stack": sum(creation.values()),
    }


async def run(sizes: list[int], create_budget: float) -> dict[str, Any]:
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
            existing = 0
            for size in sizes:
                started = time.perf_counter()
                await _create_other_stacks(direct, vpc, existing, size)
                create_seconds = time.perf_counter() - started
                existing = size
                old = await _one_change(
                    api, proxy, vpc, backend_sg, FleetScanEveryLookUp(Elbv2(api), vpc_id=vpc.vpc_id)
                )
                index = Elbv2Index(Elbv2(api), vpc_id=vpc.vpc_id)
                new = await _one_change(api, proxy, vpc, backend_sg, index)
                proxy.reset_counts()
                await index.refresh()
                new["first_scan"] = _describes(proxy)
                results[str(size)] = {
                    "existing_stacks": size,
                    "create_seconds": round(create_seconds, 1),
                    "old": old,
                    "new": new,
                }
                if create_seconds > create_budget:
                    break
    per_change = {
        size: (r["old"]["describes_per_change"], r["new"]["describes_per_change"])
        for size, r in results.items()
    }
    return {
        "benchmark": "stack_lookup",
        "existing_stacks": [r["existing_stacks"] for r in results.values()],
        "describes_per_single_change": {
            "old": {size: old for size, (old, _) in per_change.items()},
            "new": {size: new for size, (_, new) in per_change.items()},
        },
        "details": results,
        "checks": {
            "new_is_independent_of_fleet_size": len({new for _, new in per_change.values()}) == 1,
            "new_makes_no_fleet_reads_per_change": all(
                r["new"]["fleet_reads_per_change"] == 0 for r in results.values()
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated fleet sizes, ascending")
    parser.add_argument(
        "--create-budget",
        type=float,
        default=120.0,
        help="stop after the size whose creation took longer than this many seconds",
    )
    args = parser.parse_args()
    result = asyncio.run(run([int(s) for s in args.sizes.split(",")], args.create_budget))
    print(json.dumps(result))
    if not all(result["checks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
