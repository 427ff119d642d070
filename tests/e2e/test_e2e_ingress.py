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

from conftest import StartController
from e2e_harness import eventually, ingress_rules

from controller.aws.client import AwsClient
from controller.naming import (
    MANAGED_SG_DESCRIPTION,
    TGB_RULE_DESCRIPTION,
    backend_sg_name,
    managed_sg_name_for_implicit_ingress,
)
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.proxy import AwsProxy
from framework.kube import INGRESSES, SERVICES, KubeApiError, KubeClient


def _ingress(name: str, service: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations},
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


async def _node_port_service(kube: KubeClient, namespace: str, name: str) -> int:
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


async def _security_groups_named(aws: AwsClient, vpc_id: str, name: str) -> list[dict[str, Any]]:
    return await aws.paginate(
        "ec2",
        "DescribeSecurityGroups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}],
    )


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


async def _events(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    listed = await kube.request("GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    items: list[dict[str, Any]] = listed.get("items", [])
    return items


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
    node_port = await _node_port_service(kube, namespace, "echo")
    await _node_port_service(kube, namespace, "other")
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTP": 8080}]',
        "alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/8, 192.168.0.0/16",
    }

    async with start_controller() as running:
        await kube.create(
            INGRESSES,
            _ingress("broken", "other", {"alb.ingress.kubernetes.io/inbound-cidrs": "10.0.0.0/33"}),
            namespace,
        )
        await kube.create(INGRESSES, _ingress("echo", "echo", annotations), namespace)

        async def hostname() -> str | None:
            ingress = await kube.get(INGRESSES, "echo", namespace)
            entries = (ingress.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            return entries[0].get("hostname") if entries else None

        try:
            dns_name = await eventually(hostname, what="the ALB hostname in the Ingress status", within=90)
        except AssertionError as error:
            raise AssertionError(f"{error}\ncontroller log:\n{running.log()[-6000:]}") from None

        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [lb["DNSName"].lower() for lb in balancers] == [dns_name]
        managed = await _security_groups_named(
            aws_api, vpc_id, managed_sg_name_for_implicit_ingress(cluster_name, namespace, "echo")
        )
        backend = await _security_groups_named(aws_api, vpc_id, backend_sg_name(cluster_name))
        assert len(managed) == 1 and len(backend) == 1
        managed_sg, backend_sg = managed[0], backend[0]
        assert balancers[0]["SecurityGroups"] == [managed_sg["GroupId"], backend_sg["GroupId"]]
        # Scenario 1/5: upstream's description and tags on the managed SG.
        assert managed_sg["Description"] == MANAGED_SG_DESCRIPTION
        assert _tags(managed_sg)["elbv2.k8s.aws/cluster"] == cluster_name
        assert _tags(managed_sg)["ingress.k8s.aws/stack"] == f"{namespace}/echo"
        assert _tags(managed_sg)["ingress.k8s.aws/resource"] == "ManagedLBSecurityGroup"
        # Scenario 8: the backend SG's tracking tags.
        assert _tags(backend_sg)["elbv2.k8s.aws/resource"] == "backend-sg"
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
            for permission in await ingress_rules(aws_api, cluster.node_security_group_id):
                for pair in permission.get("UserIdGroupPairs", []):
                    if (
                        pair.get("GroupId") == backend_sg["GroupId"]
                        and pair.get("Description") == TGB_RULE_DESCRIPTION
                        and (permission["FromPort"], permission["ToPort"]) == (node_port, node_port)
                    ):
                        return True
            return None

        await eventually(node_rule, what="the NodePort rule from the backend SG on the node SG")

        # Scenario 16: the malformed Ingress got a Warning naming object, key and value.
        async def warning() -> dict[str, Any] | None:
            for event in await _events(kube, namespace):
                if event.get("reason") == "FailedBuildModel" and event["regarding"]["name"] == "broken":
                    return event
            return None

        event = await eventually(warning, what="a FailedBuildModel event on the broken Ingress")
        assert event["type"] == "Warning"
        assert "alb.ingress.kubernetes.io/inbound-cidrs" in event["note"] and "10.0.0.0/33" in event["note"]

        await kube.request("DELETE", INGRESSES.object_path("echo", namespace))
        await kube.request("DELETE", INGRESSES.object_path("broken", namespace))

        async def ingress_gone() -> bool | None:
            try:
                await kube.get(INGRESSES, "echo", namespace)
            except KubeApiError as error:
                return True if error.status == 404 else None
            return None

        await eventually(ingress_gone, what="the Ingress finalizer released", within=90)

        async def nothing_left() -> bool | None:
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            groups = (await aws_api.call("elbv2", "DescribeTargetGroups"))["TargetGroups"]
            ours = await aws_api.paginate(
                "ec2",
                "DescribeSecurityGroups",
                "SecurityGroups",
                Filters=[{"Name": "tag:elbv2.k8s.aws/cluster", "Values": [cluster_name]}],
            )
            labelled = [
                pair
                for permission in await ingress_rules(aws_api, cluster.node_security_group_id)
                for pair in permission.get("UserIdGroupPairs", [])
                if pair.get("Description") == TGB_RULE_DESCRIPTION
            ]
            assert not (balancers or groups or ours or labelled), (
                f"left: LBs {len(balancers)}, TGs {len(groups)}, SGs {[g['GroupId'] for g in ours]}, rules {labelled}"
            )
            return True

        try:
            await eventually(nothing_left, what="no LB, TG, SG or labelled rule of ours left", within=120)
        except AssertionError as error:
            raise AssertionError(f"{error}\ncontroller log:\n{running.log()[-6000:]}") from None

    assert running.process.returncode == 0, running.log()[-4000:]
