"""SG rule reconcile at scale: 500 SGs reconciled to 5 rules each, from empty and then unchanged.

Starts its own moto server and AWS-like proxy (controller.sandbox), then runs two passes of the real
engine (``SecurityGroupReader`` + ``SecurityGroupRuleReconciler``), 500 reconciles concurrently:

* first pass: every SG is empty; each needs one AuthorizeSecurityGroupIngress with its 5 rules;
* second pass: nothing changed; the reconciles read fresh (cache bypassed) so the check is honest,
  and the 500 fresh reads must coalesce into ceil(500 / 200) DescribeSecurityGroups calls.

For scale, the same minimal call set is timed without the engine, on a second set of 500 SGs, with
the same client: chunked describes + one authorize per SG (first pass), chunked describes only
(second pass). ``ratio_to_minimal`` = engine seconds / minimal seconds; close to 1 means the engine
adds little beyond the AWS calls it cannot avoid.

Prints one JSON object. Run: ``.venv/bin/python benchmarks/sg_reconcile.py`` (about 30-60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.settings import AwsSettings, RetrySettings, StaticCredentials
from controller.aws.throttle import ThrottleSettings
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, Rule, group_rules
from controller.networking.sg_reader import DEFAULT_CHUNK_SIZE, SecurityGroupReader
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION, seed_vpc

MUTATING_PREFIXES = ("Authorize", "Revoke", "Create", "Delete", "Modify")

DESIRED_RULES = (
    Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0")),
    Rule.of("tcp", 80, 80, Ipv6CidrSource("::/0")),
    Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0")),
    Rule.of("tcp", 443, 443, Ipv6CidrSource("::/0")),
    Rule.of("udp", 53, 53, Ipv4CidrSource("10.0.0.0/8")),
)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + DEFAULT_CHUNK_SIZE] for i in range(0, len(ids), DEFAULT_CHUNK_SIZE)]


async def _create_groups(api: AwsApi, vpc_id: str, prefix: str, count: int) -> list[str]:
    # One at a time: moto's CreateSecurityGroup is not thread-safe (concurrent creates can answer
    # HTTP 500), and set-up time is not what this benchmark measures.
    ids: list[str] = []
    for index in range(count):
        response = await api.call(
            "ec2", "CreateSecurityGroup", GroupName=f"{prefix}-{index}", Description="bench", VpcId=vpc_id
        )
        ids.append(str(response["GroupId"]))
    return ids


async def _measure(proxy: AwsProxy, run: Callable[[], Awaitable[object]]) -> tuple[float, Counter[str]]:
    proxy.reset_counts()
    started = time.perf_counter()
    await run()
    seconds = time.perf_counter() - started
    return seconds, proxy.calls_by_operation()


def _pass_report(seconds: float, calls: Counter[str], minimal_seconds: float) -> dict[str, Any]:
    return {
        "mutating_calls": sum(n for op, n in calls.items() if op.startswith(MUTATING_PREFIXES)),
        "describe_calls": sum(n for op, n in calls.items() if op.startswith("Describe")),
        "calls_by_operation": dict(sorted(calls.items())),
        "seconds": round(seconds, 3),
        "minimal_seconds": round(minimal_seconds, 3),
        "ratio_to_minimal": round(seconds / minimal_seconds, 3),
    }


async def run(count: int) -> dict[str, Any]:
    with MotoServer() as moto:
        moto.warm_up(SANDBOX_REGION)
        async with AwsProxy(moto.url) as proxy:
            settings = AwsSettings(
                region=SANDBOX_REGION,
                endpoint_url=proxy.url,
                retry=RetrySettings(max_retries=10, backoff_base=0.01, backoff_cap=0.5),
                throttle=ThrottleSettings(rules=()),
                max_pool_connections=32,
                credentials=StaticCredentials("testing", "testing"),
            )
            async with open_aws_client(settings, CollectorRegistry()) as api:
                vpc = await seed_vpc(api)
                engine_ids = await _create_groups(api, vpc.vpc_id, "engine", count)
                minimal_ids = await _create_groups(api, vpc.vpc_id, "minimal", count)
                permissions = [p.to_aws() for p in group_rules(DESIRED_RULES)]

                async def describe_all(ids: list[str]) -> None:
                    await asyncio.gather(
                        *(
                            api.paginate(
                                "ec2",
                                "DescribeSecurityGroups",
                                "SecurityGroups",
                                Filters=[{"Name": "group-id", "Values": chunk}],
                            )
                            for chunk in _chunks(ids)
                        )
                    )

                async def minimal_first_pass() -> None:
                    await describe_all(minimal_ids)
                    await asyncio.gather(
                        *(
                            api.call(
                                "ec2", "AuthorizeSecurityGroupIngress", GroupId=gid, IpPermissions=permissions
                            )
                            for gid in minimal_ids
                        )
                    )

                async def minimal_second_pass() -> None:
                    await describe_all(minimal_ids)

                reader = SecurityGroupReader(api)
                reconciler = SecurityGroupRuleReconciler(api, reader)
                try:

                    async def engine_pass(fresh: bool) -> None:
                        await asyncio.gather(
                            *(
                                reconciler.reconcile(gid, DESIRED_RULES, fresh_read=fresh)
                                for gid in engine_ids
                            )
                        )

                    minimal_1, _ = await _measure(proxy, minimal_first_pass)
                    engine_1, calls_1 = await _measure(proxy, lambda: engine_pass(fresh=False))
                    minimal_2, _ = await _measure(proxy, minimal_second_pass)
                    engine_2, calls_2 = await _measure(proxy, lambda: engine_pass(fresh=True))
                    rules_in_place = all(
                        set(info.ingress) == set(DESIRED_RULES)
                        for info in (await reader.get_many(engine_ids, fresh=True)).values()
                    )
                finally:
                    await reader.aclose()

    first = _pass_report(engine_1, calls_1, minimal_1)
    second = _pass_report(engine_2, calls_2, minimal_2)
    describe_budget = math.ceil(count / DEFAULT_CHUNK_SIZE)
    return {
        "benchmark": "sg_reconcile",
        "security_groups": count,
        "rules_per_sg": len(DESIRED_RULES),
        "first_pass": first,
        "second_pass": second,
        "checks": {
            "rules_in_place": rules_in_place,
            "first_pass_one_authorize_per_sg": calls_1["AuthorizeSecurityGroupIngress"] == count,
            "first_pass_describes_within_budget": first["describe_calls"] <= describe_budget,
            "second_pass_no_mutating_call": second["mutating_calls"] == 0,
            "second_pass_describes_within_budget": second["describe_calls"] <= describe_budget,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--security-groups", type=int, default=500)
    args = parser.parse_args()
    result = asyncio.run(run(args.security_groups))
    print(json.dumps(result))
    if not all(result["checks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
