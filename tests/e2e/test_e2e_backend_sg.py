"""End to end: the shared backend SG, its flags and lifecycle, and how node SG ports are restricted.

Reference section 3 and 4 with scenario numbers from section 10: a pre-created
``--backend-security-group`` is attached, used as the rule source, never tagged and never deleted
(31), and an invalid one stops the process with exit code 2 (35); with
``--enable-backend-security-group=false`` custom SGs cannot have managed rules (27) and in auto mode
the managed SG itself is the node rule source, revoked and deleted with the Ingress; the backend SG
outlives the deletion of one of its two users and goes with the last (32/33), also when the last
one is deleted by a freshly started process (design.md Difference 1, the fixed scenario 34); and the
port restriction modes: R single-port rules by default, one min-max rule with
``--max-port-ranges-per-source=1`` (37, design.md Difference 4), tcp 0-65535 with
``--disable-restricted-sg-rules`` (38).
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
    labelled_node_rules,
    security_groups_named,
    security_groups_of_cluster,
    tags_of,
)

from controller.aws.client import AwsClient
from controller.naming import backend_sg_name, managed_sg_name_for_implicit_ingress
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, KubeClient


async def _managed_sg_id(aws: AwsClient, cluster: SandboxCluster, namespace: str, ingress: str) -> str:
    name = managed_sg_name_for_implicit_ingress(cluster.vpc.cluster_name, namespace, ingress)
    found = await security_groups_named(aws, cluster.vpc.vpc_id, name)
    assert len(found) == 1, found
    return str(found[0]["GroupId"])


async def _backend_sg_id(aws: AwsClient, cluster: SandboxCluster) -> str:
    found = await security_groups_named(aws, cluster.vpc.vpc_id, backend_sg_name(cluster.vpc.cluster_name))
    assert len(found) == 1, found
    return str(found[0]["GroupId"])


async def test_invalid_backend_sg_flag_exits_and_a_given_backend_sg_is_used_but_never_tagged_or_deleted(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 35 (``--backend-security-group=foo``: exit code 2 and why) and 31."""
    async with start_controller("--backend-security-group=foo", log_name="invalid") as invalid:
        async with asyncio.timeout(30):
            exit_code = await invalid.process.wait()
    assert exit_code == 2, invalid.log()[-2000:]
    assert "--backend-security-group" in invalid.log() and "must start with sg-" in invalid.log()

    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    preset = await create_security_group(aws_api, vpc_id, "preset-backend", {"Name": "preset-backend"})
    node_port = await create_node_port_service(kube, namespace, "echo")
    aws_proxy.reset_counts()

    async with start_controller(f"--backend-security-group={preset}") as running:
        await kube.create(INGRESSES, ingress_manifest("echo", "echo"), namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "echo")
        managed = await _managed_sg_id(aws_api, cluster, namespace, "echo")
        assert balancer["SecurityGroups"] == [managed, preset]
        assert await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name)) == []

        async def node_rule() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            return True if rules == {(preset, "tcp", node_port, node_port)} else None

        await wait_for(running, node_rule, "the NodePort rule from the given backend SG")

        await delete_ingresses_and_wait(running, kube, namespace, "echo")

        async def stack_removed() -> bool | None:
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            ours = await security_groups_of_cluster(aws_api, cluster_name)
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            assert not (balancers or ours or rules), f"left: LBs {len(balancers)}, SGs {ours}, rules {rules}"
            return True

        await wait_for(running, stack_removed, "the LB, managed SG and node rule removed", within=90)

    assert running.process.returncode == 0, running.log()[-4000:]
    group = await describe_security_group(aws_api, preset)
    assert group is not None, "the given backend SG must never be deleted"
    assert tags_of(group) == {"Name": "preset-backend"}
    touched = [
        (r.operation, r.params)
        for r in aws_proxy.request_log
        if r.operation in ("CreateTags", "DeleteTags", "DeleteSecurityGroup") and preset in r.params.values()
    ]
    assert touched == [], touched


