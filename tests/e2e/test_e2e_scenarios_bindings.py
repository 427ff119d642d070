"""End to end: user TargetGroupBindings and the endpoint SGs that receive their rules.

Upstream scenarios (upstream-behaviour §4, §10) and design.md Differences:

* 49 / design.md Difference 7  a rule with ``ports: []`` opens tcp 0-65535 from its source SG (upstream opens
                 nothing, bug #4907);
* 45 / design.md Difference 2  restart: with bindings A and B, A drops a port while no controller runs; the new
                 process converges to exactly the union, and B's rule is never revoked nor absent
                 at any time during start-up (polled throughout);
* 41, 42, 43     which SG of a pod's ENI gets the rules: the one cluster-tagged SG next to an
                 untagged one (41); two cluster-tagged SGs are a Warning ``FailedNetworkReconcile``
                 on the binding whose targets still register (42); a single untagged SG (43).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from e2e_harness import (
    RunningController,
    StartController,
    controller_log_on_failure,
    delete_and_wait_gone,
    wait_for,
)
from e2e_objects import (
    NodeRule,
    create_node_port_service,
    create_security_group,
    create_target_group,
    endpoint_slice_manifest,
    ingress_rules,
    labelled_group_rules,
    labelled_node_rules,
    report_pod_running,
    target_group_binding_manifest,
)

from controller.aws.client import AwsClient
from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.naming import cluster_tag_key
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import ENDPOINT_SLICES, PODS, SERVICES, KubeClient

BINDINGS_RELEASED = "bindings released by their finalizers"
ALL_TCP = ("tcp", 0, 65535)


async def _wait_for_node_rules(
    running: RunningController, aws: AwsClient, node_sg: str, expected: set[NodeRule], what: str
) -> None:
    async def probe() -> bool | None:
        actual = await labelled_node_rules(aws, node_sg)
        assert actual == expected, f"labelled node SG rules {sorted(actual)}, want {sorted(expected)}"
        return True

    await wait_for(running, probe, what)


async def test_empty_ports_open_all_tcp_and_a_restart_never_revokes_another_bindings_rule(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenario 49 (design.md Difference 7: ``ports: []`` is all TCP) and scenario 45 (design.md Difference 2) across a restart."""
    vpc_id, node_sg = cluster.vpc.vpc_id, cluster.node_security_group_id
    source_a = await create_security_group(aws_api, vpc_id, "source-a", {})
    source_b = await create_security_group(aws_api, vpc_id, "source-b", {})
    port_a = await create_node_port_service(kube, namespace, "svc-a")
    await create_node_port_service(kube, namespace, "svc-b")
    # Not a neighbour of port_a: adjacent ports would be packed into one rule.
    extra_port = 30999 if abs(port_a - 30999) > 1 else 30990
    tg_a = await create_target_group(aws_api, vpc_id, "tg-a")
    tg_b = await create_target_group(aws_api, vpc_id, "tg-b")
    bindings = TARGET_GROUP_BINDINGS.collection_path(namespace)
    rule_b: NodeRule = (source_b, *ALL_TCP)

    async with start_controller(log_name="first") as first:
        await kube.request(
            "POST",
            bindings,
            body=target_group_binding_manifest("tgb-a", "svc-a", tg_a, source_a, [port_a, extra_port]),
        )
        await kube.request(
            "POST", bindings, body=target_group_binding_manifest("tgb-b", "svc-b", tg_b, source_b, [])
        )
        # Scenario 49: B's empty port list is every TCP port from its source SG.
        await _wait_for_node_rules(
            first,
            aws_api,
            node_sg,
            {(source_a, "tcp", port_a, port_a), (source_a, "tcp", extra_port, extra_port), rule_b},
            "A's two ports and B's tcp 0-65535 on the node SG",
        )
    assert first.process.returncode == 0, first.log()[-4000:]

    # While no controller runs, A drops its second port.
    path = TARGET_GROUP_BINDINGS.object_path("tgb-a", namespace)
    live = await kube.request("GET", path)
    live["spec"]["networking"]["ingress"][0]["ports"] = [{"protocol": "TCP", "port": port_a}]
    await kube.request("PUT", path, body=live)
    aws_proxy.reset_counts()

    # Scenario 45: poll the node SG for the whole start-up; B's rule must never be missing.
    snapshots: list[set[NodeRule]] = []
    stop_polling = asyncio.Event()

    async def poll_node_sg() -> None:
        while not stop_polling.is_set():
            snapshots.append(await labelled_node_rules(aws_api, node_sg))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_polling.wait(), timeout=0.1)

    poller = asyncio.create_task(poll_node_sg())
    try:
        async with start_controller(log_name="second") as second:
            await _wait_for_node_rules(
                second,
                aws_api,
                node_sg,
                {(source_a, "tcp", port_a, port_a), rule_b},
                "exactly the union after the restart: A's remaining port and B's rule",
            )
            stop_polling.set()
            await poller

            missing_b = [i for i, rules in enumerate(snapshots) if rule_b not in rules]
            assert len(snapshots) > 5 and not missing_b, (
                f"B's rule absent in snapshots {missing_b} of {len(snapshots)}"
            )
            revokes = [r.params for r in aws_proxy.request_log if r.operation == "RevokeSecurityGroupIngress"]
            assert not [p for p in revokes if source_b in p.values()], f"B's rule revoked: {revokes}"
            # A's dropped port was revoked (only once every binding had been computed).
            assert any(source_a in p.values() for p in revokes), revokes

            with controller_log_on_failure(second):
                await delete_and_wait_gone(
                    kube, TARGET_GROUP_BINDINGS, namespace, ["tgb-a", "tgb-b"], what=BINDINGS_RELEASED
                )
            await _wait_for_node_rules(
                second, aws_api, node_sg, set(), "no labelled rule left on the node SG"
            )
        assert second.process.returncode == 0, second.log()[-4000:]
    finally:
        stop_polling.set()
        await poller


