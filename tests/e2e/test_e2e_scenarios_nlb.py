"""End to end: NLBs that already exist in AWS when their Service is first reconciled.

Upstream scenarios (upstream-behaviour §1.1, §10):

* 21  an existing NLB of this Service's stack without security groups stays without them (an
      NLB's SGs cannot be added later): no managed or backend SG is created and the generated
      TargetGroupBinding opens the NodePort from CIDRs (legacy mode), not from an SG;
* 22  ``aws-load-balancer-disable-nlb-sg: "true"`` while the stack's existing NLB has SGs (which
      cannot be removed) is a ``FailedBuildModel`` Warning "conflicting security groups
      configuration", and nothing of that NLB is changed.

The NLBs are created the way the deployer creates them: upstream's name formula and the stack's
tracking tags plus ``service.k8s.aws/resource=LoadBalancer``.
"""

from __future__ import annotations

from typing import Any

from e2e_harness import StartController, wait_for, wait_for_service_gone, wait_for_service_hostname
from e2e_objects import create_security_group, ingress_rules, mutating_operations, security_groups_tagged

from controller.aws.client import AwsClient
from controller.naming import TGB_RULE_DESCRIPTION, StackTags
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from controller.service.builder import LOAD_BALANCER_RESOURCE_ID
from controller.service.names import load_balancer_name
from controller.targetgroupbinding import TARGET_GROUP_BINDINGS
from framework.kube import SERVICES, KubeClient

NLB_CLASS = "service.k8s.aws/nlb"
SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
DISABLE_NLB_SG = "service.beta.kubernetes.io/aws-load-balancer-disable-nlb-sg"
INTERNET_FACING = "internet-facing"


