"""A deploy's writes are listed in one order, whatever order its concurrent steps made them in."""

from __future__ import annotations

import itertools
from typing import Any

from controller.aws.api import Service
from controller.plan.call_order import in_deploy_order
from controller.plan.dry_run import DryRunAwsApi, PlannedCall

TG_A = "arn:aws:elasticloadbalancing:r:1:targetgroup/k8s-a/1"
TG_B_NEW = "planned-arn:targetgroup/k8s-b"


def call(service: Service, operation: str, **params: Any) -> PlannedCall:
    return PlannedCall(service, operation, params)


SG_STEP = [
    call("ec2", "CreateSecurityGroup", GroupName="k8s-sg"),
    call("ec2", "AuthorizeSecurityGroupIngress", GroupId="planned-sg-1"),
    call("ec2", "DeleteTags", Resources=["planned-sg-1"]),
]
TG_A_STEP = [
    call("elbv2", "ModifyTargetGroup", TargetGroupArn=TG_A),
    call("elbv2", "AddTags", ResourceArns=[TG_A]),
    call("elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=TG_A),
]
TG_B_STEP = [
    call("elbv2", "CreateTargetGroup", Name="k8s-b"),
    call("elbv2", "ModifyTargetGroupAttributes", TargetGroupArn=TG_B_NEW),
]
LATER = [
    call("elbv2", "CreateLoadBalancer", Name="k8s-lb"),
    call("elbv2", "CreateListener", Port=80),
    call("elbv2", "DeleteTargetGroup", TargetGroupArn=TG_A),
    call("ec2", "DeleteSecurityGroup", GroupId="sg-old"),
]


def interleavings() -> list[list[PlannedCall]]:
    """Every order of the three steps' writes that keeps each step's own order."""
    steps = [SG_STEP, TG_A_STEP, TG_B_STEP]
    labels = [n for n, step in enumerate(steps) for _ in step]
    orders = set(itertools.permutations(labels))
    result = []
    for order in sorted(orders):
        positions = [0, 0, 0]
        merged = []
        for n in order:
            merged.append(steps[n][positions[n]])
            positions[n] += 1
        result.append(merged + LATER)
    return result


def test_every_interleaving_of_the_concurrent_steps_is_listed_in_one_order() -> None:
    listed = {tuple(in_deploy_order(calls)) for calls in interleavings()}
    assert len(interleavings()) > 100
    assert listed == {tuple(SG_STEP + TG_A_STEP + TG_B_STEP + LATER)}


def test_writes_after_the_concurrent_steps_keep_their_order() -> None:
    # An update that changes only the LB and deletes: nothing to sort, nothing moved (an EC2
    # deletion after the LB's writes stays after them).
    calls = [call("elbv2", "SetSecurityGroups", LoadBalancerArn="arn:lb"), *LATER[2:], *SG_STEP[1:2]]
    assert in_deploy_order(calls) == calls


async def test_a_planned_sg_is_numbered_among_sgs_only() -> None:
    """However many target groups were planned before it, the first SG is ``planned-sg-1``."""

    class NoAws:
        async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
            raise AssertionError(operation)

        async def paginate(
            self, service: Service, operation: str, result_key: str, **params: Any
        ) -> list[dict[str, Any]]:
            raise AssertionError(operation)

    dry = DryRunAwsApi(NoAws())
    await dry.call("elbv2", "CreateTargetGroup", Name="k8s-a")
    await dry.call("elbv2", "CreateListener", Port=80)
    created = await dry.call("ec2", "CreateSecurityGroup", GroupName="k8s-sg")
    assert created == {"GroupId": "planned-sg-1"}
    assert dry.calls[1].result_id == "planned-arn:listener/80/1"
