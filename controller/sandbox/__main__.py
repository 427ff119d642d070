"""Run the AWS sandbox on its own: ``python -m controller.sandbox [--proxy-port 4566] [--aws-limits]``.

Starts moto and the proxy on 127.0.0.1 (the proxy on ``--host`` if given: docker-compose.yml's
``aws`` service listens on 0.0.0.0 so the other containers reach it; moto stays private), seeds a VPC with ELB-tagged subnets, prints one JSON
line (``endpoint_url``, ``vpc_id``, ``subnet_ids``, ...) and serves until SIGINT/SIGTERM. Point
the controller at it with ``AWS_ENDPOINT_URL=<endpoint_url>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from prometheus_client import CollectorRegistry

from controller.aws.client import open_aws_client
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_CLUSTER, SANDBOX_REGION, seed_vpc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m controller.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address the AWS endpoint listens on")
    parser.add_argument("--proxy-port", type=int, default=0, help="port of the AWS endpoint (0: any free)")
    parser.add_argument("--moto-port", type=int, default=0, help="port of the moto server (0: any free)")
    parser.add_argument("--cluster-name", default=SANDBOX_CLUSTER)
    parser.add_argument(
        "--aws-limits",
        action="store_true",
        help="throttle like AWS's per-API buckets (EC2's documented values; ELBv2: upstream LBC's defaults)",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not create the VPC and subnets")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, moto: MotoServer) -> None:
    async with AwsProxy(moto.url, port=args.proxy_port, host=args.host) as proxy:
        info: dict[str, object] = {"endpoint_url": proxy.url, "moto_url": moto.url, "region": SANDBOX_REGION}
        if not args.no_seed:
            async with open_aws_client(sandbox_settings(proxy.url), CollectorRegistry()) as aws:
                vpc = await seed_vpc(aws, cluster_name=args.cluster_name)
            info.update(vpc_id=vpc.vpc_id, subnet_ids=list(vpc.subnet_ids), cluster_name=vpc.cluster_name)
        if args.aws_limits:
            proxy.use_documented_aws_limits()
        print(json.dumps(info), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with MotoServer(port=args.moto_port or None) as moto:
        moto.warm_up(SANDBOX_REGION)
        asyncio.run(serve(args, moto))


if __name__ == "__main__":
    main()
