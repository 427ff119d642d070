"""End to end: the controller process opens exactly the ports a TargetGroupBinding needs.

Reference scenarios 36 (instance NodePort rule from the source SG, labelled), 37 (two bindings
from one source SG: our packing keeps both ports without opening the gap between them) and 46
(deleting one binding revokes only what no other binding needs), plus clean deletion: nothing of
ours is left on the node security group, and the finalizer lets the object go.
"""

from __future__ import annotations

from typing import Any

from conftest import StartController
from e2e_harness import eventually
from e2e_objects import (
    create_node_port_service,
    create_target_group,
    ingress_rules,
    registered_targets,
    target_group_binding_manifest,
)

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import KubeApiError, KubeClient


async def _source_sg(aws: AwsClient, vpc_id: str) -> str:
    created = await aws.call(
        "ec2", "CreateSecurityGroup", GroupName="lb-frontend", Description="load balancer", VpcId=vpc_id
    )
    return str(created["GroupId"])


def _labelled_ranges(permissions: list[dict[str, Any]], source_sg: str) -> set[tuple[int, int]]:
    ranges = set()
    for permission in permissions:
        for pair in permission.get("UserIdGroupPairs", []):
            if pair.get("GroupId") == source_sg and pair.get("Description") == TGB_RULE_DESCRIPTION:
                ranges.add((int(permission["FromPort"]), int(permission["ToPort"])))
    return ranges


async def test_bindings_open_needed_node_ports_and_clean_up_on_delete(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    source_sg = await _source_sg(aws_api, cluster.vpc.vpc_id)
    manual = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ops"}],
    }
    await aws_api.call(
        "ec2", "AuthorizeSecurityGroupIngress", GroupId=cluster.node_security_group_id, IpPermissions=[manual]
    )
    tg_a = await create_target_group(aws_api, cluster.vpc.vpc_id, "tg-a")
    tg_b = await create_target_group(aws_api, cluster.vpc.vpc_id, "tg-b")
    port_a = await create_node_port_service(kube, namespace, "svc-a")
    port_b = await create_node_port_service(kube, namespace, "svc-b")
    bindings = TARGET_GROUP_BINDINGS.collection_path(namespace)

    async with start_controller() as running:
        await kube.request(
            "POST", bindings, body=target_group_binding_manifest("tgb-a", "svc-a", tg_a, source_sg, [port_a])
        )
        await kube.request(
            "POST", bindings, body=target_group_binding_manifest("tgb-b", "svc-b", tg_b, source_sg, [port_b])
        )

        # Scenario 36/37: each NodePort from the source SG, labelled; with the default budget of 8
        # ranges per source the two ports stay separate rules instead of one min-max range.
        expected = {(port_a, port_a), (port_b, port_b)}

        async def both_ports_open() -> bool | None:
            rules = await ingress_rules(aws_api, cluster.node_security_group_id)
            return True if _labelled_ranges(rules, source_sg) == expected else None

        await eventually(both_ports_open, what=f"node SG rules {expected}")
        nodes = {(node.instance_id, port_a) for node in cluster.nodes}

        async def targets_registered() -> bool | None:
            return True if await registered_targets(aws_api, tg_a) == nodes else None

        await eventually(targets_registered, what="node targets registered on the NodePort")

        # Scenario 46: deleting one binding revokes only its port; the other stays.
        await kube.request("DELETE", TARGET_GROUP_BINDINGS.object_path("tgb-a", namespace))

        async def only_b_left() -> bool | None:
            rules = await ingress_rules(aws_api, cluster.node_security_group_id)
            return True if _labelled_ranges(rules, source_sg) == {(port_b, port_b)} else None

        await eventually(only_b_left, what="tgb-a's port revoked, tgb-b's kept")

        async def binding_gone() -> bool | None:
            try:
                await kube.request("GET", TARGET_GROUP_BINDINGS.object_path("tgb-a", namespace))
            except KubeApiError as error:
                return True if error.status == 404 else None
            return None

        await eventually(binding_gone, what="tgb-a's finalizer removed")
        assert await registered_targets(aws_api, tg_a) == set()

        await kube.request("DELETE", TARGET_GROUP_BINDINGS.object_path("tgb-b", namespace))

        async def nothing_of_ours_left() -> bool | None:
            rules = await ingress_rules(aws_api, cluster.node_security_group_id)
            ours = [
                pair
                for permission in rules
                for pair in [*permission.get("UserIdGroupPairs", []), *permission.get("IpRanges", [])]
                if pair.get("Description") == TGB_RULE_DESCRIPTION
            ]
            return True if not ours else None

        await eventually(nothing_of_ours_left, what="no labelled rule left on the node SG")

    assert running.process.returncode == 0, running.log()[-4000:]
    # The manual rule (scenario 44) was never touched.
    rules = await ingress_rules(aws_api, cluster.node_security_group_id)
    assert any(
        r.get("FromPort") == 443 and r.get("IpRanges", [{}])[0].get("Description") == "ops" for r in rules
    ), rules
