"""End to end: what registering and deregistering targets costs in AWS calls, counted at the proxy.

* a user's own target group bound by a TargetGroupBinding costs one DescribeTargetHealth and one
  RegisterTargets (the write of our finalizer starts no second pass); the target group our deploy
  creates for the Ingress costs one RegisterTargets and no DescribeTargetHealth (it is new, so empty);
* deleting the user's TargetGroupBinding deregisters its targets (its target group stays);
* deleting the Ingress deletes its target group with the targets still registered (design.md
  Difference 16): no DescribeTargetHealth or DeregisterTargets comes before the DeleteTargetGroup.

The test itself calls AWS only outside the counted windows.
"""

from __future__ import annotations

import asyncio
from typing import Any

from e2e_harness import (
    StartController,
    delete_and_wait_gone,
    delete_ingresses_and_wait,
    wait_for,
    wait_for_nothing_of_ours_left,
)
from e2e_objects import (
    create_node_port_service,
    create_target_group,
    ingress_manifest,
    registered_targets,
    target_group_bindings,
)

from controller.aws.client import AwsClient
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import INGRESSES, KubeClient

SETTLE_SECONDS = 2.0
"""Long enough for a second reconcile of a new binding to show in the counts, if one ran."""


def _user_binding(tg_arn: str) -> dict[str, Any]:
    return {
        "apiVersion": TARGET_GROUP_BINDINGS.api_version,
        "kind": TARGET_GROUP_BINDINGS.kind,
        "metadata": {"name": "mine"},
        "spec": {
            "targetGroupARN": tg_arn,
            "targetType": "instance",
            "serviceRef": {"name": "echo", "port": 80},
        },
    }


async def test_new_target_groups_cost_at_most_one_describe_and_a_deleted_stack_deregisters_nothing(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    await create_node_port_service(kube, namespace, "echo")
    user_tg = await create_target_group(aws_api, cluster.vpc.vpc_id, "mine")
    async with start_controller() as running:
        aws_proxy.reset_counts()
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        await kube.create(TARGET_GROUP_BINDINGS, _user_binding(user_tg), namespace)

        async def both_bound() -> list[dict[str, Any]] | None:
            bindings = await target_group_bindings(kube, namespace)
            observed = [b for b in bindings if b.get("status", {}).get("observedGeneration")]
            registered = aws_proxy.calls_by_operation()["RegisterTargets"]
            return observed if len(observed) == 2 and registered >= 2 else None

        bindings = await wait_for(running, both_bound, "both bindings registered", within=90)
        await asyncio.sleep(SETTLE_SECONDS)
        calls = aws_proxy.calls_by_operation()
        assert (calls["DescribeTargetHealth"], calls["RegisterTargets"]) == (1, 2), calls
        described = [r.params for r in aws_proxy.request_log if r.operation == "DescribeTargetHealth"]
        assert [p["TargetGroupArn"] for p in described] == [user_tg], described
        [stack_tg] = [b["spec"]["targetGroupARN"] for b in bindings if b["metadata"]["name"] != "mine"]
        nodes = len(cluster.nodes)
        assert len(await registered_targets(aws_api, stack_tg)) == nodes
        assert len(await registered_targets(aws_api, user_tg)) == nodes

        # A user's binding: its target group stays, so its targets are deregistered.
        aws_proxy.reset_counts()
        await delete_and_wait_gone(kube, TARGET_GROUP_BINDINGS, namespace, ["mine"])
        calls = aws_proxy.calls_by_operation()
        assert (calls["DescribeTargetHealth"], calls["DeregisterTargets"]) == (1, 1), calls
        assert await registered_targets(aws_api, user_tg) == set()

        # The Ingress's stack: its target group goes, registered targets and all.
        aws_proxy.reset_counts()
        await delete_ingresses_and_wait(running, kube, namespace, "echo")
        log = [(r.operation, r.outcome) for r in aws_proxy.request_log]
        assert ("DeleteTargetGroup", "forwarded") in log, log
        before_delete = log[: log.index(("DeleteTargetGroup", "forwarded"))]
        assert [op for op, _ in before_delete if op.endswith("TargetHealth")] == [], log
        assert aws_proxy.calls_by_operation()["DeregisterTargets"] == 0, log
        await aws_api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=user_tg)
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="no LB, TG or SG of ours left", count_cidr_sources=False
        )

    assert running.process.returncode == 0, running.log()[-4000:]
