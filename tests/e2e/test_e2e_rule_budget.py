"""End to end: the node SG stays within ``--sg-rules-quota`` while 15 NLB Services want more rules.

AWS (the proxy, with the same quota of 10) refuses an authorize past it with
``RulesPerSecurityGroupLimitExceeded``. The controller never sends one:

* 10 Services with NLB security groups need one NodePort each from the backend SG: one source, so
  their ports are packed into what the quota leaves, merging the smallest gaps (a ``PortRangesMerged``
  Warning names the ports that opens);
* 5 Services without NLB security groups (``disable-nlb-sg``) need CIDR rules: from their client range
  and from the NLB subnets for the health check. Not all of them fit: those bindings and their
  Services get a ``FailedNetworkReconcile`` Warning naming the SG, the rules needed and the quota;
* 2 inbound rules somebody else put on the node SG count against the quota too and are never touched;
* a 16th Service asks for 11 source ranges: its managed SG would need 11 rules, so its model is refused
  (``FailedBuildModel`` naming it, the SG, the rules and the quota) before any AWS call.

A poller reads the node SG all along: it never holds more than 10 rules. The proxy's request log shows
no call refused for the limit, and ``awslbc_security_group_rules`` reports the count.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from e2e_harness import StartController, wait_for, wait_for_service_hostname
from e2e_objects import ingress_rules, namespace_events, target_group_bindings

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import SERVICES, KubeClient

QUOTA = 10
NLB_CLASS = "service.k8s.aws/nlb"
INTERNET_FACING = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}
DISABLE_NLB_SG = {"service.beta.kubernetes.io/aws-load-balancer-disable-nlb-sg": "true"}
WITH_SG = [f"sg-svc-{i:02d}" for i in range(10)]
WITHOUT_SG = [f"cidr-svc-{i}" for i in range(5)]
TOO_MANY = "too-many-ranges"


def _service(name: str, annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {**INTERNET_FACING, **annotations}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": NLB_CLASS,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            **spec,
        },
    }


def rules_used(permissions: list[dict[str, Any]]) -> int:
    """Inbound rules as AWS counts them against the quota (IPv4 here: every source entry is one)."""
    return sum(
        len(p.get("IpRanges", [])) + len(p.get("UserIdGroupPairs", [])) + len(p.get("PrefixListIds", []))
        for p in permissions
    )


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()


async def test_fifteen_services_on_a_quota_of_ten_rules(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    aws_proxy.rules_per_security_group = QUOTA
    node_sg = cluster.node_security_group_id
    # Somebody else's rules: they use 2 of the 10 and are never touched.
    foreign = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.99.0.0/16"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.98.0.0/16"}]},
    ]
    await aws_api.call("ec2", "AuthorizeSecurityGroupIngress", GroupId=node_sg, IpPermissions=foreign)

    most_seen = 0
    stop = asyncio.Event()

    async def poll() -> None:
        nonlocal most_seen
        while not stop.is_set():
            most_seen = max(most_seen, rules_used(await ingress_rules(aws_api, node_sg)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    poller = asyncio.create_task(poll())
    try:
        async with start_controller(f"--sg-rules-quota={QUOTA}") as running:
            # A Service whose managed SG would need 11 rules (11 source ranges x 1 port): refused
            # before any AWS call, and nothing else held back by it.
            too_many = _service(TOO_MANY, {}, loadBalancerSourceRanges=[f"10.{i}.0.0/16" for i in range(11)])
            await kube.create(SERVICES, too_many, namespace)
            # First the Services with SGs: their NodePorts from the backend SG fit (R=8 ranges at most).
            node_ports: dict[str, int] = {}
            for name in WITH_SG:
                created = await kube.create(SERVICES, _service(name, {}), namespace)
                node_ports[name] = int(created["spec"]["ports"][0]["nodePort"])

            async def all_sg_ports_open() -> list[dict[str, Any]] | None:
                permissions = await ingress_rules(aws_api, node_sg)
                ranges = [
                    (p["FromPort"], p["ToPort"])
                    for p in permissions
                    for pair in p.get("UserIdGroupPairs", [])
                    if pair.get("Description") == TGB_RULE_DESCRIPTION
                ]
                closed = [n for n, port in node_ports.items() if not any(a <= port <= b for a, b in ranges)]
                assert not closed, f"NodePorts of {closed} not open; ranges {ranges}"
                return permissions

            await wait_for(running, all_sg_ports_open, "every NodePort of the SG Services open", within=120)

            # Then the Services without SGs: their CIDR rules are more than the quota leaves. What is
            # on AWS keeps its place; the backend SG's ranges are merged to make room for as many
            # CIDR rules as fit, and the rest are not applied.
            for index, name in enumerate(WITHOUT_SG):
                body = _service(name, DISABLE_NLB_SG, loadBalancerSourceRanges=[f"10.{index}.0.0/16"])
                await kube.create(SERVICES, body, namespace)
            for name in [*WITH_SG, *WITHOUT_SG]:
                await wait_for_service_hostname(running, kube, namespace, name)

            async def full() -> list[dict[str, Any]] | None:
                permissions = await all_sg_ports_open()
                assert permissions is not None
                return permissions if rules_used(permissions) == QUOTA else None

            permissions = await wait_for(running, full, "the node SG full (and every SG NodePort open)")
            for rule in foreign:  # untouched
                assert any(
                    p["FromPort"] == rule["FromPort"] and p.get("IpRanges") == rule["IpRanges"]
                    for p in permissions
                ), permissions

            # The CIDR rules that did not fit: a Warning on their bindings and Services.
            bindings = {b["metadata"]["name"]: b for b in await target_group_bindings(kube, namespace)}

            async def warned() -> dict[str, list[dict[str, Any]]] | None:
                found: dict[str, list[dict[str, Any]]] = {}
                for event in await namespace_events(kube, namespace):
                    if event.get("type") == "Warning":
                        found.setdefault(str(event.get("reason")), []).append(event)
                wanted = ("FailedNetworkReconcile", "PortRangesMerged", "FailedBuildModel")
                if not all(found.get(reason) for reason in wanted):
                    return None
                unfit_kinds = {e["regarding"]["kind"] for e in found["FailedNetworkReconcile"]}
                if unfit_kinds != {"TargetGroupBinding", "Service"}:
                    return None
                return found

            events = await wait_for(
                running, warned, "FailedNetworkReconcile, PortRangesMerged, FailedBuildModel"
            )
            unfit = events["FailedNetworkReconcile"]
            kinds = {e["regarding"]["kind"] for e in unfit}
            assert kinds == {"TargetGroupBinding", "Service"}, unfit
            warned_services = {e["regarding"]["name"] for e in unfit if e["regarding"]["kind"] == "Service"}
            assert warned_services and warned_services <= set(WITHOUT_SG), warned_services
            assert {
                e["regarding"]["name"] for e in unfit if e["regarding"]["kind"] == "TargetGroupBinding"
            } <= set(bindings)
            note = unfit[0]["note"]
            assert f"security group {node_sg} would need " in note, note
            assert f"more than the quota of {QUOTA} (--sg-rules-quota; 2 used by rules" in note, note
            assert "not applied: tcp " in note, note
            (refused_build,) = [
                e for e in events.get("FailedBuildModel", []) if e["regarding"]["name"] == TOO_MANY
            ]
            assert refused_build["note"].startswith(
                f"Failed build model due to Service {namespace}/{TOO_MANY}: managed security group "
            ), refused_build["note"]
            assert "would need 11 inbound rules" in refused_build["note"]
            assert f"more than the quota of {QUOTA} (--sg-rules-quota)" in refused_build["note"]
            live = await kube.get(SERVICES, TOO_MANY, namespace)
            assert not (live.get("status") or {}).get("loadBalancer", {}).get("ingress"), live["status"]
            merged = events["PortRangesMerged"][0]["note"]
            assert f"security group {node_sg}: to stay within the quota of {QUOTA} inbound rules" in merged
            assert "(also opens " in merged, merged

            # The controller says what it sees.
            async def exported() -> str | None:
                text = await scrape(running.metrics_port)
                wanted = f'awslbc_security_group_rules{{security_group_id="{node_sg}"}} {float(QUOTA)}'
                return text if wanted in text else None

            text = await wait_for(running, exported, "awslbc_security_group_rules of the node SG")
            assert f"awslbc_security_group_rules_quota {float(QUOTA)}" in text
            over = next(
                line
                for line in text.splitlines()
                if line.startswith(f'awslbc_security_group_rules_over_quota{{security_group_id="{node_sg}"}}')
            )
            assert float(over.rsplit(" ", 1)[1]) > 0, over
            log_tail = running.log()
    finally:
        stop.set()
        await poller

    assert most_seen <= QUOTA, f"the node SG held {most_seen} rules at some point, quota {QUOTA}"
    refused = [
        (r.operation, r.outcome) for r in aws_proxy.request_log if r.outcome == "limit" or r.status == 400
    ]
    assert refused == [], f"calls AWS refused: {refused}\n{log_tail[-4000:]}"
