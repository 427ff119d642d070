"""End to end: frontend security groups, automatic or custom, and how they steer node SG rules.

The upstream "security groups" page, sentence by sentence (reference sections 1-2, scenario numbers
from section 10): custom SGs given by id or by ``Name`` tag replace the managed SG (23), an unknown
name is a ``FailedBuildModel`` warning and changes nothing in AWS (24), two SGs sharing a ``Name``
tag are both attached (25), custom SGs without rule management leave the TargetGroupBinding without
networking and the node SG untouched (28), and with ``manage-backend-security-group-rules: "true"``
the backend SG is appended and becomes the rule source (29). Finally, AWS throttling and internal
errors on the calls that create things are retried until the Ingress converges, without creating a
second load balancer.

The helpers here are also used by ``test_e2e_backend_sg.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from conftest import StartController
from e2e_harness import RunningController, eventually, ingress_rules

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION, backend_sg_name, managed_sg_name_for_implicit_ingress
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import INGRESSES, SERVICES, KubeApiError, KubeClient

T = TypeVar("T")

SECURITY_GROUPS = "alb.ingress.kubernetes.io/security-groups"
SCHEME = "alb.ingress.kubernetes.io/scheme"
MANAGE_BACKEND_RULES = "alb.ingress.kubernetes.io/manage-backend-security-group-rules"
# Operations that change something in AWS; "no AWS change" means none of these was sent.
MUTATING_PREFIXES = (
    "Create",
    "Delete",
    "Authorize",
    "Revoke",
    "Modify",
    "Register",
    "Deregister",
    "Add",
    "Remove",
    "Set",
)


# ---- helpers shared with test_e2e_backend_sg.py ----------------------------------------------


def ingress_manifest(name: str, service: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    # The sandbox VPC's subnets are tagged for public load balancers only.
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": {SCHEME: "internet-facing", **(annotations or {})}},
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


async def node_port_service(kube: KubeClient, namespace: str, name: str) -> int:
    """A NodePort Service; returns the NodePort the API server allocated."""
    service = await kube.create(
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {
                "type": "NodePort",
                "selector": {"app": name},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
        namespace,
    )
    return int(service["spec"]["ports"][0]["nodePort"])


async def create_security_group(aws: AwsClient, vpc_id: str, group_name: str, tags: dict[str, str]) -> str:
    extra: dict[str, Any] = {}
    if tags:  # AWS rejects a tag specification without tags
        extra["TagSpecifications"] = [
            {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    created = await aws.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=group_name,
        Description=f"pre-created {group_name}",
        VpcId=vpc_id,
        **extra,
    )
    return str(created["GroupId"])


async def describe_security_group(aws: AwsClient, group_id: str) -> dict[str, Any] | None:
    """The SG, or None once it no longer exists."""
    groups = await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "group-id", "Values": [group_id]}],
    )
    return groups[0] if groups else None


async def security_groups_named(aws: AwsClient, vpc_id: str, name: str) -> list[dict[str, Any]]:
    return await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}],
    )


async def security_groups_of_cluster(aws: AwsClient, cluster_name: str) -> list[str]:
    """Ids of every SG carrying our cluster tracking tag (managed and backend SGs)."""
    groups = await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster_name]}],
    )
    return sorted(str(g["GroupId"]) for g in groups)


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


async def labelled_node_rules(aws: AwsClient, node_sg: str) -> set[tuple[str, str, int, int]]:
    """Our rules on the node SG as (source SG, protocol, from port, to port)."""
    rules: set[tuple[str, str, int, int]] = set()
    for permission in await ingress_rules(aws, node_sg):
        for pair in permission.get("UserIdGroupPairs", []):
            if pair.get("Description") == TGB_RULE_DESCRIPTION:
                rules.add(
                    (
                        str(pair["GroupId"]),
                        str(permission["IpProtocol"]),
                        int(permission["FromPort"]),
                        int(permission["ToPort"]),
                    )
                )
    return rules


async def wait_for(
    running: RunningController, probe: Callable[[], Awaitable[T | None]], what: str, within: float = 60.0
) -> T:
    """``eventually``, with the controller's log tail in the failure message."""
    try:
        return await eventually(probe, what=what, within=within)
    except AssertionError as error:
        raise AssertionError(f"{error}\ncontroller log tail:\n{running.log()[-6000:]}") from None


async def wait_for_load_balancer(
    running: RunningController, aws: AwsClient, kube: KubeClient, namespace: str, ingress: str
) -> dict[str, Any]:
    """The ALB whose DNS name the Ingress status reports."""

    async def published() -> dict[str, Any] | None:
        status = (await kube.get(INGRESSES, ingress, namespace)).get("status") or {}
        entries = status.get("loadBalancer", {}).get("ingress") or []
        if not entries or not entries[0].get("hostname"):
            return None
        hostname = str(entries[0]["hostname"])
        for balancer in (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]:
            if balancer["DNSName"].lower() == hostname:
                return dict(balancer)
        raise AssertionError(f"status names {hostname}, but no such load balancer exists")

    return await wait_for(running, published, f"the ALB of Ingress {namespace}/{ingress}", within=90)


async def wait_for_warning(
    running: RunningController, kube: KubeClient, namespace: str, ingress: str, reason: str, text: str
) -> dict[str, Any]:
    """A Warning event with ``reason`` on the Ingress whose note contains ``text``."""

    async def found() -> dict[str, Any] | None:
        listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
        for event in listed.get("items", []):
            if event.get("reason") == reason and event["regarding"]["name"] == ingress:
                assert text in event.get("note", ""), f"{reason} event says {event.get('note')!r}"
                assert event["type"] == "Warning", event
                return dict(event)
        return None

    return await wait_for(running, found, f"a {reason} event on Ingress {ingress} mentioning {text!r}")


async def target_group_bindings(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    listed = await kube.list(TARGET_GROUP_BINDINGS, namespace)
    items: list[dict[str, Any]] = listed.get("items", [])
    return items


async def delete_ingresses_and_wait(
    running: RunningController, kube: KubeClient, namespace: str, *names: str
) -> None:
    """Delete the Ingresses and wait until their finalizers let them go."""
    for name in names:
        await kube.request("DELETE", INGRESSES.object_path(name, namespace))

    async def all_gone() -> bool | None:
        for name in names:
            try:
                await kube.get(INGRESSES, name, namespace)
            except KubeApiError as error:
                if error.status == 404:
                    continue
                raise
            return None
        return True

    await wait_for(running, all_gone, f"Ingresses {names} deleted (finalizers released)", within=90)


def mutating_operations(proxy: AwsProxy) -> list[str]:
    return [r.operation for r in proxy.request_log if r.operation.startswith(MUTATING_PREFIXES)]


# ---- tests ------------------------------------------------------------------------------------


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
    await node_port_service(kube, namespace, "echo")
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
    node_port = await node_port_service(kube, namespace, "echo")
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
    node_port = await node_port_service(kube, namespace, "echo")
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
