"""LB and target-group attributes: only the calls needed (none when nothing is asked for, a bare
Modify for a new resource, Describe then Modify only if different for an existing one, nothing on
a second pass), and deletion protection left on in AWS is turned off before a delete, as upstream."""

from __future__ import annotations

from collections import Counter

import pytest
from deploy_factories import DeployerFactory, build_alb_model, ingress

from controller.annotations import ING_LOAD_BALANCER_ATTRIBUTES, ING_TARGET_GROUP_ATTRIBUTES
from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.sandbox.proxy import AwsProxy

ATTRIBUTE_CALLS = (
    "DescribeLoadBalancerAttributes",
    "ModifyLoadBalancerAttributes",
    "DescribeTargetGroupAttributes",
    "ModifyTargetGroupAttributes",
)


def attribute_calls(proxy: AwsProxy) -> Counter[str]:
    calls = proxy.calls_by_operation()
    return Counter({op: calls[op] for op in ATTRIBUTE_CALLS if calls[op]})


async def lb_attributes(api: AwsApi, arn: str) -> dict[str, str]:
    response = await api.call("elbv2", "DescribeLoadBalancerAttributes", LoadBalancerArn=arn)
    return {a["Key"]: a["Value"] for a in response["Attributes"]}


async def tg_attributes(api: AwsApi, arn: str) -> dict[str, str]:
    response = await api.call("elbv2", "DescribeTargetGroupAttributes", TargetGroupArn=arn)
    return {a["Key"]: a["Value"] for a in response["Attributes"]}


def annotated(lb: str | None = None, tg: str | None = None) -> dict[str, str]:
    found = {ING_LOAD_BALANCER_ATTRIBUTES: lb, ING_TARGET_GROUP_ATTRIBUTES: tg}
    return {key: value for key, value in found.items() if value is not None}


async def test_no_attributes_asked_for_costs_no_attribute_call(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    assert attribute_calls(aws_proxy) == Counter()


async def test_attributes_changed_and_reverted_with_only_the_needed_calls(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    wanted = annotated(lb="idle_timeout.timeout_seconds=120", tg="deregistration_delay.timeout_seconds=30")
    first = await deployer.deploy(
        await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg
    )
    # New LB and target group: one Modify each, no Describe.
    assert attribute_calls(aws_proxy) == Counter(
        {"ModifyLoadBalancerAttributes": 1, "ModifyTargetGroupAttributes": 1}
    )
    (tg_arn,) = first.target_group_arns.values()
    assert (await lb_attributes(aws_api, first.lb_arn))["idle_timeout.timeout_seconds"] == "120"
    assert (await tg_attributes(aws_api, tg_arn))["deregistration_delay.timeout_seconds"] == "30"

    # Unchanged: the values we sent are known, so no call at all.
    aws_proxy.reset_counts()
    await deployer.deploy(await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg)
    assert attribute_calls(aws_proxy) == Counter()

    # Reverted to AWS's defaults: one Modify each, carrying only the keys that differ.
    aws_proxy.reset_counts()
    reverted = annotated(lb="idle_timeout.timeout_seconds=60", tg="deregistration_delay.timeout_seconds=300")
    await deployer.deploy(await build_alb_model(ingress(annotations=reverted)), backend_sg_id=backend_sg)
    assert attribute_calls(aws_proxy) == Counter(
        {"ModifyLoadBalancerAttributes": 1, "ModifyTargetGroupAttributes": 1}
    )
    modify = next(r for r in aws_proxy.request_log if r.operation == "ModifyLoadBalancerAttributes")
    assert modify.params["Attributes.member.1.Key"] == "idle_timeout.timeout_seconds"
    assert "Attributes.member.2.Key" not in modify.params
    assert (await lb_attributes(aws_api, first.lb_arn))["idle_timeout.timeout_seconds"] == "60"
    assert (await tg_attributes(aws_api, tg_arn))["deregistration_delay.timeout_seconds"] == "300"


async def test_after_a_rescan_the_attributes_are_described_once_and_left_alone_if_equal(
    aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    wanted = annotated(lb="idle_timeout.timeout_seconds=120", tg="deregistration_delay.timeout_seconds=30")
    await deployer.deploy(await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg)
    await deployer.elbv2_index.refresh()  # the sync period's rescan forgets what it knew
    aws_proxy.reset_counts()
    await deployer.deploy(await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg)
    assert attribute_calls(aws_proxy) == Counter(
        {"DescribeLoadBalancerAttributes": 1, "DescribeTargetGroupAttributes": 1}
    )
    aws_proxy.reset_counts()
    await deployer.deploy(await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg)
    assert attribute_calls(aws_proxy) == Counter()


async def test_a_change_made_outside_the_controller_is_reverted_after_the_rescan(
    aws_api: AwsApi, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    wanted = annotated(lb="idle_timeout.timeout_seconds=120")
    first = await deployer.deploy(
        await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg
    )
    await aws_api.call(
        "elbv2",
        "ModifyLoadBalancerAttributes",
        LoadBalancerArn=first.lb_arn,
        Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "15"}],
    )
    await deployer.elbv2_index.refresh()
    await deployer.deploy(await build_alb_model(ingress(annotations=wanted)), backend_sg_id=backend_sg)
    assert (await lb_attributes(aws_api, first.lb_arn))["idle_timeout.timeout_seconds"] == "120"


async def test_deletion_protection_left_on_is_turned_off_before_the_stack_is_deleted(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    """Upstream: the annotation no longer asks for protection (the reconcilers refuse to delete
    while it does), so the deployer turns it off and deletes."""
    deployer = make_deployer()
    model = await build_alb_model(ingress(annotations=annotated(lb="deletion_protection.enabled=true")))
    first = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert (await lb_attributes(aws_api, first.lb_arn))["deletion_protection.enabled"] == "true"
    # The sandbox refuses as AWS does.
    with pytest.raises(AwsApiError) as refused:
        await aws_api.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=first.lb_arn)
    assert refused.value.code == "OperationNotPermitted"
    assert refused.value.message == (
        f"Load balancer '{first.lb_arn}' cannot be deleted because deletion protection is enabled"
    )

    aws_proxy.reset_counts()
    assert await deployer.delete_load_balancers(model.stack_tags) == (first.lb_arn,)
    assert [
        r.operation for r in aws_proxy.request_log if r.operation.endswith(("LoadBalancer", "Attributes"))
    ] == ["DeleteLoadBalancer", "ModifyLoadBalancerAttributes", "DeleteLoadBalancer"]
    described = await aws_api.call("elbv2", "DescribeLoadBalancers")
    assert first.lb_arn not in [lb["LoadBalancerArn"] for lb in described["LoadBalancers"]]