async def test_backend_sg_disabled_makes_the_managed_sg_the_rule_source_and_rejects_managed_custom_rules(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """``--enable-backend-security-group=false``: scenario 27, and auto mode without a backend SG."""
    vpc_id, cluster_name = cluster.vpc.vpc_id, cluster.vpc.cluster_name
    await create_security_group(aws_api, vpc_id, "web-group-name", {"Name": "web-sg"})
    node_port = await create_node_port_service(kube, namespace, "echo")

    async with start_controller("--enable-backend-security-group=false") as running:
        await kube.create(
            INGRESSES,
            ingress_manifest("custom", "echo", {SECURITY_GROUPS: "web-sg", MANAGE_BACKEND_RULES: "true"}),
            namespace,
        )
        await kube.create(INGRESSES, ingress_manifest("auto", "echo"), namespace)

        await wait_for_warning(
            running, kube, namespace, "custom", "FailedBuildModel", "backendSG feature is required"
        )
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "auto")
        managed = await _managed_sg_id(aws_api, cluster, namespace, "auto")
        assert balancer["SecurityGroups"] == [managed]
        assert await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name)) == []

        async def node_rule() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            return True if rules == {(managed, "tcp", node_port, node_port)} else None

        await wait_for(running, node_rule, "the NodePort rule from the managed SG itself")
        # Only the auto Ingress got a load balancer.
        assert len((await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]) == 1

        await delete_ingresses_and_wait(running, kube, namespace, "auto", "custom")

        async def revoked_and_deleted() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            ours = await security_groups_of_cluster(aws_api, cluster_name)
            assert not rules and not ours, f"left: node rules {rules}, SGs {ours}"
            return True

        await wait_for(
            running, revoked_and_deleted, "the node rule revoked and the managed SG deleted", within=90
        )

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_backend_sg_outlives_one_user_and_a_restarted_process_deletes_it_with_the_last(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 32/33, and 34 as design.md Difference 1 fixes it: users are recomputed after a restart."""
    port_a = await create_node_port_service(kube, namespace, "svc-a")
    port_b = await create_node_port_service(kube, namespace, "svc-b")

    async with start_controller(log_name="first") as first:
        await kube.create(INGRESSES, ingress_manifest("a", "svc-a"), namespace)
        await kube.create(INGRESSES, ingress_manifest("b", "svc-b"), namespace)
        await wait_for_load_balancer(first, aws_api, kube, namespace, "a")
        balancer_b = await wait_for_load_balancer(first, aws_api, kube, namespace, "b")
        backend = await _backend_sg_id(aws_api, cluster)

        # Scenario 32: deleting one user keeps the SG (the other still needs it).
        aws_proxy.reset_counts()
        await delete_ingresses_and_wait(first, kube, namespace, "a")

        async def only_b_open() -> bool | None:
            rules = await labelled_node_rules(aws_api, cluster.node_security_group_id)
            return True if rules == {(backend, "tcp", port_b, port_b)} else None

        await wait_for(first, only_b_open, "a's NodePort revoked, b's kept")
        assert await describe_security_group(aws_api, backend) is not None
        # Not even attempted: a delete refused by AWS would also leave it in place.
        attempts = [
            r
            for r in aws_proxy.request_log
            if r.operation == "DeleteSecurityGroup" and r.params.get("GroupId") == backend
        ]
        assert attempts == [], attempts
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [b["SecurityGroups"][-1] for b in balancers] == [backend]
        assert balancers[0]["LoadBalancerArn"] == balancer_b["LoadBalancerArn"]
    assert first.process.returncode == 0, first.log()[-4000:]
    assert port_a != port_b

    # Scenario 33/34: a new process deletes the last user and, with it, the backend SG.
    aws_proxy.reset_counts()
    async with start_controller(log_name="second") as second:
        await delete_ingresses_and_wait(second, kube, namespace, "b")

        async def backend_deleted() -> bool | None:
            ours = await security_groups_of_cluster(aws_api, cluster.vpc.cluster_name)
            assert not ours, f"SGs of ours left: {ours}"
            return True

        await wait_for(second, backend_deleted, "the backend SG deleted by the new process", within=90)
    assert second.process.returncode == 0, second.log()[-4000:]
    deletions = [
        (r.status, r.outcome)
        for r in aws_proxy.request_log
        if r.operation == "DeleteSecurityGroup" and r.params.get("GroupId") == backend
    ]
    assert (200, "forwarded") in deletions, deletions


async def test_port_restriction_modes_on_the_node_sg(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenario 37 / design.md Difference 4 (R=8 default, R=1 like upstream) and scenario 38."""
    port_a = await create_node_port_service(kube, namespace, "svc-a")
    port_b = await create_node_port_service(kube, namespace, "svc-b")
    low, high = sorted((port_a, port_b))
    node_sg = cluster.node_security_group_id
    await kube.create(INGRESSES, ingress_manifest("a", "svc-a"), namespace)
    await kube.create(INGRESSES, ingress_manifest("b", "svc-b"), namespace)
    # Neighbouring NodePorts (they are allocated at random) are one range even when restricted.
    default = {(low, high)} if high == low + 1 else {(low, low), (high, high)}
    runs = (
        ((), "default", default),
        (("--max-port-ranges-per-source=1",), "one-range", {(low, high)}),
        (("--disable-restricted-sg-rules",), "unrestricted", {(0, 65535)}),
    )
    for flags, log_name, expected in runs:
        async with start_controller(*flags, log_name=log_name) as running:
            await wait_for_load_balancer(running, aws_api, kube, namespace, "a")
            await wait_for_load_balancer(running, aws_api, kube, namespace, "b")
            backend = await _backend_sg_id(aws_api, cluster)
            wanted = {(backend, "tcp", start, end) for start, end in expected}

            async def exactly_expected(wanted: set[tuple[str, str, int, int]] = wanted) -> bool | None:
                rules = await labelled_node_rules(aws_api, node_sg)
                assert rules == wanted, f"node SG rules {sorted(rules)}, want {sorted(wanted)}"
                return True

            await wait_for(running, exactly_expected, f"node SG rules with {flags or 'default flags'}")
            if log_name == "unrestricted":
                await delete_ingresses_and_wait(running, kube, namespace, "a", "b")
        assert running.process.returncode == 0, running.log()[-4000:]
