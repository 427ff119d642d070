"""Endpoint SG rules at scale: 1,000 TGBs over 3 node SGs, from empty, then one TGB added.

Starts its own moto server and AWS-like proxy (controller.sandbox) and runs the real stack:
``RuleOwnership`` (contributions, packing) → ``EndpointRuleService`` (enqueue SG ids) → framework
``Controller`` with 3 workers → ``EndpointSGReconciler`` → the SG engine.

Each TGB is an instance-mode NLB needing TCP on its own NodePort (1,000 distinct ports drawn with a
fixed seed from 30000-32767, as Kubernetes allocates them) from the shared backend SG, on all three
node SGs, so every TGB touches every node SG.

* converge: every TGB publishes, then the workers start; the 3,000 (TGB, SG) changes must collapse
  into one pass per SG;
* add one: a 1,001st TGB with a fresh NodePort publishes into the converged state;
* add one in a gap: a 1,002nd TGB whose NodePort lies in the widest gap between the packed ranges,
  so the packing changes on every node SG.

For each phase the proxy's call counts are compared with the minimal possible: the rule writes
AWS cannot do without (one Authorize per SG that misses a rule, one Revoke per SG holding a stale
labelled rule) and one DescribeSecurityGroups for all three SGs (0 if the packed rules did not
change: then there is nothing to read or write).

The baseline shows what per-TGB reconciling (upstream's shape: every TGB reconcile recomputes and
reconciles every endpoint SG) costs with the same engine, measured on the first ``--baseline-tgbs``
TGBs on three other SGs.

Prints one JSON object. Run: ``.venv/bin/python benchmarks/endpoint_rules.py`` (about 30-60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.aws.client import open_aws_client
from controller.aws.settings import AwsSettings, RetrySettings, StaticCredentials
from controller.aws.throttle import ThrottleSettings
from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.packing import extra_ports, pack_ranges, pack_rules
from controller.endpointsg.reconciler import EndpointSGReconciler, EndpointSGRules
from controller.endpointsg.service import EndpointRuleService
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION, seed_vpc
from framework.controller import Controller, ControllerOptions, Result
from framework.workqueue import RateLimitingQueue

NODE_SGS = 3
IDLE_TIMEOUT_SECONDS = 300.0


def _settings(endpoint_url: str) -> AwsSettings:
    return AwsSettings(
        region=SANDBOX_REGION,
        endpoint_url=endpoint_url,
        retry=RetrySettings(max_retries=10, backoff_base=0.01, backoff_cap=0.5),
        throttle=ThrottleSettings(rules=()),
        max_pool_connections=32,
        connect_timeout=5.0,
        read_timeout=60.0,
        attempt_timeout=60.0,
        credentials=StaticCredentials(access_key_id="testing", secret_access_key="testing"),
    )


async def _create_groups(api: AwsApi, vpc_id: str, prefix: str, count: int) -> list[str]:
    ids = []
    for index in range(count):
        response = await api.call(
            "ec2", "CreateSecurityGroup", GroupName=f"{prefix}-{index}", Description="bench", VpcId=vpc_id
        )
        ids.append(str(response["GroupId"]))
    return ids


class CountingReconciler:
    """Counts passes per SG and signals when the queue has gone idle after a pass.

    The worker marks a key done right after ``reconcile`` returns, before the loop runs the next
    callback, so a ``call_soon`` check sees the queue as the worker left it.
    """

    def __init__(self, inner: EndpointSGReconciler) -> None:
        self._inner = inner
        self.passes: Counter[str] = Counter()
        self.queue: RateLimitingQueue[str] | None = None
        self._idle = asyncio.Event()

    async def reconcile(self, key: str) -> Result:
        self.passes[key] += 1
        try:
            return await self._inner.reconcile(key)
        finally:
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        if self.queue is not None and not len(self.queue) and not self.queue.processing_count:
            self._idle.set()

    async def until_idle(self) -> None:
        async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
            await self._idle.wait()
        self._idle.clear()


def _phase(calls: Counter[str], minimal: dict[str, int], seconds: float, passes: int) -> dict[str, Any]:
    relevant = {op: n for op, n in sorted(calls.items())}
    return {
        "calls_by_operation": relevant,
        "minimal_calls_by_operation": minimal,
        "total_calls": sum(relevant.values()),
        "minimal_total_calls": sum(minimal.values()),
        "sg_reconcile_passes": passes,
        "seconds": round(seconds, 3),
    }


def _minimal(
    before: dict[str, frozenset[EndpointRule]], after: dict[str, frozenset[EndpointRule]]
) -> dict[str, int]:
    authorize = sum(1 for sg in after if after[sg] - before.get(sg, frozenset()))
    revoke = sum(1 for sg in after if before.get(sg, frozenset()) - after[sg])
    minimal = {"DescribeSecurityGroups": 1 if authorize or revoke else 0}
    if authorize:
        minimal["AuthorizeSecurityGroupIngress"] = authorize
    if revoke:
        minimal["RevokeSecurityGroupIngress"] = revoke
    return minimal


async def run(tgbs: int, max_ranges: int, baseline_tgbs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    ports = rng.sample(range(30000, 32768), tgbs + 1)
    with MotoServer() as moto:
        async with (
            AwsProxy(moto.url) as proxy,
            open_aws_client(_settings(proxy.url), CollectorRegistry()) as api,
        ):
            vpc = await seed_vpc(api, zones=("a",))
            node_sgs = await _create_groups(api, vpc.vpc_id, "node", NODE_SGS)
            (backend,) = await _create_groups(api, vpc.vpc_id, "backend", 1)
            source = Source.security_group(backend)

            def needs(port: int, sgs: list[str]) -> dict[str, list[EndpointRule]]:
                return {sg: [EndpointRule("tcp", PortRange.single(port), source)] for sg in sgs}

            ownership = RuleOwnership(max_port_ranges_per_source=max_ranges)
            reader = SecurityGroupReader(api)
            rules = EndpointSGRules(ownership, SecurityGroupRuleReconciler(api, reader))
            counting = CountingReconciler(EndpointSGReconciler(rules))
            passes = counting.passes
            controller: Controller[str] = Controller(
                "endpoint-sg-bench",
                counting,
                options=ControllerOptions(max_concurrent_reconciles=3),
            )
            counting.queue = controller.queue
            service = EndpointRuleService(
                ownership,
                controller.queue.add,
                reader=reader,
                vpc_id=vpc.vpc_id,
                cluster_name=vpc.cluster_name,
            )
            keys = [f"ns/tgb-{i}" for i in range(tgbs)]

            # Phase 1: converge from empty.
            proxy.reset_counts()
            started = time.perf_counter()
            service.set_expected_tgbs(keys)
            for key, port in zip(keys, ports, strict=False):
                service.publish(key, needs(port, node_sgs))
            controller.start()
            try:
                await counting.until_idle()
                converge = _phase(
                    proxy.calls_by_operation(),
                    _minimal({}, {sg: ownership.desired_rules(sg) for sg in node_sgs}),
                    time.perf_counter() - started,
                    sum(passes.values()),
                )
                before = {sg: ownership.desired_rules(sg) for sg in node_sgs}

                # Phase 2: one more TGB at that scale.
                passes.clear()
                proxy.reset_counts()
                started = time.perf_counter()
                new_key = f"ns/tgb-{tgbs}"
                service.set_expected_tgbs([*keys, new_key])
                service.publish(new_key, needs(ports[tgbs], node_sgs))
                await counting.until_idle()
                after = {sg: ownership.desired_rules(sg) for sg in node_sgs}
                add_one = _phase(
                    proxy.calls_by_operation(),
                    _minimal(before, after),
                    time.perf_counter() - started,
                    sum(passes.values()),
                )
                add_one["new_port_already_covered"] = before == after

                # Phase 3: one more TGB whose port falls in the widest gap between packed ranges,
                # so the packing changes (the costly case: a range is replaced on every SG).
                passes.clear()
                proxy.reset_counts()
                started = time.perf_counter()
                ranges = sorted(r.ports for r in after[node_sgs[0]])
                gap_start, gap_end = max(
                    ((a.to_port + 1, b.from_port - 1) for a, b in itertools.pairwise(ranges)),
                    key=lambda g: g[1] - g[0],
                )
                gap_key = f"ns/tgb-{tgbs + 1}"
                service.set_expected_tgbs([*keys, new_key, gap_key])
                service.publish(gap_key, needs((gap_start + gap_end) // 2, node_sgs))
                await counting.until_idle()
                repacked = {sg: ownership.desired_rules(sg) for sg in node_sgs}
                add_in_gap = _phase(
                    proxy.calls_by_operation(),
                    _minimal(after, repacked),
                    time.perf_counter() - started,
                    sum(passes.values()),
                )
            finally:
                await controller.stop()
                await reader.aclose()

            needed = [PortRange.single(p) for p in ports[: tgbs + 1]]
            packed = sorted(
                r.ports for r in pack_rules([EndpointRule("tcp", n, source) for n in needed], max_ranges)
            )
            upstream = sorted(
                r.ports for r in pack_rules([EndpointRule("tcp", n, source) for n in needed], 1)
            )

            baseline = await _baseline(
                api, proxy, vpc.vpc_id, vpc.cluster_name, ports[:baseline_tgbs], source, max_ranges
            )

    return {
        "benchmark": "endpoint_rules",
        "tgbs": tgbs,
        "node_sgs": NODE_SGS,
        "max_port_ranges_per_source": max_ranges,
        "converge_from_empty": converge,
        "add_one_tgb": add_one,
        "add_one_tgb_in_a_gap": add_in_gap,
        "rules_per_node_sg": len(packed),
        "ports_opened_beyond_needed": {
            f"R={max_ranges}": extra_ports(needed, packed),
            "R=1 (upstream)": extra_ports(needed, upstream),
        },
        "ports_opened_beyond_needed_fewer_tgbs": {
            str(count): {f"R={r}": _extra_for(ports[:count], r) for r in (1, 2, max_ranges)}
            for count in (5, 20, 100)
        },
        "baseline_reconcile_every_sg_per_tgb": baseline,
    }


def _extra_for(ports: list[int], max_ranges: int) -> int:
    needed = [PortRange.single(p) for p in ports]
    return extra_ports(needed, [PortRange(r.from_port, r.to_port) for r in pack_ranges(needed, max_ranges)])


async def _baseline(
    api: AwsApi, proxy: AwsProxy, vpc_id: str, cluster: str, ports: list[int], source: Source, max_ranges: int
) -> dict[str, Any]:
    """Reconcile every endpoint SG after each TGB publish (no coalescing), on fresh SGs."""
    sgs = await _create_groups(api, vpc_id, "baseline", NODE_SGS)
    ownership = RuleOwnership(max_port_ranges_per_source=max_ranges)
    reader = SecurityGroupReader(api)
    rules = EndpointSGRules(ownership, SecurityGroupRuleReconciler(api, reader))
    keys = [f"ns/base-{i}" for i in range(len(ports))]
    proxy.reset_counts()
    started = time.perf_counter()
    try:
        for index, (key, port) in enumerate(zip(keys, ports, strict=True)):
            # TGBs created one after another: each is known to the cache before it publishes.
            ownership.set_expected_tgbs(keys[: index + 1])
            ownership.publish(key, {sg: [EndpointRule("tcp", PortRange.single(port), source)] for sg in sgs})
            for sg in sgs:
                await rules.reconcile_sg(sg)
    finally:
        await reader.aclose()
    calls = proxy.calls_by_operation()
    return {
        "tgbs": len(ports),
        "calls_by_operation": dict(sorted(calls.items())),
        "total_calls": sum(calls.values()),
        "calls_per_tgb": round(sum(calls.values()) / max(len(ports), 1), 2),
        "seconds": round(time.perf_counter() - started, 3),
        "note": f"cluster {cluster}: same engine, one pass per SG per TGB publish",
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tgbs", type=int, default=1000)
    parser.add_argument("--max-port-ranges-per-source", type=int, default=8)
    parser.add_argument("--baseline-tgbs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.tgbs, args.max_port_ranges_per_source, args.baseline_tgbs, args.seed))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