def _service(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": {SCHEME: INTERNET_FACING, **(annotations or {})}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": NLB_CLASS,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


async def _existing_nlb(
    aws: AwsClient, cluster: SandboxCluster, service: dict[str, Any], security_groups: list[str]
) -> dict[str, Any]:
    """The NLB the deployer would have created for ``service`` (name, tags, subnets)."""
    namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
    stack = StackTags(cluster.vpc.cluster_name, "service.k8s.aws", f"{namespace}/{name}")
    tags = stack.resource_tags(LOAD_BALANCER_RESOURCE_ID)
    extra: dict[str, Any] = {"SecurityGroups": security_groups} if security_groups else {}
    created = await aws.call(
        "elbv2",
        "CreateLoadBalancer",
        Name=load_balancer_name(
            cluster.vpc.cluster_name, namespace, name, service["metadata"]["uid"], INTERNET_FACING
        ),
        Type="network",
        Scheme=INTERNET_FACING,
        Subnets=list(cluster.vpc.subnet_ids),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        **extra,
    )
    balancer: dict[str, Any] = created["LoadBalancers"][0]
    assert balancer.get("SecurityGroups", []) == security_groups, balancer
    return balancer


async def _load_balancer(aws: AwsClient, arn: str) -> dict[str, Any]:
    described = await aws.call("elbv2", "DescribeLoadBalancers", LoadBalancerArns=[arn])
    balancer: dict[str, Any] = described["LoadBalancers"][0]
    return balancer


def _labelled_cidr_rules(permissions: list[dict[str, Any]]) -> set[tuple[str, int, int, str]]:
    return {
        (
            str(p["IpProtocol"]),
            int(p["FromPort"]),
            int(p["ToPort"]),
            str(r.get("CidrIp") or r.get("CidrIpv6")),
        )
        for p in permissions
        for r in [*p.get("IpRanges", []), *p.get("Ipv6Ranges", [])]
        if r.get("Description") == TGB_RULE_DESCRIPTION
    }


def _labelled_group_sources(permissions: list[dict[str, Any]]) -> list[str]:
    return [
        str(pair["GroupId"])
        for p in permissions
        for pair in p.get("UserIdGroupPairs", [])
        if pair.get("Description") == TGB_RULE_DESCRIPTION
    ]


async def test_existing_nlb_without_sgs_stays_legacy_and_disabling_sgs_on_one_with_sgs_conflicts(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """Scenarios 21 (existing SG-less NLB: no SGs, CIDR-sourced TGB networking) and 22."""
    cluster_name = cluster.vpc.cluster_name
    legacy = await kube.create(SERVICES, _service("legacy"), namespace)
    conflict = await kube.create(SERVICES, _service("conflict", {DISABLE_NLB_SG: "true"}), namespace)
    legacy_nlb = await _existing_nlb(aws_api, cluster, legacy, [])
    attached = await create_security_group(aws_api, cluster.vpc.vpc_id, "attached-to-conflict", {})
    conflict_nlb = await _existing_nlb(aws_api, cluster, conflict, [attached])
    node_port = int(legacy["spec"]["ports"][0]["nodePort"])
    aws_proxy.reset_counts()

    async with start_controller() as running:
        # Scenario 22 first: it must fail before changing anything of its NLB.
        async def conflict_warning() -> dict[str, Any] | None:
            listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
            for event in listed.get("items", []):
                if event.get("reason") == "FailedBuildModel" and event["regarding"]["name"] == "conflict":
                    return dict(event)
            return None

        event = await wait_for(running, conflict_warning, "a FailedBuildModel event on Service conflict")
        assert event["type"] == "Warning" and event["regarding"]["kind"] == "Service", event
        assert "conflicting security groups configuration" in event["note"], event["note"]
        assert DISABLE_NLB_SG in event["note"], event["note"]

        # Scenario 21: the existing NLB is adopted (its DNS name published) and keeps no SGs.
        dns_name = await wait_for_service_hostname(running, kube, namespace, "legacy")
        assert dns_name == legacy_nlb["DNSName"].lower()
        assert (await _load_balancer(aws_api, legacy_nlb["LoadBalancerArn"])).get("SecurityGroups", []) == []
        assert len((await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]) == 2
        # No managed SG for either stack, and no backend SG: nothing SG-shaped was created at all.
        tagged = await security_groups_tagged(
            aws_api, cluster.vpc.vpc_id, "elbv2.k8s.aws/cluster", cluster_name
        )
        assert [g["GroupId"] for g in tagged] == []
        assert aws_proxy.calls_by_operation()["CreateSecurityGroup"] == 0

        async def legacy_binding() -> dict[str, Any] | None:
            listed = await kube.list(TARGET_GROUP_BINDINGS, namespace)
            items = listed.get("items", [])
            return dict(items[0]) if len(items) == 1 else None

        binding = await wait_for(
            running, legacy_binding, "the generated TargetGroupBinding of Service legacy"
        )
        peers = [peer for rule in binding["spec"]["networking"]["ingress"] for peer in rule["from"]]
        assert peers and all(set(peer) == {"ipBlock"} for peer in peers), binding["spec"]["networking"]
        cidrs = {str(peer["ipBlock"]["cidr"]) for peer in peers}

        # The node SG opens the NodePort from exactly those CIDRs, labelled, and from no SG.
        async def node_rules() -> bool | None:
            permissions = await ingress_rules(aws_api, cluster.node_security_group_id)
            rules = _labelled_cidr_rules(permissions)
            assert rules == {("tcp", node_port, node_port, cidr) for cidr in cidrs}, f"labelled rules {rules}"
            assert _labelled_group_sources(permissions) == [], permissions
            return True

        await wait_for(running, node_rules, f"tcp {node_port} from {sorted(cidrs)} on the node SG")

        # The conflicting Service's NLB was never touched: same SGs, no finalizer on the Service.
        conflict_arn = conflict_nlb["LoadBalancerArn"]
        assert (await _load_balancer(aws_api, conflict_arn))["SecurityGroups"] == [attached]
        mutating = set(mutating_operations(aws_proxy))
        touched = [
            r.operation
            for r in aws_proxy.request_log
            if r.operation in mutating and conflict_arn in r.params.values()
        ]
        assert touched == [], touched
        assert not (await kube.get(SERVICES, "conflict", namespace))["metadata"].get("finalizers")

        # Deleting the legacy Service deletes its adopted NLB and its CIDR rules.
        await kube.request("DELETE", SERVICES.object_path("legacy", namespace))
        await wait_for_service_gone(running, kube, namespace, "legacy")

        async def legacy_cleaned() -> bool | None:
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            rules = _labelled_cidr_rules(await ingress_rules(aws_api, cluster.node_security_group_id))
            assert [b["LoadBalancerArn"] for b in balancers] == [conflict_arn] and not rules, (
                balancers,
                rules,
            )
            return True

        await wait_for(running, legacy_cleaned, "the legacy NLB and its node SG rules removed", within=90)
        await kube.request("DELETE", SERVICES.object_path("conflict", namespace))
        await wait_for_service_gone(running, kube, namespace, "conflict")

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_existing_internet_facing_nlb_is_adopted_by_a_service_that_names_no_scheme(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    """No scheme annotation and the controller's default (internal) differing from the live NLB:
    the NLB's own scheme wins, so it is adopted, not replaced by a new internal NLB (a new DNS name)."""
    manifest = _service("public")
    del manifest["metadata"]["annotations"][SCHEME]
    public = await kube.create(SERVICES, manifest, namespace)
    live = await _existing_nlb(aws_api, cluster, public, [])
    aws_proxy.reset_counts()

    async with start_controller() as running:
        dns_name = await wait_for_service_hostname(running, kube, namespace, "public")
        assert dns_name == live["DNSName"].lower()
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [(b["LoadBalancerArn"], b["Scheme"]) for b in balancers] == [
            (live["LoadBalancerArn"], INTERNET_FACING)
        ]
        calls = aws_proxy.calls_by_operation()
        assert calls["CreateLoadBalancer"] == 0 and calls["DeleteLoadBalancer"] == 0, calls

        await kube.request("DELETE", SERVICES.object_path("public", namespace))
        await wait_for_service_gone(running, kube, namespace, "public")
