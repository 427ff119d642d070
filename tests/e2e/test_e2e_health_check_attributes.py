"""End to end: NLB health-check annotations, LB and target-group attributes, deletion protection.

One Service, one controller process, real kube-apiserver and moto behind the AWS-like proxy:

* a custom numeric health-check port opens exactly that extra port on the node SG (next to the
  NodePort, from the backend SG), and the target group carries every health-check annotation;
* ``aws-load-balancer-attributes`` and ``aws-load-balancer-target-group-attributes`` reach AWS,
  and editing them back to AWS's defaults reverts them in AWS;
* deleting the Service while the attributes ask for deletion protection keeps the NLB, its node
  SG rules and the finalizer, with a ``FailedBuildModel`` Warning naming the attribute; setting it
  to false lets the deletion finish and leaves nothing of ours.
"""

from __future__ import annotations

from typing import Any

from e2e_harness import StartController, wait_for, wait_for_nothing_of_ours_left, wait_for_service_gone
from e2e_objects import ingress_rules, labelled_group_rules, namespace_events, security_groups_named

from controller.aws.client import AwsClient
from controller.naming import backend_sg_name
from controller.sandbox.cluster import SandboxCluster
from framework import objects
from framework.kube import SERVICES, KubeClient

PREFIX = "service.beta.kubernetes.io/"
LB_ATTRIBUTES = PREFIX + "aws-load-balancer-attributes"
TG_ATTRIBUTES = PREFIX + "aws-load-balancer-target-group-attributes"
HEALTH_CHECK_PORT = 10256  # kube-proxy's healthz port: a typical health-check port off the data path
HEALTH_CHECK = {
    PREFIX + "aws-load-balancer-healthcheck-port": str(HEALTH_CHECK_PORT),
    PREFIX + "aws-load-balancer-healthcheck-protocol": "HTTP",
    PREFIX + "aws-load-balancer-healthcheck-path": "/healthz",
    PREFIX + "aws-load-balancer-healthcheck-interval": "30",
    PREFIX + "aws-load-balancer-healthcheck-timeout": "6",
    PREFIX + "aws-load-balancer-healthcheck-healthy-threshold": "5",
    PREFIX + "aws-load-balancer-healthcheck-unhealthy-threshold": "4",
    PREFIX + "aws-load-balancer-healthcheck-success-codes": "200-299",
}


