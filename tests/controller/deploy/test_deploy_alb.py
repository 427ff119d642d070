"""Deploying an ALB stack built from an Ingress, against moto behind the AWS-like proxy."""

from __future__ import annotations

import re

import pytest
from deploy_factories import (
    DeployerFactory,
    build_alb_model,
    describe_sg,
    elbv2_tags,
    ingress,
    ingress_rules,
    node_port_service,
    tags_of,
)

from controller.annotations import ING_INBOUND_CIDRS, ING_SCHEME
from controller.aws.api import AwsApi
from controller.deploy import SubnetResolutionError
from controller.naming import MANAGED_SG_DESCRIPTION, managed_sg_name_for_implicit_ingress
from controller.networking.rules import Ipv4CidrSource, Rule
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

READ_ONLY_PREFIXES = ("Describe",)


def mutating_calls(proxy: AwsProxy) -> dict[str, int]:
    return {op: n for op, n in proxy.calls_by_operation().items() if not op.startswith(READ_ONLY_PREFIXES)}


def order_of(proxy: AwsProxy, *operations: str) -> list[str]:
    return [r.operation for r in proxy.request_log if r.operation in operations]


async def test_alb_stack_is_created_with_upstream_names_tags_and_sg_order(
    aws_api: AwsApi, make_deployer: DeployerFactory, backend_sg: str, sandbox_vpc: SandboxVpc
) -> None:
    model = await build_alb_model(ingress())
    result = await make_deployer().deploy(model, backend_sg_id=backend_sg)

    # Managed SG: upstream name, description, tags (scenarios 1 and 5) and one rule (scenario 9).
    assert result.managed_sg_id is not None
    sg = await describe_sg(aws_api, result.managed_sg_id)
    assert sg["GroupName"] == managed_sg_name_for_implicit_ingress(sandbox_vpc.cluster_name, "default", "web")
    assert sg["Description"] == MANAGED_SG_DESCRIPTION
    assert sg["VpcId"] == sandbox_vpc.vpc_id
    assert tags_of(sg) == {
        "elbv2.k8s.aws/cluster": sandbox_vpc.cluster_name,
        "ingress.k8s.aws/stack": "default/web",
        "ingress.k8s.aws/resource": "ManagedLBSecurityGroup",
    }
    assert await ingress_rules(aws_api, result.managed_sg_id) == {
        Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"))
    }

    # Load balancer: [managed, backend] (§1.10), discovered subnets, tracking + resource tags.
    (lb,) = (await aws_api.call("elbv2", "DescribeLoadBalancers", LoadBalancerArns=[result.lb_arn]))[
        "LoadBalancers"
    ]
    assert lb["LoadBalancerName"] == model.load_balancer.name
    assert lb["SecurityGroups"] == [result.managed_sg_id, backend_sg]
    assert result.load_balancer_security_groups == (result.managed_sg_id, backend_sg)
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == set(sandbox_vpc.subnet_ids)
    assert result.lb_dns_name == lb["DNSName"]
    assert (await elbv2_tags(aws_api, result.lb_arn))["ingress.k8s.aws/resource"] == "LoadBalancer"

    # Target group, listener and rule.
    (tg_spec,) = model.target_groups
    tg_arn = result.target_group_arns[tg_spec.resource_id]
    (tg,) = (await aws_api.call("elbv2", "DescribeTargetGroups", TargetGroupArns=[tg_arn]))["TargetGroups"]
    assert (tg["TargetGroupName"], tg["Port"], tg["TargetType"]) == (tg_spec.name, 32768, "instance")
    assert (await elbv2_tags(aws_api, tg_arn))["ingress.k8s.aws/resource"] == tg_spec.resource_id
    (listener,) = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=result.lb_arn))[
        "Listeners"
    ]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["Type"] == "fixed-response"
    rules = (await aws_api.call("elbv2", "DescribeRules", ListenerArn=listener["ListenerArn"]))["Rules"]
    (rule,) = [r for r in rules if not r["IsDefault"]]
    assert rule["Priority"] == "1"
    assert rule["Actions"][0]["TargetGroupArn"] == tg_arn

    # The TGB to apply: upstream labels, the TG's ARN and rules sourced from the backend SG.
    (tgb,) = result.tgb_specs
    assert tgb["apiVersion"] == "elbv2.k8s.aws/v1beta1" and tgb["kind"] == "TargetGroupBinding"
    assert tgb["metadata"]["labels"] == {
        "ingress.k8s.aws/stack-namespace": "default",
        "ingress.k8s.aws/stack-name": "web",
    }
    assert tgb["spec"]["targetGroupARN"] == tg_arn
    assert tgb["spec"]["networking"]["ingress"][0]["from"] == [{"securityGroup": {"groupID": backend_sg}}]


