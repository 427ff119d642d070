"""Model changes that modify or replace ELBv2 resources in place of creating a second stack."""

from __future__ import annotations

from deploy_factories import DeployerFactory, build_alb_model, ingress, ingress_rules

from controller.annotations import (
    ING_HEALTHCHECK_PATH,
    ING_LISTEN_PORTS,
    ING_LOAD_BALANCER_NAME,
    ING_TARGET_TYPE,
)
from controller.aws.api import AwsApi
from controller.networking.rules import Ipv4CidrSource, Rule
from controller.sandbox.proxy import AwsProxy


def mutating_calls(proxy: AwsProxy) -> dict[str, int]:
    return {op: n for op, n in proxy.calls_by_operation().items() if not op.startswith("Describe")}


async def test_changed_health_check_modifies_the_target_group_in_place(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    aws_proxy.reset_counts()

    second = await deployer.deploy(
        await build_alb_model(ingress(annotations={ING_HEALTHCHECK_PATH: "/healthz"})),
        backend_sg_id=backend_sg,
    )

    assert mutating_calls(aws_proxy) == {"ModifyTargetGroup": 1}
    modify = next(r for r in aws_proxy.request_log if r.operation == "ModifyTargetGroup")
    assert modify.params["HealthCheckPath"] == "/healthz"
    assert second.target_group_arns == first.target_group_arns
    (arn,) = second.target_group_arns.values()
    (tg,) = (await aws_api.call("elbv2", "DescribeTargetGroups", TargetGroupArns=[arn]))["TargetGroups"]
    assert tg["HealthCheckPath"] == "/healthz"


async def test_changed_target_type_replaces_the_target_group_after_repointing_the_rule(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    (old_arn,) = first.target_group_arns.values()
    aws_proxy.reset_counts()

    second = await deployer.deploy(
        await build_alb_model(ingress(annotations={ING_TARGET_TYPE: "ip"})), backend_sg_id=backend_sg
    )

    (new_arn,) = second.target_group_arns.values()
    assert new_arn != old_arn
    assert second.deleted.target_group_arns == (old_arn,)
    assert [
        r.operation
        for r in aws_proxy.request_log
        if r.operation in ("CreateTargetGroup", "ModifyRule", "DeleteTargetGroup")
    ] == [
        "CreateTargetGroup",
        "ModifyRule",
        "DeleteTargetGroup",
    ]
    (tg,) = await aws_api.paginate("elbv2", "DescribeTargetGroups", "TargetGroups")
    assert (tg["TargetGroupArn"], tg["TargetType"], tg["Port"]) == (new_arn, "ip", 8080)
    assert second.tgb_specs[0]["spec"]["targetGroupARN"] == new_arn


async def test_moved_listen_port_creates_the_new_listener_and_deletes_the_old_one(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    assert first.managed_sg_id is not None
    aws_proxy.reset_counts()

    await deployer.deploy(
        await build_alb_model(ingress(annotations={ING_LISTEN_PORTS: '[{"HTTP": 8080}]'})),
        backend_sg_id=backend_sg,
    )

    listeners = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=first.lb_arn))["Listeners"]
    assert [listener["Port"] for listener in listeners] == [8080]
    assert [
        r.operation for r in aws_proxy.request_log if r.operation in ("CreateListener", "DeleteListener")
    ] == [
        "CreateListener",
        "DeleteListener",
    ]
    assert await ingress_rules(aws_api, first.managed_sg_id) == {
        Rule.of("tcp", 8080, 8080, Ipv4CidrSource("0.0.0.0/0"))
    }


async def test_renamed_load_balancer_is_replaced_and_the_old_one_deleted(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    first = await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    aws_proxy.reset_counts()

    second = await deployer.deploy(
        await build_alb_model(ingress(annotations={ING_LOAD_BALANCER_NAME: "renamed-alb"})),
        backend_sg_id=backend_sg,
    )

    assert second.lb_arn != first.lb_arn
    assert second.deleted.load_balancer_arns == (first.lb_arn,)
    (lb,) = await aws_api.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers")
    assert (lb["LoadBalancerArn"], lb["LoadBalancerName"]) == (second.lb_arn, "renamed-alb")
    (listener,) = (await aws_api.call("elbv2", "DescribeListeners", LoadBalancerArn=second.lb_arn))[
        "Listeners"
    ]
    assert listener["Port"] == 80
    # The target group and the managed SG carry over; only the LB is new.
    assert second.target_group_arns == first.target_group_arns
    assert second.managed_sg_id == first.managed_sg_id
