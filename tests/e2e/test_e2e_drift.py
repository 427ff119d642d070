"""End to end: every ``--sync-period`` re-verifies every stack and endpoint SG against AWS.

With a short sync period, an ALB Ingress and an NLB Service (instance targets, so the node SG gets
labelled rules) converge; then:

* a resync of the converged fleet reads (the stacks' listeners, the tracked SGs) and writes
  nothing: 0 mutating AWS calls, counted at the proxy over two periods;
* drift planted by hand in three places is repaired by the next period: the labelled rules revoked
  from the node SG (the endpoint-SG re-check reads around the SG cache), the rules revoked from the
  Ingress's managed SG, and the ALB's listener deleted (both by the Ingress group's resync).
"""

from __future__ import annotations

import asyncio
from typing import Any

from e2e_harness import StartController, wait_for, wait_for_load_balancer, wait_for_service_hostname
from e2e_objects import (
    cidr_rules,
    create_node_port_service,
    ingress_manifest,
    ingress_rules,
    labelled_node_rules,
    mutating_operations,
    nlb_service_manifest,
    security_groups_named,
)

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION, managed_sg_name_for_implicit_ingress
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, SERVICES, KubeClient

SYNC_PERIOD = 5.0
QUIET_WINDOW = 2 * SYNC_PERIOD + 1.0
"""Long enough for every stack and the endpoint SGs to be re-checked at least once."""
REPAIR_WITHIN = SYNC_PERIOD + 20.0
"""The next period starts within ``SYNC_PERIOD``; the rest is the repairing reconciles' own time."""


async def _listener_ports(aws: AwsClient, lb_arn: str) -> dict[int, str]:
    described = await aws.call("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn)
    return {int(listener["Port"]): str(listener["ListenerArn"]) for listener in described["Listeners"]}


async def _wait_until_a_resync_writes_nothing(running: Any, aws_proxy: AwsProxy) -> None:
    """Until a window of two periods re-read both stacks and the SGs and wrote nothing.

    Converging (targets registering, bindings publishing) may still write at first; a resync that
    always writes never gets a quiet window and fails here.
    """

    async def quiet_window() -> bool | None:
        aws_proxy.reset_counts()
        await asyncio.sleep(QUIET_WINDOW)
        calls = aws_proxy.calls_by_operation()
        writes = mutating_operations(aws_proxy)
        # Both stacks were reconciled again (their listeners re-read), and the endpoint SGs re-read.
        resynced = calls["DescribeListeners"] >= 2 and calls["DescribeSecurityGroups"] >= 1
        return True if resynced and not writes else None

    await wait_for(running, quiet_window, "a resync of the converged fleet with 0 mutating calls", within=120)


async def test_every_sync_period_repairs_drift_and_a_converged_resync_writes_nothing(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    node_sg = cluster.node_security_group_id
    await create_node_port_service(kube, namespace, "echo")
    async with start_controller(f"--sync-period={SYNC_PERIOD:g}s") as running:
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        await kube.create(SERVICES, nlb_service_manifest("nlb"), namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")
        await wait_for_service_hostname(running, kube, namespace, "nlb")

        await _wait_until_a_resync_writes_nothing(running, aws_proxy)

        # Converged: remember what the repairs must bring back.
        node_rules = await labelled_node_rules(aws_api, node_sg)
        assert node_rules, "instance targets need labelled node rules"
        [managed_sg] = await security_groups_named(
            aws_api,
            cluster.vpc.vpc_id,
            managed_sg_name_for_implicit_ingress(cluster.vpc.cluster_name, namespace, "echo"),
        )
        managed_sg_id = str(managed_sg["GroupId"])
        managed_rules = cidr_rules(await ingress_rules(aws_api, managed_sg_id))
        assert managed_rules, "the managed SG opens the listener port"
        listeners = await _listener_ports(aws_api, balancer["LoadBalancerArn"])
        assert list(listeners) == [80], listeners

        # Drift, by hand: our labelled node rules revoked, the managed SG emptied, the listener gone.
        labelled = [
            {**permission, "UserIdGroupPairs": pairs}
            for permission in await ingress_rules(aws_api, node_sg)
            if (
                pairs := [
                    p
                    for p in permission.get("UserIdGroupPairs", [])
                    if p.get("Description") == TGB_RULE_DESCRIPTION
                ]
            )
        ]
        for permission in labelled:
            permission.pop("IpRanges", None)
            permission.pop("Ipv6Ranges", None)
            permission.pop("PrefixListIds", None)
        await aws_api.call("ec2", "RevokeSecurityGroupIngress", GroupId=node_sg, IpPermissions=labelled)
        await aws_api.call(
            "ec2",
            "RevokeSecurityGroupIngress",
            GroupId=managed_sg_id,
            IpPermissions=await ingress_rules(aws_api, managed_sg_id),
        )
        await aws_api.call("elbv2", "DeleteListener", ListenerArn=listeners[80])
        assert await labelled_node_rules(aws_api, node_sg) == set()
        assert cidr_rules(await ingress_rules(aws_api, managed_sg_id)) == set()

        async def repaired() -> bool | None:
            restored = (
                await labelled_node_rules(aws_api, node_sg) == node_rules,
                cidr_rules(await ingress_rules(aws_api, managed_sg_id)) == managed_rules,
                list(await _listener_ports(aws_api, balancer["LoadBalancerArn"])) == [80],
            )
            return True if all(restored) else None

        await wait_for(
            running, repaired, "all three drifts repaired by the next sync period", within=REPAIR_WITHIN
        )
        repairs = sorted(mutating_operations(aws_proxy))
        assert repairs.count("CreateListener") == 1, repairs
        assert repairs.count("AuthorizeSecurityGroupIngress") == 2, repairs
