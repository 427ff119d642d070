"""``aws-lb-sg-controller gc [--apply] [-o text|json] --cluster-name=NAME [controller flags]``.

Reports (and with ``--apply`` removes) what this cluster's controller left in AWS with no owner:
see ``controller.gc.finder``. It takes the controller's own flags (cluster name, region, VPC, AWS
endpoint, throttles, ...), reads the cluster through the kubeconfig and AWS through the same client
layer as the controller, so it sees and deletes exactly as the controller would.

Exit codes: 0 no leak (or ``--apply`` removed every one), 2 leaks found (report mode) or some left
for a later run because AWS refused to delete them yet (``--apply``), 1 on error (bad flags too:
2 is taken by "leaks found", which scripts gate on).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.config import ConfigError, ControllerSettings, build_parser, validate
from controller.deploy import StackDeployer
from controller.deploy.elbv2_index import Elbv2Index
from controller.gc.apply import BLOCKED, FAILED, Removal, remove_leaks, summary
from controller.gc.finder import LeakReport, find_leaks
from controller.gc.inventory import AwsInventory, read_inventory
from controller.gc.owners import LiveOwners, live_owners
from controller.gc.report import render_json, render_removals_text, render_text
from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.startup import ControllerStartupError, aws_settings_from
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from controller.vpc import VpcResolutionError, resolve_vpc_id
from framework.kube import INGRESS_CLASSES, INGRESSES, NAMESPACES, SERVICES, KubeClient, KubeError, Resource

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_LEAKS = 2
_LIST_PAGE = 500
_GC_FLAGS = ("apply", "output")


@dataclass(frozen=True)
class GcOptions:
    config: ControllerSettings
    apply: bool
    output: str


def build_gc_parser() -> argparse.ArgumentParser:
    """The controller's parser (every flag defined once, in ``controller.config``) plus ours."""
    parser = build_parser()
    parser.prog = "aws-lb-sg-controller gc"
    parser.usage = "%(prog)s --cluster-name=NAME [--apply] [-o text|json] [--flag=value ...]"
    parser.description = (
        "Report the security groups, load balancers, target groups and labelled rules this "
        "cluster's controller left in AWS with no owner; --apply removes them."
    )
    parser.add_argument("--apply", action="store_true", help="Remove the leaks found (default: report only)")
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="Output format (default: text)"
    )
    return parser


def parse_gc_args(argv: Sequence[str]) -> GcOptions:
    parser = build_gc_parser()
    values = vars(parser.parse_args(list(argv)))
    config = ControllerSettings(**{k: v for k, v in values.items() if k not in _GC_FLAGS})
    try:
        validate(config)
    except ConfigError as error:
        parser.error(str(error))
    return GcOptions(config, bool(values["apply"]), str(values["output"]))


async def _list_all(kube: KubeClient, resource: Resource) -> list[dict[str, Any]]:
    """Every object of ``resource`` in every namespace (paged): a superset of owners is safe."""
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        query = [("limit", str(_LIST_PAGE))] + ([("continue", token)] if token else [])
        page = await kube.list(resource, None, query=query)
        items.extend(page.get("items") or ())
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items


async def read_owners(kube: KubeClient, config: ControllerSettings) -> LiveOwners:
    # All namespaces even with --watch-namespace: an owner we did not look at would make its
    # stack look leaked, and --apply would delete a live load balancer.
    return live_owners(
        cluster_name=config.cluster_name,
        ingresses=await _list_all(kube, INGRESSES),
        ingress_classes=await _list_all(kube, INGRESS_CLASSES),
        ingress_class_params=await _list_all(kube, INGRESS_CLASS_PARAMS),
        namespaces=await _list_all(kube, NAMESPACES),
        services=await _list_all(kube, SERVICES),
        bindings=await _list_all(kube, TARGET_GROUP_BINDINGS),
        ingress_class=config.ingress_class,
        load_balancer_class=config.load_balancer_class,
    )


async def read_aws(aws: AwsApi, reader: SecurityGroupReader, index: Elbv2Index, vpc_id: str) -> AwsInventory:
    await index.refresh()
    return await read_inventory(
        Ec2(aws),
        reader,
        vpc_id=vpc_id,
        load_balancers=index.all_load_balancers(),
        target_groups=index.all_target_groups(),
    )


async def run_gc(options: GcOptions, *, out: TextIO, err: TextIO) -> int:
    config = options.config

    def leaks(inventory: AwsInventory, owners: LiveOwners) -> LeakReport:
        return find_leaks(
            inventory,
            owners,
            cluster_name=config.cluster_name,
            custom_backend_sg=config.backend_security_group,
        )

    removals: tuple[Removal, ...] | None = None
    try:
        async with (
            await KubeClient.from_environment(kubeconfig=config.kubeconfig or None) as kube,
            # A registry of our own: a one-shot command exports no metrics.
            open_aws_client(aws_settings_from(config), CollectorRegistry()) as aws,
        ):
            vpc_id = await resolve_vpc_id(aws, vpc_id=config.aws_vpc_id, vpc_tags=config.aws_vpc_tags)
            reader = SecurityGroupReader(aws)
            try:
                deployer = StackDeployer(
                    aws,
                    reader,
                    cluster_name=config.cluster_name,
                    vpc_id=vpc_id,
                    external_managed_tags=config.external_managed_tags,
                )
                # AWS first, owners second: whatever a new object's reconcile created while we read
                # AWS has its owner listed by then, so it is never taken for a leak.
                inventory = await read_aws(aws, reader, deployer.elbv2_index, vpc_id)
                report = leaks(inventory, await read_owners(kube, config))
                if options.apply and not report.is_empty:
                    # Owners again just before deleting: a stack re-created since is spared.
                    report = leaks(inventory, await read_owners(kube, config))
                    removals = await remove_leaks(
                        report,
                        deployer=deployer,
                        sg_manager=SecurityGroupManager(aws, reader),
                        rules=SecurityGroupRuleReconciler(aws, reader),
                        ec2=Ec2(aws),
                    )
                elif options.apply:
                    removals = ()
            finally:
                await reader.aclose()
    except (KubeError, AwsApiError, VpcResolutionError, ControllerStartupError) as error:
        err.write(f"aws-lb-sg-controller gc: error: {error}\n")
        return EXIT_ERROR
    if options.output == "json":
        out.write(render_json(report, cluster_name=config.cluster_name, vpc_id=vpc_id, removals=removals))
    else:
        out.write(render_text(report, cluster_name=config.cluster_name, vpc_id=vpc_id))
        if removals is not None:
            out.write(render_removals_text(removals))
    if removals is None:
        return EXIT_CLEAN if report.is_empty else EXIT_LEAKS
    counts = summary(removals)
    if counts[FAILED]:
        return EXIT_ERROR
    return EXIT_LEAKS if counts[BLOCKED] else EXIT_CLEAN


def main(argv: Sequence[str]) -> int:
    try:
        options = parse_gc_args(argv)
    except SystemExit as exit_:
        # --help exits 0; a flag error is an error here (exit 2 means "leaks found").
        return EXIT_CLEAN if exit_.code in (0, None) else EXIT_ERROR
    level = logging.DEBUG if options.config.log_level == "debug" else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    for noisy in ("botocore", "aiobotocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    return asyncio.run(run_gc(options, out=sys.stdout, err=sys.stderr))
