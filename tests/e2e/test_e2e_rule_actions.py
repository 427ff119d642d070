"""End to end: ``actions.<name>``, ``conditions.<name>`` and ``ssl-redirect`` on one ALB.

One Ingress listens on HTTP 80 and HTTPS 443 (a certificate from moto's ACM) with ssl-redirect to
443, a weighted forward to two Services behind an http-header condition, and a fixed response.
Checked in moto: the HTTP listener only redirects, the HTTPS rules carry the actions and conditions,
and the node SG lets the backend SG reach both Services' NodePorts. A second Ingress with a malformed
action gets a Warning naming it, the annotation and the value, without disturbing the first.
"""

from __future__ import annotations

import json
from typing import Any

from e2e_harness import StartController, eventually, wait_for_load_balancer, wait_for_warning
from e2e_objects import create_node_port_service, ingress_manifest, labelled_node_rules, security_groups_named

from controller.annotations import ING_CERTIFICATE_ARN, ING_LISTEN_PORTS, ING_SSL_REDIRECT
from controller.aws.client import AwsClient
from controller.aws.session import new_session
from controller.naming import backend_sg_name
from controller.sandbox.cluster import SandboxCluster
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.seed import SANDBOX_REGION
from framework.kube import INGRESSES, KubeClient

ACTIONS = "alb.ingress.kubernetes.io/actions."
CONDITIONS = "alb.ingress.kubernetes.io/conditions."
WEIGHTED = json.dumps(
    {
        "type": "forward",
        "forwardConfig": {
            "targetGroups": [
                {"serviceName": "blue", "servicePort": 80, "weight": 30},
                {"serviceName": "green", "servicePort": "80", "weight": 70},
            ]
        },
    }
)
MAINTENANCE = json.dumps(
    {"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503", "messageBody": "back soon"}}
)
CANARY_HEADER = json.dumps(
    [{"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["always"]}}]
)


async def request_certificate(moto: MotoServer) -> str:
    """ACM is not behind the sandbox proxy (the controller never calls it): ask moto directly."""
    async with new_session().create_client(
        "acm",
        region_name=SANDBOX_REGION,
        endpoint_url=moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as acm:
        return str((await acm.request_certificate(DomainName="shop.example.com"))["CertificateArn"])


def use_annotation(path: str, action: str) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": action, "port": {"name": "use-annotation"}}},
    }


async def test_weighted_forward_fixed_response_header_condition_and_ssl_redirect(
    aws_api: AwsClient,
    fresh_moto: MotoServer,
    kube: KubeClient,
    cluster: SandboxCluster,
    namespace: str,
    start_controller: StartController,
) -> None:
    blue_port = await create_node_port_service(kube, namespace, "blue")
    green_port = await create_node_port_service(kube, namespace, "green")
    certificate = await request_certificate(fresh_moto)
    shop = ingress_manifest(
        "shop",
        "blue",
        {
            ING_LISTEN_PORTS: '[{"HTTP": 80}, {"HTTPS": 443}]',
            ING_CERTIFICATE_ARN: certificate,
            ING_SSL_REDIRECT: "443",
            ACTIONS + "weighted": WEIGHTED,
            ACTIONS + "maintenance": MAINTENANCE,
            CONDITIONS + "weighted": CANARY_HEADER,
        },
    )
    shop["spec"]["rules"][0]["http"]["paths"] = [
        use_annotation("/shop", "weighted"),
        use_annotation("/maintenance", "maintenance"),
    ]
    bad_action = '{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"blue"}]}}'
    broken = ingress_manifest("broken", "weighted", {ACTIONS + "weighted": bad_action})
    broken["spec"]["rules"][0]["http"]["paths"] = [use_annotation("/", "weighted")]

    async with start_controller() as running:
        await kube.create(INGRESSES, broken, namespace)
        await kube.create(INGRESSES, shop, namespace)
        balancer = await wait_for_load_balancer(running, aws_api, kube, namespace, "shop")

        listeners = (
            await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=balancer["LoadBalancerArn"])
        )["Listeners"]
        by_port = {listener["Port"]: listener for listener in listeners}
        assert sorted(by_port) == [80, 443]
        assert by_port[80]["DefaultActions"] == [
            {
                "Type": "redirect",
                "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
            }
        ]

        async def rules(port: int) -> list[dict[str, Any]]:
            found = await aws_api.paginate(
                "elbv2", "DescribeRules", "Rules", ListenerArn=by_port[port]["ListenerArn"]
            )
            return sorted((r for r in found if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))

        assert await rules(80) == []
        maintenance, weighted = await rules(443)  # the longer prefix first
        assert maintenance["Actions"][0]["FixedResponseConfig"] == {
            "StatusCode": "503",
            "MessageBody": "back soon",
        }
        groups = {
            tg["TargetGroupArn"]: tg["Port"]
            for tg in (await aws_api.call("elbv2", "DescribeTargetGroups"))["TargetGroups"]
        }
        forwarded = weighted["Actions"][0]["ForwardConfig"]["TargetGroups"]
        assert [(groups[t["TargetGroupArn"]], t["Weight"]) for t in forwarded] == [
            (blue_port, 30),
            (green_port, 70),
        ]
        assert weighted["Conditions"] == [
            {
                "Field": "http-header",
                "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["always"]},
            },
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/shop", "/shop/*"]}},
        ]

        (backend_sg,) = await security_groups_named(
            aws_api, cluster.vpc.vpc_id, backend_sg_name(cluster.vpc.cluster_name)
        )

        async def both_node_ports_open() -> bool | None:
            opened = {
                (from_port, to_port)
                for source, _protocol, from_port, to_port in await labelled_node_rules(
                    aws_api, cluster.node_security_group_id
                )
                if source == backend_sg["GroupId"]
            }
            return True if {(blue_port, blue_port), (green_port, green_port)} <= opened else None

        await eventually(both_node_ports_open, what="both Services' NodePorts open to the backend SG")

        event = await wait_for_warning(
            running, kube, namespace, "broken", "FailedBuildModel", f"invalid {ACTIONS}weighted="
        )
        assert f"Ingress {namespace}/broken" in event["note"]
        assert "invalid ForwardConfig: invalid TargetGroupTuple: missing servicePort" in event["note"]
        assert '"serviceName":"blue"' in event["note"]

    assert running.process.returncode == 0, running.log()[-4000:]
