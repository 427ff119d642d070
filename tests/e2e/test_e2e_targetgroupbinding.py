"""End to end: the controller process opens exactly the ports a TargetGroupBinding needs.

Reference scenarios 36 (instance NodePort rule from the source SG, labelled), 37 (two bindings
from one source SG: our packing keeps both ports without opening the gap between them) and 46
(deleting one binding revokes only what no other binding needs), plus clean deletion: nothing of
ours is left on the node security group, and the finalizer lets the object go. A binding whose
source SG does not exist (the shipped sample) only has its own rules held back.
"""

from __future__ import annotations

from typing import Any

from e2e_harness import (
    StartController,
    controller_log_on_failure,
    delete_and_wait_gone,
    delete_ingresses_and_wait,
    eventually,
    wait_for,
    wait_for_load_balancer,
    wait_for_nothing_of_ours_left,
)
from e2e_objects import (
    NodeRule,
    create_node_port_service,
    create_target_group,
    describe_security_group,
    ingress_manifest,
    ingress_rules,
    labelled_node_rules,
    namespace_events,
    registered_targets,
    security_groups_named,
    target_group_binding_manifest,
)

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION, backend_sg_name
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import INGRESSES, KubeApiError, KubeClient


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
        # (Neighbouring NodePorts, allocated at random, are one range.)
        low, high = sorted((port_a, port_b))
        expected = {(low, high)} if high == low + 1 else {(port_a, port_a), (port_b, port_b)}

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


MISSING_SOURCE_SG = "sg-0123456789abcdef0"
"""A source SG that exists nowhere (as the sample binding's did before ``make run`` created it)."""


