"""``in_deploy_order``: one stack deploy's recorded writes in an order that does not depend on timing.

The deployer ensures the managed SG (with its rules) and each target group at once; only the load
balancer waits for them. Their writes are therefore recorded in whatever order the reads before
them happened to answer, and a plan must read the same on every run. So the writes made before
the load balancer step are listed as the deployer made them when it ran the steps one after
another: the managed SG's (EC2) first, then each target group's, by name; each resource's own
writes keep their order. Everything from the first other write on (load balancer, listeners,
rules, deletions) is already recorded in one order, and stays as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from controller.plan.dry_run import PlannedCall

_TARGET_GROUP_MARK: Final = "targetgroup/"
_DELETIONS: Final = frozenset(
    {"DeleteRule", "DeleteListener", "DeleteLoadBalancer", "DeleteTargetGroup", "DeleteSecurityGroup"}
)
"""The clean-up phase's writes (``DeleteTags`` of the managed SG is not one)."""
_SG_STEP: Final = 0
_TARGET_GROUP_STEP: Final = 1


def in_deploy_order(calls: Sequence[PlannedCall]) -> list[PlannedCall]:
    """``calls``, recorded by one ``StackDeployer.deploy``, in a timing-independent order."""
    head = 0
    while head < len(calls) and _concurrent_step(calls[head]) is not None:
        head += 1
    concurrent = sorted(calls[:head], key=lambda call: _concurrent_step(call) or (_SG_STEP, ""))
    return [*concurrent, *calls[head:]]


def _concurrent_step(call: PlannedCall) -> tuple[int, str] | None:
    """Which of the steps run at once made ``call`` (and the target group's name), or ``None``
    for a write of the later steps."""
    if call.operation in _DELETIONS:
        return None  # deletions come last, after the load balancer
    if call.service == "ec2":
        return (_SG_STEP, "")
    name = _target_group_name(call)
    return None if name is None else (_TARGET_GROUP_STEP, name)


def _target_group_name(call: PlannedCall) -> str | None:
    params = call.params
    if call.operation == "CreateTargetGroup":
        return str(params.get("Name", ""))
    arns = [params.get("TargetGroupArn"), *(params.get("ResourceArns") or ())]
    for arn in arns:
        if isinstance(arn, str) and _TARGET_GROUP_MARK in arn:
            # arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>, or
            # planned-arn:targetgroup/<name>.
            return arn.split(_TARGET_GROUP_MARK, 1)[1].split("/", 1)[0]
    return None
