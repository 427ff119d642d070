"""End to end: an Ingress becomes an ALB with its security groups, and deleting it leaves nothing.

Drives the controller process only through the Kubernetes API and reads AWS (moto behind the
proxy). Covers reference scenarios 1/5 (managed SG name, description and tags), 8 (the backend SG
is created lazily with upstream's name and tags), 10 (listen-ports x inbound-cidrs rules), 36 (the
NodePort opened on the node SG from the backend SG, labelled), 16 (a malformed annotation is a
Warning event naming object, key and value, while another Ingress keeps reconciling) and the
deletion guarantee: no LB, target group or SG of ours is left, and no rule of ours on node SGs.
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
    wait_for_warning,
)
from e2e_objects import (
    create_node_port_service,
    ingress_manifest,
    ingress_rules,
    labelled_node_rules,
    load_balancer_hostname,
    mutating_operations,
    namespace_events,
    security_groups_named,
    tags_of,
)

from controller.annotations import ING_TAGS
from controller.aws.client import AwsClient
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    backend_sg_name,
    managed_sg_name_for_implicit_ingress,
)
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, KubeClient


async def test_ingress_gets_an_alb_with_its_security_groups_and_deleting_it_leaves_nothing(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    vpc_id = cluster.vpc.vpc_id
    cluster_name = cluster.vpc.cluster_name
    node_port = await create_node_port_service(kube, namespace, "echo")
    await create_node_port_service(kube, namespace, "other")
    annotations = {
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTP": 8080}]',
        "alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/8, 192.168.0.0/16",
    }

    async with start_controller() as running:
        await kube.create(
            INGRESSES,
            ingress_manifest(
                "broken",
                "other",
                {"alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/33"},
                internet_facing=False,
            ),
            namespace,
        )
        await kube.create(INGRESSES, ingress_manifest("echo", "echo", annotations), namespace)

        async def hostname() -> str | None:
            return await load_balancer_hostname(kube, INGRESSES, namespace, "echo")

        dns_name = await wait_for(running, hostname, "the ALB hostname in the Ingress status", within=90)

        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [lb["DNSName"].lower() for lb in balancers] == [dns_name]
        managed = await security_groups_named(
            aws_api, vpc_id, managed_sg_name_for_implicit_ingress(cluster_name, namespace, "echo")
        )
        backend = await security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name))
        assert len(managed) == 1 and len(backend) == 1
        managed_sg, backend_sg = managed[0], backend[0]
        assert balancers[0]["SecurityGroups"] == [managed_sg["GroupId"], backend_sg["GroupId"]]
        # Scenario 1/5: upstream's description and tags on the managed SG.
        assert managed_sg["Description"] == MANAGED_SG_DESCRIPTION
        assert tags_of(managed_sg)["elbv2.k8s.aws/cluster"] == cluster_name
        assert tags_of(managed_sg)["ingress.k8s.aws/stack"] == f"{namespace}/echo"
        assert tags_of(managed_sg)["ingress.k8s.aws/resource"] == "ManagedLBSecurityGroup"
        # Scenario 8: the backend SG's tracking tags.
        assert tags_of(backend_sg)["elbv2.k8s.aws/resource"] == "backend-sg"
        # Scenario 10: 2 listen ports x 2 CIDRs, nothing else.
        frontend = {
            (p["FromPort"], r["CidrIp"])
            for p in await ingress_rules(aws_api, managed_sg["GroupId"])
            for r in p.get("IpRanges", [])
        }
        assert frontend == {
            (80, "10.0.0.0/8"),
            (80, "192.168.0.0/16"),
            (8080, "10.0.0.0/8"),
            (8080, "192.168.0.0/16"),
        }

        # Scenario 36: the node SG lets the backend SG reach the NodePort, with our label.
        async def node_rule() -> bool | None:
            for source, _protocol, from_port, to_port in await labelled_node_rules(
                aws_api, cluster.node_security_group_id
            ):
                if source == backend_sg["GroupId"] and (from_port, to_port) == (node_port, node_port):
                    return True
            return None

        await eventually(node_rule, what="the NodePort rule from the backend SG on the node SG")

        # Scenario 16: the malformed Ingress got a Warning naming object, key and value.
        async def warning() -> dict[str, Any] | None:
            for event in await namespace_events(kube, namespace):
                if event.get("reason") == "FailedBuildModel" and event["regarding"]["name"] == "broken":
                    return event
            return None

        event = await eventually(warning, what="a FailedBuildModel event on the broken Ingress")
        assert event["type"] == "Warning"
        assert "alb.ingress.kubernetes.io/inbound-cidrs" in event["note"] and "10.0.0.0/33" in event["note"]

        # Both deletions are in flight together; only the Ingress that got an ALB must be released.
        await kube.request("DELETE", INGRESSES.object_path("broken", namespace))
        with controller_log_on_failure(running):
            await delete_and_wait_gone(
                kube, INGRESSES, namespace, ["echo"], what="the Ingress finalizer released"
            )
        await wait_for_nothing_of_ours_left(
            running,
            aws_api,
            cluster,
            what="no LB, TG, SG or labelled rule of ours left",
            count_cidr_sources=False,
        )

    assert running.process.returncode == 0, running.log()[-4000:]


async def test_tags_aws_would_refuse_are_a_warning_and_create_nothing_until_fixed(
    aws_proxy: AwsProxy,
    aws_api: AwsClient,
    kube: KubeClient,
    namespace: str,
    start_controller: StartController,
) -> None:
    """A quote (refused by ELBv2) and a 100 KB value (refused by EC2 and ELBv2) in the tags
    annotation: a FailedBuildModel Warning naming the Ingress, the annotation and the tag key, and
    no AWS call that changes anything. Once fixed, the ALB carries the tag."""
    await create_node_port_service(kube, namespace, "echo")
    bad_tags = 'team=say "hi", blob=' + "v" * 102400
    aws_proxy.reset_counts()

    async with start_controller() as running:
        await kube.create(INGRESSES, ingress_manifest("tagged", "echo", {ING_TAGS: bad_tags}), namespace)
        event = await wait_for_warning(
            running, kube, namespace, "tagged", "FailedBuildModel", f"invalid {ING_TAGS}="
        )
        assert f"Ingress {namespace}/tagged" in event["note"], event["note"]
        assert "the value of tag key 'team' contains '\"', which ELBv2 does not allow" in event["note"]
        assert mutating_operations(aws_proxy) == [], "a refused tag must not change AWS"

        current = await kube.get(INGRESSES, "tagged", namespace)
        current["metadata"]["annotations"][ING_TAGS] = "team=say hi"
        await kube.replace(INGRESSES, "tagged", current, namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "tagged")
        described = await aws_api.call("elbv2", "DescribeTags", ResourceArns=[balancer["LoadBalancerArn"]])
        assert tags_of(described["TagDescriptions"][0])["team"] == "say hi"

        await delete_ingresses_and_wait(running, kube, namespace, "tagged")

    assert running.process.returncode == 0, running.log()[-4000:]