async def _reasons_on(kube: KubeClient, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    return {
        event["reason"]: event
        for event in await namespace_events(kube, namespace)
        if event["regarding"]["name"] == name
    }


async def test_a_binding_with_a_missing_source_sg_never_stops_the_node_sg_from_converging(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """A binding like the sample's naming a source SG that does not exist (a user's typo), next to
    the echo Ingress on the same node SG. AWS refuses any authorize naming it
    with InvalidGroup.NotFound; that must not be taken for a vanished node SG (which would forget every
    binding's rules there and leak them on deletion, and keep the backend SG from being deleted)."""
    vpc_id, node_sg = cluster.vpc.vpc_id, cluster.node_security_group_id
    node_port = await create_node_port_service(kube, namespace, "echo")
    tg_sample = await create_target_group(aws_api, vpc_id, "tg-sample")
    tg_extra = await create_target_group(aws_api, vpc_id, "tg-extra")
    extra_sg = await _source_sg(aws_api, vpc_id)
    extra_port = 31999 if node_port != 31999 else 31998
    bindings = TARGET_GROUP_BINDINGS.collection_path(namespace)
    sample = target_group_binding_manifest("echo-tgb", "echo", tg_sample, MISSING_SOURCE_SG, [])

    async with start_controller() as running:
        await kube.request("POST", bindings, body=sample)
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")
        [backend] = await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster.vpc.cluster_name))
        backend_sg = str(backend["GroupId"])
        ingress_rule = (backend_sg, "tcp", node_port, node_port)

        async def node_rules_are(expected: set[NodeRule]) -> bool | None:
            actual = await labelled_node_rules(aws_api, node_sg)
            assert actual == expected, f"labelled node SG rules {sorted(actual)}, want {sorted(expected)}"
            return True

        await wait_for(running, lambda: node_rules_are({ingress_rule}), "the Ingress's NodePort rule")

        async def warned() -> dict[str, Any] | None:
            return (await _reasons_on(kube, namespace, "echo-tgb")).get("FailedNetworkReconcile")

        warning = await wait_for(running, warned, "FailedNetworkReconcile on the sample binding")
        assert warning["type"] == "Warning" and MISSING_SOURCE_SG in warning["note"], warning
        assert "securityGroup.groupID" in warning["note"], warning

        # The node SG is still looked after: a binding added now gets its rule, and loses it on deletion.
        await kube.request(
            "POST",
            bindings,
            body=target_group_binding_manifest("extra", "echo", tg_extra, extra_sg, [extra_port]),
        )
        extra_rule = (extra_sg, "tcp", extra_port, extra_port)
        await wait_for(
            running, lambda: node_rules_are({ingress_rule, extra_rule}), "the extra binding's rule"
        )
        with controller_log_on_failure(running):
            await delete_and_wait_gone(kube, TARGET_GROUP_BINDINGS, namespace, ["extra"])
        await wait_for(running, lambda: node_rules_are({ingress_rule}), "the extra binding's rule revoked")

        # Deleting the sample and the Ingress leaves nothing: no leaked rule, and the backend SG goes.
        with controller_log_on_failure(running):
            await delete_and_wait_gone(kube, TARGET_GROUP_BINDINGS, namespace, ["echo-tgb"])
        await delete_ingresses_and_wait(running, kube, namespace, "echo")
        await wait_for(running, lambda: node_rules_are(set()), "no labelled rule left on the node SG")

        async def backend_deleted() -> bool | None:
            return True if await describe_security_group(aws_api, backend_sg) is None else None

        await wait_for(running, backend_deleted, "the backend SG deleted", within=90)
        reasons = await _reasons_on(kube, namespace, "echo-tgb")
        assert "SuccessfullyReconciled" not in reasons, reasons["SuccessfullyReconciled"]
        for arn in (tg_sample, tg_extra):
            await aws_api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=arn)
        await wait_for_nothing_of_ours_left(
            running, aws_api, cluster, what="nothing of ours left", count_cidr_sources=True
        )

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_unrestricted_mode_keeps_every_distinct_rule_as_upstream(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """``--disable-restricted-sg-rules``: upstream adds each distinct rule a binding asks for, without
    merging ranges: the Ingress's all-TCP rule and a binding's port from the same backend SG are two
    rules, and adjacent ports from one source stay apart."""
    vpc_id, node_sg = cluster.vpc.vpc_id, cluster.node_security_group_id
    await create_node_port_service(kube, namespace, "echo")
    tg_backend = await create_target_group(aws_api, vpc_id, "tg-backend")
    tg_extra = await create_target_group(aws_api, vpc_id, "tg-extra")
    extra_sg = await _source_sg(aws_api, vpc_id)
    bindings = TARGET_GROUP_BINDINGS.collection_path(namespace)

    async with start_controller("--disable-restricted-sg-rules") as running:
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")
        [backend] = await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster.vpc.cluster_name))
        backend_sg = str(backend["GroupId"])
        await kube.request(
            "POST",
            bindings,
            body=target_group_binding_manifest("from-backend", "echo", tg_backend, backend_sg, [8443]),
        )
        await kube.request(
            "POST",
            bindings,
            body=target_group_binding_manifest("from-extra", "echo", tg_extra, extra_sg, [31000, 31001]),
        )
        expected: set[NodeRule] = {
            (backend_sg, "tcp", 0, 65535),
            (backend_sg, "tcp", 8443, 8443),
            (extra_sg, "tcp", 31000, 31000),
            (extra_sg, "tcp", 31001, 31001),
        }

        async def unmerged() -> bool | None:
            actual = await labelled_node_rules(aws_api, node_sg)
            assert actual == expected, f"labelled node SG rules {sorted(actual)}, want {sorted(expected)}"
            return True

        await wait_for(running, unmerged, "every distinct rule, unmerged")
        with controller_log_on_failure(running):
            await delete_and_wait_gone(kube, TARGET_GROUP_BINDINGS, namespace, ["from-backend", "from-extra"])
        await delete_ingresses_and_wait(running, kube, namespace, "echo")

        async def nothing_left() -> bool | None:
            actual = await labelled_node_rules(aws_api, node_sg)
            assert actual == set(), f"labelled node SG rules left: {sorted(actual)}"
            return True

        await wait_for(running, nothing_left, "no labelled rule left on the node SG")

    assert running.process.returncode == 0, running.log()[-4000:]