async def test_second_deploy_of_the_same_model_makes_no_mutating_call(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await build_alb_model(ingress())
    first = await deployer.deploy(model, backend_sg_id=backend_sg)
    aws_proxy.reset_counts()

    second = await deployer.deploy(model, backend_sg_id=backend_sg)

    assert mutating_calls(aws_proxy) == {}
    assert (second.lb_arn, second.managed_sg_id, second.target_group_arns) == (
        first.lb_arn,
        first.managed_sg_id,
        first.target_group_arns,
    )
    assert second.tgb_specs == first.tgb_specs


async def test_a_new_load_balancer_creates_its_listener_and_rules_without_reading_them_first(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await build_alb_model(ingress())
    aws_proxy.reset_counts()

    await deployer.deploy(model, backend_sg_id=backend_sg)

    # The LB was just created: it has no listener, and a new listener only its default rule.
    created = aws_proxy.calls_by_operation()
    assert (created["CreateListener"], created["CreateRule"]) == (1, 1)
    assert (created["DescribeListeners"], created["DescribeRules"]) == (0, 0)

    # An existing LB is read again, so a listener or rule deleted by hand is found and restored.
    aws_proxy.reset_counts()
    await deployer.deploy(model, backend_sg_id=backend_sg)
    again = aws_proxy.calls_by_operation()
    assert (again["DescribeListeners"], again["DescribeRules"]) == (1, 1)


async def test_changed_inbound_cidrs_are_authorized_before_the_old_rule_is_revoked(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    result = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    assert result.managed_sg_id is not None
    aws_proxy.reset_counts()

    narrowed = ingress(annotations={ING_INBOUND_CIDRS: "10.0.0.0/8, 192.168.0.0/16"})
    await deployer.deploy(await build_alb_model(narrowed), backend_sg_id=backend_sg)

    # Scenario 53 order, one call each (design.md Difference 5).
    assert order_of(aws_proxy, "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress") == [
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
    ]
    assert await ingress_rules(aws_api, result.managed_sg_id) == {
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),
        Rule.of("tcp", 80, 80, Ipv4CidrSource("192.168.0.0/16")),
    }


async def test_manual_rule_is_revoked_and_a_desired_rule_with_another_description_is_left_alone(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await build_alb_model(ingress())
    result = await deployer.deploy(model, backend_sg_id=backend_sg)
    sg_id = result.managed_sg_id
    assert sg_id is not None
    # A human adds ssh access, and re-creates our port-80 rule with a description (scenario 54).
    port_80 = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}
    await aws_api.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        GroupId=sg_id,
        IpPermissions=[{**port_80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=sg_id,
        IpPermissions=[
            {**port_80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "1.2.3.4/32", "Description": "ops"}],
            },
        ],
    )
    aws_proxy.reset_counts()

    await deployer.deploy(model, backend_sg_id=backend_sg)

    assert mutating_calls(aws_proxy) == {"RevokeSecurityGroupIngress": 1}
    revoke = next(r for r in aws_proxy.request_log if r.operation == "RevokeSecurityGroupIngress")
    assert revoke.params["IpPermissions.1.FromPort"] == "22"
    assert "IpPermissions.2.FromPort" not in revoke.params
    assert await ingress_rules(aws_api, sg_id) == {Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"))}


async def test_target_group_the_model_no_longer_has_is_deleted_after_its_rule(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    services = [node_port_service("svc-1", node_port=32001), node_port_service("svc-2", node_port=32002)]
    two = ingress(backends=[("/a", "svc-1"), ("/b", "svc-2")])
    first = await deployer.deploy(await build_alb_model(two, services=services), backend_sg_id=backend_sg)
    assert len(first.target_group_arns) == 2
    aws_proxy.reset_counts()

    one = ingress(backends=[("/a", "svc-1")])
    second = await deployer.deploy(await build_alb_model(one, services=services), backend_sg_id=backend_sg)

    (kept,) = second.target_group_arns.values()
    (dropped,) = set(first.target_group_arns.values()) - {kept}
    assert second.deleted.target_group_arns == (dropped,)
    assert len(second.deleted.rule_arns) == 1
    assert order_of(aws_proxy, "DeleteRule", "DeleteTargetGroup") == ["DeleteRule", "DeleteTargetGroup"]
    remaining = await aws_api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups")
    assert [tg["TargetGroupArn"] for tg in remaining] == [kept]
    assert len(second.tgb_specs) == 1


async def test_internal_scheme_without_internal_subnets_fails_before_creating_the_lb(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    model = await build_alb_model(ingress(annotations={ING_SCHEME: "internal"}))

    with pytest.raises(SubnetResolutionError, match=re.escape("kubernetes.io/role/internal-elb")):
        await make_deployer().deploy(model, backend_sg_id=backend_sg)

    assert aws_proxy.calls_by_operation()["CreateLoadBalancer"] == 0
