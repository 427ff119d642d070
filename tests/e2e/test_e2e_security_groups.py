"""End to end: frontend security groups, automatic or custom, and how they steer node SG rules.

The upstream "security groups" page, sentence by sentence (reference sections 1-2, scenario numbers
from section 10): custom SGs given by id or by ``Name`` tag replace the managed SG (23), an unknown
name is a ``FailedBuildModel`` warning and changes nothing in AWS (24), two SGs sharing a ``Name``
tag are both attached (25), custom SGs without rule management leave the TargetGroupBinding without
networking and the node SG untouched (28), and with ``manage-backend-security-group-rules: "true"``
the backend SG is appended and becomes the rule source (29). A custom SG created after the Ingress
that names it is picked up by the retries with backoff. Finally, AWS throttling and internal
errors on the calls that create things are retried until the Ingress converges, without creating a
second load balancer.
"""

from __future__ import annotations

import asyncio

from e2e_harness import (
    StartController,
    delete_ingresses_and_wait,
    wait_for,
    wait_for_load_balancer,
    wait_for_warning,
)
from e2e_objects import (
    MANAGE_BACKEND_RULES,
    SECURITY_GROUPS,
    create_node_port_service,
    create_security_group,
    describe_security_group,
    ingress_manifest,
    ingress_rules,
    labelled_node_rules,
    mutating_operations,
    security_groups_named,
    security_groups_of_cluster,
    target_group_bindings,
)

from controller.aws.client import AwsClient
from controller.naming import backend_sg_name, managed_sg_name_for_implicit_ingress
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, KubeClient