async def _branch_eni(aws: AwsClient, instance_id: str, groups: list[str]) -> tuple[str, str]:
    """A branch ENI with its own SGs, as "security groups for pods" gives one to a pod:
    (ENI id, its IP, which becomes the pod's IP).

    Not a secondary ENI attached to the node: moto reports an attached ENI's SGs merged with the
    instance's, which would add the (cluster-tagged) node SG to every such ENI."""
    reservations = (await aws.call("ec2", "DescribeInstances", InstanceIds=[instance_id]))["Reservations"]
    subnet_id = reservations[0]["Instances"][0]["SubnetId"]
    created = await aws.call("ec2", "CreateNetworkInterface", SubnetId=subnet_id, Groups=groups)
    interface = created["NetworkInterface"]
    return str(interface["NetworkInterfaceId"]), str(interface["PrivateIpAddress"])


async def _ip_backend(
    kube: KubeClient, cluster: SandboxCluster, namespace: str, service: str, eni_id: str, pod_ip: str
) -> None:
    """A ClusterIP Service, one ready Pod on its branch ENI (the VPC resource controller's
    ``vpc.amazonaws.com/pod-eni`` annotation) at ``pod_ip``, and the Service's EndpointSlice."""
    await kube.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service},
            "spec": {
                "selector": {"app": service},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            },
        },
        namespace,
    )
    pod_name = f"{service}-0"
    branch = [{"eniId": eni_id, "privateIp": pod_ip, "vlanId": 1}]
    pod = await kube.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "labels": {"app": service},
                "annotations": {POD_ENI_ANNOTATION: json.dumps(branch)},
            },
            "spec": {
                "nodeName": cluster.nodes[0].name,
                "containers": [{"name": "app", "image": "app", "ports": [{"containerPort": 8080}]}],
            },
        },
        namespace,
    )
    await report_pod_running(kube, namespace, pod, pod_ip)
    await kube.create(
        ENDPOINT_SLICES, endpoint_slice_manifest(service, pod_name, namespace, pod_ip), namespace
    )