def _service(lb_attributes: str, tg_attributes: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "guarded",
            "annotations": {
                PREFIX + "aws-load-balancer-scheme": "internet-facing",
                **HEALTH_CHECK,
                LB_ATTRIBUTES: lb_attributes,
                TG_ATTRIBUTES: tg_attributes,
            },
        },
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "selector": {"app": "guarded"},
            "ports": [{"name": "tcp", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }


async def _attributes(aws: AwsClient, operation: str, **arn: str) -> dict[str, str]:
    response = await aws.call("elbv2", operation, **arn)
    return {a["Key"]: a["Value"] for a in response["Attributes"]}


async def test_health_check_port_attributes_and_deletion_protection(
    aws_api: AwsClient,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    async with start_controller() as running:
        created = await kube.create(
            SERVICES,
            _service(
                "deletion_protection.enabled=true,load_balancing.cross_zone.enabled=true",
                "deregistration_delay.timeout_seconds=30",
            ),
            namespace,
        )
        node_port = int(created["spec"]["ports"][0]["nodePort"])

        async def deployed() -> tuple[dict[str, Any], dict[str, Any]] | None:
            balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
            if not balancers:
                return None
            [lb] = balancers
            groups = await aws_api.call(
                "elbv2", "DescribeTargetGroups", LoadBalancerArn=lb["LoadBalancerArn"]
            )
            return (lb, groups["TargetGroups"][0]) if groups["TargetGroups"] else None

        lb, tg = await wait_for(running, deployed, "the NLB and its target group")
        lb_arn, tg_arn = lb["LoadBalancerArn"], tg["TargetGroupArn"]
        assert (
            tg["HealthCheckPort"], tg["HealthCheckProtocol"], tg["HealthCheckPath"],
            tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"],
            tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"], tg["Matcher"]["HttpCode"],
        ) == (str(HEALTH_CHECK_PORT), "HTTP", "/healthz", 30, 6, 5, 4, "200-299")  # fmt: skip

        # Exactly the NodePort and the health-check port, both from the backend SG.
        [backend] = await security_groups_named(
            aws_api, cluster.vpc.vpc_id, backend_sg_name(cluster.vpc.cluster_name)
        )
        wanted = {
            ("tcp", node_port, node_port, backend["GroupId"]),
            ("tcp", HEALTH_CHECK_PORT, HEALTH_CHECK_PORT, backend["GroupId"]),
        }

        async def node_rules() -> bool | None:
            rules = labelled_group_rules(await ingress_rules(aws_api, cluster.node_security_group_id))
            return True if rules == wanted else None

        await wait_for(running, node_rules, f"exactly {sorted(wanted)} on the node SG")

        async def attributes_are(lb_wanted: dict[str, str], tg_wanted: dict[str, str]) -> bool | None:
            lb_now = await _attributes(aws_api, "DescribeLoadBalancerAttributes", LoadBalancerArn=lb_arn)
            tg_now = await _attributes(aws_api, "DescribeTargetGroupAttributes", TargetGroupArn=tg_arn)
            ok = all(lb_now.get(k) == v for k, v in lb_wanted.items()) and all(
                tg_now.get(k) == v for k, v in tg_wanted.items()
            )
            return True if ok else None

        await wait_for(
            running,
            lambda: attributes_are(
                {"deletion_protection.enabled": "true", "load_balancing.cross_zone.enabled": "true"},
                {"deregistration_delay.timeout_seconds": "30"},
            ),
            "the attributes in AWS",
        )

        # Reverted to AWS's defaults by editing the annotations.
        service = await kube.get(SERVICES, "guarded", namespace)
        service["metadata"]["annotations"][LB_ATTRIBUTES] = (
            "deletion_protection.enabled=true,load_balancing.cross_zone.enabled=false"
        )
        service["metadata"]["annotations"][TG_ATTRIBUTES] = "deregistration_delay.timeout_seconds=300"
        await kube.replace(SERVICES, "guarded", service, namespace)
        await wait_for(
            running,
            lambda: attributes_are(
                {"load_balancing.cross_zone.enabled": "false"},
                {"deregistration_delay.timeout_seconds": "300"},
            ),
            "the attributes reverted in AWS",
        )

        # Deletion protection: the NLB, its node SG rules and the finalizer stay, with a Warning.
        await objects.delete(kube, SERVICES, "guarded", namespace)

        async def refused() -> dict[str, Any] | None:
            for event in await namespace_events(kube, namespace):
                if (
                    event["reason"] == "FailedBuildModel"
                    and "deletion_protection is enabled" in event["note"]
                ):
                    return event
            return None

        event = await wait_for(running, refused, "the FailedBuildModel Warning of the protected deletion")
        assert event["type"] == "Warning"
        assert f"{LB_ATTRIBUTES} has deletion_protection.enabled=true" in event["note"]
        assert lb["LoadBalancerName"] in event["note"]
        balancers = (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"]
        assert [b["LoadBalancerArn"] for b in balancers] == [lb_arn]
        assert labelled_group_rules(await ingress_rules(aws_api, cluster.node_security_group_id)) == wanted
        assert (await kube.get(SERVICES, "guarded", namespace))["metadata"]["finalizers"]

        # Turned off: the deletion finishes and nothing of ours is left.
        service = await kube.get(SERVICES, "guarded", namespace)
        service["metadata"]["annotations"][LB_ATTRIBUTES] = "deletion_protection.enabled=false"
        await kube.replace(SERVICES, "guarded", service, namespace)
        await wait_for_service_gone(running, kube, namespace, "guarded")
        await wait_for_nothing_of_ours_left(
            running,
            aws_api,
            cluster,
            what="no NLB, TG, SG or labelled rule of ours left",
            count_cidr_sources=True,
        )
