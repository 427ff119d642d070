"""End to end: ``aws-lb-sg-controller gc`` run as a user would, against what a crash leaves behind.

Each test plants leaks the way an interrupted clean-up leaves them (straight to AWS, bypassing the
controller), then runs ``python -m controller gc`` as its own process with the admin's kubeconfig:

* report only: exit 2, every planted leak listed and nothing else, 0 mutating AWS calls;
* ``--apply``: exactly the planted leaks go (rules first, then load balancers, target groups and
  their SGs, then the backend SG); a foreign SG, an unlabelled rule, another cluster's SG and a live
  stack (load balancer, target group, managed and backend SG, its binding's rule) are untouched;
* a leaked SG that something else still references is reported as blocked (exit 2) and left;
  the next run, once the reference is gone, removes it;
* the running controller exports the same counts (``awslbc_leaked_*``) on its resync.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
from e2e_harness import StartController, eventually, free_port, wait_for, wait_for_service_hostname
from e2e_objects import describe_security_group, ingress_rules, mutating_operations
from prometheus_client import CollectorRegistry

from controller.aws.client import AwsClient, open_aws_client
from controller.naming import (
    INGRESS_TAG_PREFIX,
    MANAGED_SG_RESOURCE_ID,
    SERVICE_TAG_PREFIX,
    TGB_RULE_DESCRIPTION,
    StackTags,
    backend_sg_name,
    backend_sg_tags,
    managed_sg_name_for_implicit_ingress,
)
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION
from framework.kube import SERVICES, KubeClient
from framework.testing.handle import ApiServerHandle

NLB_CLASS = "service.k8s.aws/nlb"
INTERNET_FACING = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}


@dataclass(frozen=True)
class GcRun:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


async def run_gc(kube_api: ApiServerHandle, aws_endpoint: str, cluster: SandboxCluster, *args: str) -> GcRun:
    """``python -m controller gc`` with the controller's flags, as a user runs it."""
    environment = dict(os.environ)
    environment.update(
        AWS_ENDPOINT_URL=aws_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=SANDBOX_REGION,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller",
        "gc",
        f"--cluster-name={cluster.vpc.cluster_name}",
        f"--kubeconfig={kube_api.kubeconfig_path}",
        f"--aws-vpc-id={cluster.vpc.vpc_id}",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return GcRun(process.returncode, stdout.decode(), stderr.decode())


# ---- planting what a crash leaves ---------------------------------------------------------------


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


async def create_sg(aws: AwsClient, cluster: SandboxCluster, name: str, tags: dict[str, str]) -> str:
    extra = (
        {"TagSpecifications": [{"ResourceType": "security-group", "Tags": _tag_list(tags)}]} if tags else {}
    )
    created = await aws.call(
        "ec2", "CreateSecurityGroup", GroupName=name, Description=name, VpcId=cluster.vpc.vpc_id, **extra
    )
    return str(created["GroupId"])


async def allow(aws: AwsClient, group_id: str, port: int, source: str, description: str) -> None:
    permission = {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": source, "Description": description}],
    }
    await aws.call("ec2", "AuthorizeSecurityGroupIngress", GroupId=group_id, IpPermissions=[permission])


async def plant_managed_sg(aws: AwsClient, cluster: SandboxCluster, stack: StackTags, name: str) -> str:
    return await create_sg(aws, cluster, name, stack.resource_tags(MANAGED_SG_RESOURCE_ID))


async def plant_service_lb_and_tg(
    aws: AwsClient, cluster: SandboxCluster, stack: StackTags
) -> tuple[str, str, str]:
    """A deleted Service's NLB (with its managed SG attached) and target group: a crash before the
    clean-up deleted anything. Returns (LB ARN, TG ARN, SG id)."""
    group_id = await plant_managed_sg(aws, cluster, stack, "k8s-gone-svc-managed")
    balancer = await aws.call(
        "elbv2",
        "CreateLoadBalancer",
        Name="k8s-ns-gonesvc-0123456789",
        Type="network",
        Scheme="internet-facing",
        Subnets=list(cluster.vpc.subnet_ids),
        SecurityGroups=[group_id],
        Tags=_tag_list(stack.resource_tags("LoadBalancer")),
    )
    target_group = await aws.call(
        "elbv2",
        "CreateTargetGroup",
        Name="k8s-ns-gonesvc-9876543210",
        Protocol="TCP",
        Port=80,
        VpcId=cluster.vpc.vpc_id,
        TargetType="instance",
        Tags=_tag_list(stack.resource_tags(f"{stack.stack_id}:80")),
    )
    return (
        str(balancer["LoadBalancers"][0]["LoadBalancerArn"]),
        str(target_group["TargetGroups"][0]["TargetGroupArn"]),
        group_id,
    )


async def delete_behind_the_proxys_back(moto: MotoServer, group_id: str) -> None:
    """Delete an SG that rules still name (AWS keeps such stale rules, e.g. when the source SG was
    in a peered VPC): straight to moto, since the proxy answers DependencyViolation as AWS would."""
    async with open_aws_client(sandbox_settings(moto.url), CollectorRegistry()) as direct:
        await direct.call("ec2", "DeleteSecurityGroup", GroupId=group_id)


# ---- reading AWS --------------------------------------------------------------------------------


async def node_rules(aws: AwsClient, node_sg: str) -> set[tuple[int, str, str]]:
    """(port, source SG, description) of every SG-sourced rule on the node SG."""
    return {
        (int(permission["FromPort"]), str(pair["GroupId"]), str(pair.get("Description", "")))
        for permission in await ingress_rules(aws, node_sg)
        for pair in permission.get("UserIdGroupPairs", [])
    }


async def load_balancer_arns(aws: AwsClient) -> set[str]:
    return {
        lb["LoadBalancerArn"] for lb in (await aws.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
    }


async def target_group_arns(aws: AwsClient) -> set[str]:
    return {tg["TargetGroupArn"] for tg in (await aws.call("elbv2", "DescribeTargetGroups"))["TargetGroups"]}


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        return await response.text()


def nlb_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": INTERNET_FACING},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": NLB_CLASS,
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


# ---- the tests ----------------------------------------------------------------------------------


async def test_gc_reports_every_planted_leak_then_removes_exactly_those(
    kube_api: ApiServerHandle,
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    fresh_moto: MotoServer,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    cluster_name, node_sg = cluster.vpc.cluster_name, cluster.node_security_group_id
    gone_service = StackTags(cluster_name, SERVICE_TAG_PREFIX, f"{namespace}/gone-svc")
    gone_ingress = StackTags(cluster_name, INGRESS_TAG_PREFIX, f"{namespace}/gone-ing")

    # A live stack, made by the controller: NLB, target group, managed SG, backend SG, node rule.
    async with start_controller("--sync-period=2s") as running:
        created = await kube.create(SERVICES, nlb_service("live"), namespace)
        await wait_for_service_hostname(running, kube, namespace, "live")
        backend = (await describe_backend(aws_api, cluster))["GroupId"]

        async def live_rule() -> bool | None:
            return True if any(src == backend for _, src, _ in await node_rules(aws_api, node_sg)) else None

        await wait_for(running, live_rule, "the live Service's labelled rule on the node SG")
        # A deleted Service's NLB and target group, as a crash before its clean-up leaves them:
        # the running controller counts them on its next resync.
        gone_lb, gone_tg, gone_svc_sg = await plant_service_lb_and_tg(aws_api, cluster, gone_service)

        async def counted() -> str | None:
            text = await scrape(running.metrics_port)
            wanted = ("awslbc_leaked_load_balancers 1.0", "awslbc_leaked_target_groups 1.0")
            return text if all(line in text.splitlines() for line in wanted) else None

        metrics = await wait_for(running, counted, "awslbc_leaked_* counting the planted NLB", within=60)
        assert "awslbc_leaked_security_groups 1.0" in metrics.splitlines()
        assert created["metadata"]["uid"]
    # The controller is down (crashed): the rest of the leaks.
    live_lbs, live_tgs = (
        await load_balancer_arns(aws_api) - {gone_lb},
        await target_group_arns(aws_api) - {gone_tg},
    )
    live_sgs = {g["GroupId"] for g in await our_sgs(aws_api, cluster)} - {gone_svc_sg}
    gone_ing_sg = await plant_managed_sg(
        aws_api,
        cluster,
        gone_ingress,
        managed_sg_name_for_implicit_ingress(cluster_name, namespace, "gone-ing"),
    )
    foreign = await create_sg(aws_api, cluster, "foreign", {"Name": "foreign"})
    other_cluster = await create_sg(
        aws_api,
        cluster,
        "other-cluster",
        StackTags("other", INGRESS_TAG_PREFIX, f"{namespace}/gone-ing").resource_tags(MANAGED_SG_RESOURCE_ID),
    )
    deleted_source = await create_sg(aws_api, cluster, "deleted-source", {})
    await allow(aws_api, node_sg, 31001, deleted_source, TGB_RULE_DESCRIPTION)
    await delete_behind_the_proxys_back(fresh_moto, deleted_source)
    await allow(aws_api, node_sg, 31002, foreign, TGB_RULE_DESCRIPTION)  # no binding names foreign
    await allow(aws_api, node_sg, 22, foreign, "ops")  # not ours: unlabelled
    rules_before = await node_rules(aws_api, node_sg)
    assert (31001, deleted_source, TGB_RULE_DESCRIPTION) in rules_before  # AWS keeps the stale rule

    # Report only.
    aws_proxy.reset_counts()
    report = await run_gc(kube_api, aws_proxy.url, cluster, "-o", "json")
    assert report.exit_code == 2, report
    assert mutating_operations(aws_proxy) == []
    found = report.json()
    assert {g["groupID"]: g["kind"] for g in found["securityGroups"]} == {
        gone_ing_sg: "managed",
        gone_svc_sg: "managed",
    }
    assert [r["arn"] for r in found["loadBalancers"]] == [gone_lb]
    assert [r["arn"] for r in found["targetGroups"]] == [gone_tg]
    assert [(r["groupID"], r["fromPort"], r["reason"]) for r in found["rules"]] == [
        (node_sg, 31001, "source security group does not exist"),
        (node_sg, 31002, "no TargetGroupBinding names this source"),
    ]
    text = await run_gc(kube_api, aws_proxy.url, cluster)
    assert text.exit_code == 2 and "6 leaked" in text.stdout, text
    assert mutating_operations(aws_proxy) == []

    # Apply: exactly the planted leaks go, each with one call, in a safe order.
    aws_proxy.reset_counts()
    applied = await run_gc(kube_api, aws_proxy.url, cluster, "--apply")
    assert applied.exit_code == 0, applied
    assert mutating_operations(aws_proxy) == [
        "RevokeSecurityGroupIngress",  # the rule no binding names, by its source
        "RevokeSecurityGroupIngress",  # the rule whose source SG is gone, by its rule id
        "DeleteSecurityGroup",  # the deleted Ingress's stack
        "DeleteLoadBalancer",  # the deleted Service's stack: its NLB lets go of its SG first
        "DeleteTargetGroup",
        "DeleteSecurityGroup",
    ]
    assert await load_balancer_arns(aws_api) == live_lbs
    assert await target_group_arns(aws_api) == live_tgs
    assert {g["GroupId"] for g in await our_sgs(aws_api, cluster)} == live_sgs
    assert await describe_security_group(aws_api, foreign) is not None
    assert await describe_security_group(aws_api, other_cluster) is not None
    assert await node_rules(aws_api, node_sg) == rules_before - {
        (31001, deleted_source, TGB_RULE_DESCRIPTION),
        (31002, foreign, TGB_RULE_DESCRIPTION),
    }
    again = await run_gc(kube_api, aws_proxy.url, cluster)
    assert again.exit_code == 0 and "No leaks." in again.stdout, again


async def test_the_backend_sg_goes_after_its_rules_and_a_referenced_sg_is_left_for_a_later_run(
    kube_api: ApiServerHandle,
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    cluster: SandboxCluster,
    namespace: str,
) -> None:
    cluster_name, node_sg = cluster.vpc.cluster_name, cluster.node_security_group_id
    # The last Service was deleted up to its load balancer; then the process died: the backend SG
    # is left, with its binding's rule on the node SG still naming it.
    backend = await create_sg(aws_api, cluster, backend_sg_name(cluster_name), backend_sg_tags(cluster_name))
    await allow(aws_api, node_sg, 30080, backend, TGB_RULE_DESCRIPTION)
    # A deleted Ingress's managed SG that someone else's rule still refers to.
    gone = StackTags(cluster_name, INGRESS_TAG_PREFIX, f"{namespace}/gone")
    managed = await plant_managed_sg(aws_api, cluster, gone, "k8s-gone-managed")
    someone_else = await create_sg(aws_api, cluster, "someone-else", {})
    await allow(aws_api, someone_else, 443, managed, "allow the old ALB")

    aws_proxy.reset_counts()
    report = await run_gc(kube_api, aws_proxy.url, cluster)
    assert report.exit_code == 2, report
    assert mutating_operations(aws_proxy) == []
    assert "backend SG: no load balancer uses it" in report.stdout and backend in report.stdout, report.stdout

    first = await run_gc(kube_api, aws_proxy.url, cluster, "--apply", "-o", "json")
    assert first.exit_code == 2, first  # something is left for a later run
    outcomes = {(a["kind"], a["status"]) for a in first.json()["applied"]}
    assert outcomes == {("rules", "removed"), ("stack", "blocked"), ("backend-security-group", "removed")}
    blocked = next(a for a in first.json()["applied"] if a["status"] == "blocked")
    assert managed in blocked["detail"] and "DependencyViolation" in blocked["detail"], blocked
    assert await describe_security_group(aws_api, backend) is None
    assert await describe_security_group(aws_api, managed) is not None
    # Never ours to touch: the rule that holds the SG stays.
    assert (443, managed, "allow the old ALB") in await node_rules(aws_api, someone_else)

    permission = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": managed, "Description": "allow the old ALB"}],
    }
    await aws_api.call("ec2", "RevokeSecurityGroupIngress", GroupId=someone_else, IpPermissions=[permission])
    second = await run_gc(kube_api, aws_proxy.url, cluster, "--apply")
    assert second.exit_code == 0, second
    assert await describe_security_group(aws_api, managed) is None
    assert (await run_gc(kube_api, aws_proxy.url, cluster)).exit_code == 0


async def test_gc_flag_errors_and_unreachable_aws_exit_1(
    kube_api: ApiServerHandle, aws_proxy: AwsProxy, cluster: SandboxCluster
) -> None:
    bad_flag = await run_gc(kube_api, aws_proxy.url, cluster, "--output=yaml")
    assert bad_flag.exit_code == 1 and "--output" in bad_flag.stderr, bad_flag
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    unreachable = await run_gc(kube_api, nobody_listens, cluster, "--aws-max-retries=0")
    assert unreachable.exit_code == 1 and "error" in unreachable.stderr, unreachable


async def describe_backend(aws: AwsClient, cluster: SandboxCluster) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        groups = await aws.paginate(
            "ec2",
            "DescribeSecurityGroups",
            "SecurityGroups",
            Filters=[{"Name": "group-name", "Values": [backend_sg_name(cluster.vpc.cluster_name)]}],
        )
        return groups[0] if groups else None

    return await eventually(found, what="the backend SG")


async def our_sgs(aws: AwsClient, cluster: SandboxCluster) -> list[dict[str, Any]]:
    groups = await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster.vpc.cluster_name]}],
    )
    return groups