async def test_custom_security_groups_by_id_and_name_tag_replace_managed_sg_and_leave_nodes_alone(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 24 (unknown name), 23 (id + Name tag), 25 (shared Name tag) and 28 (no networking)."""
    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    by_id = await create_security_group(aws_api, vpc_id, "custom-by-id", {})
    web = await create_security_group(aws_api, vpc_id, "web-group-name", {"Name": "web-sg"})
    shared_a = await create_security_group(aws_api, vpc_id, "shared-a", {"Name": "shared"})
    shared_b = await create_security_group(aws_api, vpc_id, "shared-b", {"Name": "shared"})
    # Its GroupName is "web-sg", but names are matched against the Name tag only.
    decoy = await create_security_group(aws_api, vpc_id, "web-sg", {"Name": "decoy"})
    await create_node_port_service(kube, namespace, "echo")
    aws_proxy.reset_counts()

    async with start_controller() as running:
        # Scenario 24: an unresolvable name fails the model build before anything is created.
        await kube.create(
            INGRESSES, ingress_manifest("missing", "echo", {SECURITY_GROUPS: "missing-name"}), namespace
        )
        event = await wait_for_warning(
            running, kube, namespace, "missing", "FailedBuildModel", "couldn't find all security groups"
        )
        assert "missing-name" in event["note"], event["note"]
        assert mutating_operations(aws_proxy) == [], "an unresolvable SG name must not change AWS"
        assert (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"] == []

        # Scenarios 23 and 25: ids first, then every SG whose Name tag matches.
        await kube.create(
            INGRESSES,
            ingress_manifest("custom", "echo", {SECURITY_GROUPS: f"{by_id}, web-sg, shared"}),
            namespace,
        )
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "custom")
        attached = balancer["SecurityGroups"]
        assert attached[0] == by_id, attached
        assert sorted(attached[1:]) == sorted([web, shared_a, shared_b]), attached
        assert decoy not in attached
        # No managed SG and, without rule management, no backend SG: nothing tagged as ours.
        assert await security_groups_of_cluster(aws_api, cluster_name) == []
        assert (
            await security_groups_named(
                aws_api, vpc_id, managed_sg_name_for_implicit_ingress(cluster_name, namespace, "custom")
            )
            == []
        )
        assert await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name)) == []

        # Scenario 28: the binding has no networking, so once its targets are registered the node
        # SG still has no rule of ours.
        bindings = await target_group_bindings(kube, namespace)
        assert len(bindings) == 1, bindings
        assert not bindings[0]["spec"].get("networking"), bindings[0]["spec"]
        target_group_arn = bindings[0]["spec"]["targetGroupARN"]
        instances = {node.instance_id for node in cluster.nodes}

        async def targets_registered() -> bool | None:
            health = await aws_api.call("elbv2", "DescribeTargetHealth", TargetGroupArn=target_group_arn)
            registered = {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]}
            return True if registered == instances else None

        await wait_for(running, targets_registered, "both nodes registered in the target group")
        assert await labelled_node_rules(aws_api, cluster.node_security_group_id) == set()
        # Custom SGs are the user's: never given rules.
        for group_id in (by_id, web, shared_a, shared_b):
            group = await describe_security_group(aws_api, group_id)
            assert group is not None and group.get("IpPermissions", []) == [], group

        await delete_ingresses_and_wait(running, kube, namespace, "custom", "missing")
        for group_id in (by_id, web, shared_a, shared_b):
            assert await describe_security_group(aws_api, group_id) is not None, group_id

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_custom_security_group_created_after_the_ingress_is_attached_within_the_backoff(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """A custom SG named before it exists: a Warning, retries with backoff (nothing in Kubernetes
    changes when the SG is created), then the ALB with exactly that SG once it carries the Name tag."""
    await create_node_port_service(kube, namespace, "echo")
    aws_proxy.reset_counts()

    async with start_controller() as running:
        await kube.create(
            INGRESSES, ingress_manifest("late", "echo", {SECURITY_GROUPS: "my-late-sg"}), namespace
        )
        event = await wait_for_warning(
            running,
            kube,
            namespace,
            "late",
            "FailedBuildModel",
            "couldn't find all security groups: requested names [my-late-sg] but found []",
        )
        assert SECURITY_GROUPS in event["note"] and "'my-late-sg'" in event["note"], event["note"]
        # Let a few retries fail, so the SG appears while the key waits in its backoff.
        await asyncio.sleep(3)
        assert mutating_operations(aws_proxy) == [], "an unresolvable SG name must not change AWS"
        late = await create_security_group(aws_api, cluster.vpc.vpc_id, "late-group", {"Name": "my-late-sg"})

        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "late")
        assert balancer["SecurityGroups"] == [late]
        assert "Terminal reconciler error" not in running.log(), running.log()[-4000:]

        await delete_ingresses_and_wait(running, kube, namespace, "late")
        assert await describe_security_group(aws_api, late) is not None

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_custom_security_groups_with_managed_backend_rules_append_the_backend_sg(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenario 29: LB SGs are [custom..., backend] and the node rule comes from the backend SG."""
    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    web = await create_security_group(aws_api, vpc_id, "web-group-name", {"Name": "web-sg"})
    node_port = await create_node_port_service(kube, namespace, "echo")
    annotations = {SECURITY_GROUPS: "web-sg", MANAGE_BACKEND_RULES: "true"}

    async with start_controller() as running:
        await kube.create(INGRESSES, ingress_manifest("custom", "echo", annotations), namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "custom")
        backend = await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name))
        assert len(backend) == 1, backend
        backend_id = str(backend[0]["GroupId"])
        assert balancer["SecurityGroups"] == [web, backend_id]
        # Still no managed SG: the backend SG is the only SG of ours.
        assert await security_groups_of_cluster(aws_api, cluster_name) == [backend_id]

        bindings = await target_group_bindings(kube, namespace)
        assert len(bindings) == 1, bindings
        sources = [
            peer["securityGroup"]["groupID"]
            for rule in bindings[0]["spec"]["networking"]["ingress"]
            for peer in rule["from"]
        ]
        assert sources == [backend_id], bindings[0]["spec"]["networking"]

        async def node_rule() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            return True if rules == {(backend_id, "tcp", node_port, node_port)} else None

        await wait_for(running, node_rule, "the NodePort rule from the backend SG on the node SG")

        await delete_ingresses_and_wait(running, kube, namespace, "custom")

        async def backend_gone() -> bool | None:
            left = await security_groups_of_cluster(aws_api, cluster_name)
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            assert not left and not rules, f"left: SGs {left}, node rules {rules}"
            return True

        await wait_for(running, backend_gone, "the backend SG and its node rule removed", within=90)
        assert await describe_security_group(aws_api, web) is not None

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_throttling_and_internal_errors_are_retried_without_a_duplicate_load_balancer(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """AWS answers RequestLimitExceeded (503) and InternalError (500) a few times; the Ingress converges."""
    node_port = await create_node_port_service(kube, namespace, "echo")
    for operation in ("AuthorizeSecurityGroupIngress", "CreateLoadBalancer"):
        aws_proxy.faults.fail(
            operation, code="RequestLimitExceeded", status=503, message="Request limit exceeded.", times=2
        )
        aws_proxy.faults.fail(operation, code="InternalError", status=500, times=1)
    aws_proxy.reset_counts()

    async with start_controller() as running:
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")
        managed_id, backend_id = balancer["SecurityGroups"]

        async def frontend_rule() -> bool | None:
            rules = await ingress_rules(aws_api, managed_id)
            cidrs = {(p["FromPort"], r["CidrIp"]) for p in rules for r in p.get("IpRanges", [])}
            return True if cidrs == {(80, "0.0.0.0/0")} else None

        await wait_for(running, frontend_rule, "tcp 80 from 0.0.0.0/0 on the managed SG")

        async def node_rule() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            return True if rules == {(backend_id, "tcp", node_port, node_port)} else None

        await wait_for(running, node_rule, "the NodePort rule from the backend SG on the node SG")

        assert aws_proxy.faults.pending() == [], "every scripted fault was hit"
        answered = [
            (r.operation, r.status, r.outcome)
            for r in aws_proxy.request_log
            if r.operation in ("CreateLoadBalancer", "AuthorizeSecurityGroupIngress")
        ]
        assert [a for a in answered if a[0] == "CreateLoadBalancer"] == [
            ("CreateLoadBalancer", 503, "fault"),
            ("CreateLoadBalancer", 503, "fault"),
            ("CreateLoadBalancer", 500, "fault"),
            ("CreateLoadBalancer", 200, "forwarded"),
        ], answered
        assert sum(1 for a in answered if a[0] == "AuthorizeSecurityGroupIngress" and a[2] == "fault") == 3
        # Exactly one load balancer, and it is the one in the status.
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [b["LoadBalancerArn"] for b in balancers] == [balancer["LoadBalancerArn"]]

        await delete_ingresses_and_wait(running, kube, namespace, "echo")

    assert running.process.returncode == 0, running.log()[-4000:]