async def test_the_rules_go_to_the_one_cluster_tagged_sg_of_a_pod_eni_and_two_are_a_warning(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 41 (tagged + untagged: the tagged one), 43 (one untagged SG: that one) and 42
    (two cluster-tagged SGs: Warning ``FailedNetworkReconcile``, no rule, targets still registered)."""
    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    cluster_tag = {cluster_tag_key(cluster_name): "owned"}
    source = await create_security_group(aws_api, vpc_id, "lb-source", {})
    tagged_41 = await create_security_group(aws_api, vpc_id, "pod-tagged-41", cluster_tag)
    untagged_41 = await create_security_group(aws_api, vpc_id, "pod-untagged-41", {})
    untagged_43 = await create_security_group(aws_api, vpc_id, "pod-untagged-43", {})
    tagged_42a = await create_security_group(aws_api, vpc_id, "pod-tagged-42a", cluster_tag)
    tagged_42b = await create_security_group(aws_api, vpc_id, "pod-tagged-42b", cluster_tag)
    node = cluster.nodes[0].instance_id
    enis = {
        "s41": await _branch_eni(aws_api, node, [tagged_41, untagged_41]),
        "s43": await _branch_eni(aws_api, node, [untagged_43]),
        "s42": await _branch_eni(aws_api, node, [tagged_42a, tagged_42b]),
    }
    (_, ip_41), (_, ip_43), (eni_42, ip_42) = enis["s41"], enis["s43"], enis["s42"]
    target_groups: dict[str, str] = {}
    for case, (eni_id, pod_ip) in enis.items():
        await _ip_backend(kube, cluster, namespace, case, eni_id, pod_ip)
        target_groups[case] = await create_target_group(aws_api, vpc_id, f"tg-{case}", target_type="ip")
    bindings = TARGET_GROUP_BINDINGS.collection_path(namespace)
    want = {("tcp", 8080, 8080, source)}

    async with start_controller() as running:
        for case in target_groups:
            body = target_group_binding_manifest(
                case, case, target_groups[case], source, [8080], target_type="ip"
            )
            await kube.request("POST", bindings, body=body)

        async def rules_on_the_chosen_sgs() -> bool | None:
            for group, expected in (
                (tagged_41, want),
                (untagged_41, set()),
                (untagged_43, want),
                (tagged_42a, set()),
                (tagged_42b, set()),
            ):
                actual = labelled_group_rules(await ingress_rules(aws_api, group))
                assert actual == expected, f"{group}: labelled rules {actual}, want {expected}"
            return True

        await wait_for(
            running, rules_on_the_chosen_sgs, "tcp 8080 on the tagged SG (41) and the lone SG (43)"
        )

        async def network_warning() -> dict[str, Any] | None:
            listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
            for event in listed.get("items", []):
                if event.get("reason") == "FailedNetworkReconcile" and event["regarding"]["name"] == "s42":
                    return dict(event)
            return None

        event = await wait_for(running, network_warning, "a FailedNetworkReconcile event on binding s42")
        assert event["type"] == "Warning" and event["regarding"]["kind"] == "TargetGroupBinding", event
        assert "expected exactly one securityGroup tagged with" in event["note"], event["note"]
        assert eni_42 in event["note"], event["note"]

        async def all_targets_registered() -> bool | None:
            for case, pod_ip in (("s41", ip_41), ("s43", ip_43), ("s42", ip_42)):
                health = await aws_api.call(
                    "elbv2", "DescribeTargetHealth", TargetGroupArn=target_groups[case]
                )
                registered = {
                    (d["Target"]["Id"], int(d["Target"]["Port"])) for d in health["TargetHealthDescriptions"]
                }
                assert registered == {(pod_ip, 8080)}, f"{case}: registered {registered}"
            return True

        await wait_for(running, all_targets_registered, "every pod registered, s42's included")
        # Still no rule on either of s42's SGs after its warning.
        await rules_on_the_chosen_sgs()

        with controller_log_on_failure(running):
            await delete_and_wait_gone(
                kube, TARGET_GROUP_BINDINGS, namespace, target_groups, what=BINDINGS_RELEASED
            )

        async def rules_withdrawn() -> bool | None:
            for group in (tagged_41, untagged_43):
                assert labelled_group_rules(await ingress_rules(aws_api, group)) == set(), group
            return True

        # The SG passes run after the bindings are gone (one coalescing window, design.md Difference 19).
        await wait_for(running, rules_withdrawn, "the rules of the deleted bindings revoked")

    assert running.process.returncode == 0, running.log()[-4000:]
