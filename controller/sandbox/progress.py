"""What the sandbox's progress view shows: one ``Progress`` snapshot per poll.

The numbers come from where an operator would look: the controller's own ``/metrics`` (reconciles
by result, work queue depth), AWS (load balancers, our SGs, the rules on each node SG) and the
AWS proxy's request counters (every call the controller made). AWS is read straight from moto,
not through the proxy, so the view's own reads neither count as the controller's calls nor take
tokens from the throttling buckets. Every read is bounded: a part that does not answer in time
shows as unknown (``None``) and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.ec2_types import IpPermission
from controller.aws.elbv2 import Elbv2
from controller.aws.errors import AwsApiError
from controller.naming import TAG_CLUSTER

READ_TIMEOUT_S = 2.0
_SUCCESS_RESULTS = frozenset({"success", "requeue", "requeue_after"})


@dataclass(frozen=True)
class ControllerNumbers:
    """From ``/metrics``: reconciles so far by outcome, and items waiting in the work queues."""

    reconciled: int
    failed: int
    pending: int


@dataclass(frozen=True)
class AwsNumbers:
    load_balancers: int
    our_security_groups: int
    node_sg_rules: tuple[tuple[str, int], ...]
    """(node SG id, inbound rules as AWS counts them) per node SG, in the order given."""


@dataclass(frozen=True)
class Progress:
    """One poll. Equal snapshots mean nothing changed (the plain view prints nothing then)."""

    controller: ControllerNumbers | None
    aws: AwsNumbers | None
    aws_calls: int


def parse_controller_metrics(text: str) -> ControllerNumbers:
    reconciled = failed = 0
    pending = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "controller_runtime_reconcile_total":
                if sample.labels.get("result") in _SUCCESS_RESULTS:
                    reconciled += int(sample.value)
                elif sample.labels.get("result") == "error":
                    failed += int(sample.value)
            elif sample.name == "workqueue_depth":
                pending += sample.value
    return ControllerNumbers(reconciled=reconciled, failed=failed, pending=int(pending))


def rules_counted(permissions: tuple[IpPermission, ...]) -> int:
    """Inbound rules as AWS counts them against the quota: one per CIDR, prefix list or SG."""
    return sum(
        len(p.ipv4_ranges) + len(p.ipv6_ranges) + len(p.prefix_lists) + len(p.group_pairs)
        for p in permissions
    )


@dataclass(frozen=True)
class ProgressSources:
    """Where to read: the metrics URL, moto (as an ``AwsApi``), the proxy's call counter."""

    metrics_url: str
    moto: AwsApi
    cluster_name: str
    vpc_id: str
    node_security_groups: tuple[str, ...]
    aws_calls: Callable[[], int]


async def read_controller_numbers(http: aiohttp.ClientSession, url: str) -> ControllerNumbers | None:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
        async with asyncio.timeout(READ_TIMEOUT_S), http.get(url) as response:
            if response.status == 200:
                return parse_controller_metrics(await response.text())
    return None


async def read_aws_numbers(sources: ProgressSources) -> AwsNumbers | None:
    ec2, elbv2 = Ec2(sources.moto), Elbv2(sources.moto)
    try:
        async with asyncio.timeout(READ_TIMEOUT_S):
            load_balancers = await elbv2.describe_load_balancers()
            groups = await ec2.describe_security_groups(filters={"vpc-id": [sources.vpc_id]})
    except (AwsApiError, TimeoutError):
        return None
    by_id = {g.group_id: g for g in groups}
    ours = [g for g in groups if g.tags.get(TAG_CLUSTER) == sources.cluster_name]
    node_rules = tuple(
        (sg, rules_counted(by_id[sg].ip_permissions)) for sg in sources.node_security_groups if sg in by_id
    )
    return AwsNumbers(
        load_balancers=len(load_balancers), our_security_groups=len(ours), node_sg_rules=node_rules
    )


async def read_progress(http: aiohttp.ClientSession, sources: ProgressSources) -> Progress:
    controller, aws = await asyncio.gather(
        read_controller_numbers(http, sources.metrics_url), read_aws_numbers(sources)
    )
    return Progress(controller=controller, aws=aws, aws_calls=sources.aws_calls())
