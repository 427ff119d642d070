"""Listener rules and default actions from ``actions.<name>``, ``conditions.<name>`` and ``ssl-redirect``
deployed to moto: the ELBv2 request shapes, no churn on a second deploy, and the changes between them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deploy_factories import DeployerFactory, build_alb_model, node_port_service

from controller.annotations import ING_CERTIFICATE_ARN, ING_LISTEN_PORTS, ING_SCHEME, ING_SSL_REDIRECT
from controller.aws.api import AwsApi
from controller.aws.elbv2_types import ForwardTarget, ListenerAction, Redirect, Stickiness
from controller.aws.session import new_session
from controller.deploy.listeners import action_key
from controller.model import StackModel
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION

ACTIONS = "alb.ingress.kubernetes.io/actions."
CONDITIONS = "alb.ingress.kubernetes.io/conditions."


def weighted(blue: int, green: int) -> str:
    return json.dumps(
        {
            "type": "forward",
            "forwardConfig": {
                "targetGroups": [
                    {"serviceName": "blue", "servicePort": "http", "weight": blue},
                    {"serviceName": "green", "servicePort": "http", "weight": green},
                ],
                "targetGroupStickinessConfig": {"enabled": True, "durationSeconds": 120},
            },
        }
    )


FIXED = json.dumps(
    {
        "type": "fixed-response",
        "fixedResponseConfig": {"contentType": "text/plain", "statusCode": "503", "messageBody": "down"},
    }
)
REDIRECT = json.dumps(
    {"type": "redirect", "redirectConfig": {"host": "example.org", "statusCode": "HTTP_302"}}
)
CONDITIONS_SVC_1 = json.dumps(
    [
        {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes"]}},
        {"field": "http-request-method", "httpRequestMethodConfig": {"values": ["GET"]}},
        {
            "field": "query-string",
            "queryStringConfig": {"values": [{"key": "v", "value": "2"}, {"value": "x"}]},
        },
        {"field": "source-ip", "sourceIPConfig": {"values": ["10.0.0.0/8"]}},
    ]
)
SERVICES = [
    node_port_service("svc-1", node_port=32001),
    node_port_service("blue", node_port=32002),
    node_port_service("green", node_port=32003),
]


def path(value: str, service: str, port: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "path": value,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": dict(port)}},
    }


def rules_ingress(annotations: Mapping[str, str]) -> dict[str, Any]:
    use = {"name": "use-annotation"}
    paths = [
        path("/weighted", "weighted", use),
        path("/down", "down", use),
        path("/moved", "moved", use),
        path("/", "svc-1", {"name": "http"}),
    ]
    return {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "annotations": {ING_SCHEME: "internet-facing", **annotations},
        },
        "spec": {"rules": [{"http": {"paths": paths}}]},
    }


async def rules_model(blue: int = 40, green: int = 60) -> StackModel:
    annotations = {
        ACTIONS + "weighted": weighted(blue, green),
        ACTIONS + "down": FIXED,
        ACTIONS + "moved": REDIRECT,
        CONDITIONS + "svc-1": CONDITIONS_SVC_1,
    }
    return await build_alb_model(rules_ingress(annotations), services=SERVICES)


async def described_rules(api: AwsApi, lb_arn: str, port: int) -> list[dict[str, Any]]:
    listeners = (await api.call("elbv2", "DescribeListeners", LoadBalancerArn=lb_arn))["Listeners"]
    (listener,) = [entry for entry in listeners if entry["Port"] == port]
    rules = await api.paginate("elbv2", "DescribeRules", "Rules", ListenerArn=listener["ListenerArn"])
    return sorted((r for r in rules if not r.get("IsDefault")), key=lambda r: int(r["Priority"]))


async def test_rule_actions_and_conditions_deploy_converge_and_change(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await rules_model()
    result = await deployer.deploy(model, backend_sg_id=backend_sg)
    tg_arns = result.target_group_arns
    blue, green = tg_arns["default/web-blue:http"], tg_arns["default/web-green:http"]

    # Prefix paths longest first: /weighted, /moved, /down, /.
    weighted_rule, moved, down, svc_1 = await described_rules(aws_api, result.lb_arn, 80)
    (forward,) = weighted_rule["Actions"]
    assert forward["ForwardConfig"]["TargetGroups"] == [
        {"TargetGroupArn": blue, "Weight": 40},
        {"TargetGroupArn": green, "Weight": 60},
    ]
    assert forward["ForwardConfig"]["TargetGroupStickinessConfig"] == {
        "Enabled": True,
        "DurationSeconds": 120,
    }
    assert down["Actions"][0]["FixedResponseConfig"] == {
        "StatusCode": "503",
        "ContentType": "text/plain",
        "MessageBody": "down",
    }
    assert moved["Actions"][0]["RedirectConfig"] == {"Host": "example.org", "StatusCode": "HTTP_302"}
    assert svc_1["Conditions"] == [
        {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}},
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}},
        {
            "Field": "query-string",
            "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "x"}]},
        },
        {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}},
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
    ]

    # Same model again: what AWS reports compares equal to what we want, so nothing is written.
    aws_proxy.reset_counts()
    await deployer.deploy(await rules_model(), backend_sg_id=backend_sg)
    assert {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")} == set()

    # New weights: only that rule is modified.
    aws_proxy.reset_counts()
    await deployer.deploy(await rules_model(blue=90, green=10), backend_sg_id=backend_sg)
    writes = {op: n for op, n in aws_proxy.calls_by_operation().items() if not op.startswith("Describe")}
    assert writes == {"ModifyRule": 1}
    weighted_rule, *_ = await described_rules(aws_api, result.lb_arn, 80)
    assert [t["Weight"] for t in weighted_rule["Actions"][0]["ForwardConfig"]["TargetGroups"]] == [90, 10]


async def request_certificate(moto: MotoServer) -> str:
    """ACM is outside ``AwsApi`` (the controller never calls it), so the test asks moto directly."""
    async with new_session().create_client(
        "acm",
        region_name=SANDBOX_REGION,
        endpoint_url=moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as acm:
        return str((await acm.request_certificate(DomainName="web.example.com"))["CertificateArn"])


async def test_ssl_redirect_turns_the_http_listener_into_a_redirect_and_back(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    fresh_moto: MotoServer,
    make_deployer: DeployerFactory,
    backend_sg: str,
) -> None:
    certificate = await request_certificate(fresh_moto)
    deployer = make_deployer()
    base = {ING_LISTEN_PORTS: '[{"HTTP": 80}, {"HTTPS": 443}]', ING_CERTIFICATE_ARN: certificate}

    async def model(**extra: str) -> StackModel:
        ingress = rules_ingress({**base, **extra})
        ingress["spec"]["rules"][0]["http"]["paths"] = [path("/", "svc-1", {"name": "http"})]
        return await build_alb_model(ingress, services=SERVICES)

    result = await deployer.deploy(await model(), backend_sg_id=backend_sg)
    assert len(await described_rules(aws_api, result.lb_arn, 80)) == 1

    await deployer.deploy(await model(**{ING_SSL_REDIRECT: "443"}), backend_sg_id=backend_sg)
    listeners = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))["Listeners"]
    by_port = {entry["Port"]: entry for entry in listeners}
    assert by_port[80]["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ]
    assert await described_rules(aws_api, result.lb_arn, 80) == []
    assert len(await described_rules(aws_api, result.lb_arn, 443)) == 1

    aws_proxy.reset_counts()
    await deployer.deploy(await model(**{ING_SSL_REDIRECT: "443"}), backend_sg_id=backend_sg)
    assert {op for op in aws_proxy.calls_by_operation() if not op.startswith("Describe")} == set()

    await deployer.deploy(await model(), backend_sg_id=backend_sg)
    listeners = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))["Listeners"]
    assert {entry["Port"]: entry["DefaultActions"][0]["Type"] for entry in listeners} == {
        80: "fixed-response",
        443: "fixed-response",
    }
    assert len(await described_rules(aws_api, result.lb_arn, 80)) == 1


def test_redirect_parts_aws_fills_in_compare_equal_to_parts_not_sent() -> None:
    sent = ListenerAction.redirect_to(Redirect("HTTP_301", protocol="HTTPS", port="443"))
    # Real AWS answers a redirect with every part it was not sent set to "keep the request's".
    reported = ListenerAction.from_aws(
        {
            "Type": "redirect",
            "Order": 1,
            "RedirectConfig": {
                "Protocol": "HTTPS",
                "Port": "443",
                "Host": "#{host}",
                "Path": "/#{path}",
                "Query": "#{query}",
                "StatusCode": "HTTP_301",
            },
        }
    )
    assert action_key(sent) == action_key(reported)
    assert action_key(sent) != action_key(ListenerAction.redirect_to(Redirect("HTTP_302", "HTTPS", "443")))
    assert action_key(sent) != action_key(ListenerAction.redirect_to(Redirect("HTTP_301", "HTTPS", "8443")))


def test_weighted_forward_spellings_compare_as_aws_reports_them() -> None:
    one = ListenerAction.forward_config((ForwardTarget("tg-1"),))
    reported = ListenerAction.from_aws(
        {
            "Type": "forward",
            "TargetGroupArn": "tg-1",
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": "tg-1", "Weight": 1}],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    )
    assert action_key(one) == action_key(reported) == action_key(ListenerAction.forward("tg-1"))
    sticky = ListenerAction.forward_config((ForwardTarget("tg-1", 1),), Stickiness(True, 60))
    assert action_key(sticky) != action_key(reported)
    # A duration without stickiness changes nothing AWS does.
    assert action_key(
        ListenerAction.forward_config((ForwardTarget("tg-1"),), Stickiness(False, 60))
    ) == action_key(reported)
