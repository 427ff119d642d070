"""``aws-lb-sg-controller plan``: print every change the controller would make, change nothing.

Takes every controller flag (``--cluster-name``, ``--aws-vpc-id``, ``--kubeconfig``, the feature
flags that shape the models) plus ``-f FILE|DIR|-`` (repeatable) and ``-o text|json``. Exit code 0:
nothing would change; 2: something would; 1: an error (bad flags, an unreadable manifest, the
cluster or AWS failing a read), so that a CI step can gate on it.

Only ``Describe*`` AWS operations and Kubernetes LISTs are sent (see ``controller.plan.dry_run``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Final

from prometheus_client import CollectorRegistry

from controller.aws.client import open_aws_client
from controller.aws.errors import AwsApiError
from controller.config import ControllerSettings, parse_config
from controller.plan.changes import build_plan
from controller.plan.cluster_view import ManifestError, load_manifests, read_cluster
from controller.plan.planner import Planner
from controller.plan.render import render_human, render_json
from controller.startup import aws_settings_from
from controller.vpc import VpcResolutionError, resolve_vpc_id
from framework.kube import KubeClient, KubeError

EXIT_NO_CHANGES: Final = 0
EXIT_ERROR: Final = 1
EXIT_CHANGES: Final = 2

_log = logging.getLogger("controller.plan")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aws-lb-sg-controller plan",
        description=(
            "Print every change the controller would make to AWS (security groups, rules, tags, load "
            "balancers, listeners, target groups, SG attachments) without changing anything. Every "
            "controller flag is accepted (see aws-lb-sg-controller --help). Exit code: 0 no changes, "
            "2 changes, 1 error."
        ),
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="FILE|DIR|-",
        help="manifests layered over the cluster's objects as kubectl apply would (repeatable)",
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    return parser


def main(argv: Sequence[str]) -> int:
    try:
        args, rest = _parser().parse_known_args(list(argv))
        config = parse_config(rest)
    except SystemExit as exit_:
        # argparse exits 2 on a bad flag, but 2 is "changes" here: a flag error is an error.
        return EXIT_NO_CHANGES if exit_.code in (0, None) else EXIT_ERROR
    # The deployers log what they do at info level; in a plan nothing is done, so only warnings show.
    level = logging.DEBUG if config.log_level == "debug" else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("botocore", "aiobotocore", "urllib3", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        text = asyncio.run(_plan(config, filenames=args.filename, output=args.output))
    except (ManifestError, KubeError, AwsApiError, VpcResolutionError) as error:
        print(f"plan failed: {error}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(text[1])
    return EXIT_CHANGES if text[0] else EXIT_NO_CHANGES


async def _plan(config: ControllerSettings, *, filenames: Sequence[str], output: str) -> tuple[bool, str]:
    """(whether anything would change, the rendered plan)."""
    manifests = load_manifests(filenames)
    async with await KubeClient.from_environment(kubeconfig=config.kubeconfig or None) as kube:
        view = (await read_cluster(kube, config.watch_namespace or None)).layered(manifests)
    async with open_aws_client(aws_settings_from(config), CollectorRegistry()) as aws:
        vpc_id = await resolve_vpc_id(aws, vpc_id=config.aws_vpc_id, vpc_tags=config.aws_vpc_tags)
        outcome = await Planner(config, aws, vpc_id=vpc_id).plan(view)
    plan = build_plan(outcome)
    render = render_json if output == "json" else render_human
    return plan.has_changes, render(plan, cluster_name=config.cluster_name, vpc_id=vpc_id)
