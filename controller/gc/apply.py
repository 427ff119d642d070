"""``gc --apply``: remove the leaks of a ``LeakReport`` through the controller's own deletion paths.

Order, so nothing we delete is still referenced by something we delete later: first the leaked
labelled rules (a leaked SG may be the source of one, and AWS refuses to delete a referenced SG),
then each unowned stack whole with ``StackDeployer.delete_stack`` (load balancers, which lets go of
their SGs, then target groups, then the stack's SGs: the controller's order for a deleted Ingress
or Service), then leaked backend SGs with ``SecurityGroupManager.delete``.

Every deletion is tried once. One AWS refuses for now (``DependencyViolation``, a target group in
use) is reported as blocked and left for a later run; the others go on. Nothing here loops.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from controller.aws.errors import AwsApiError
from controller.deploy import DeploymentPending, StackDeployer, UnexpectedResourceError
from controller.gc.finder import LeakedRule, LeakReport
from controller.naming import StackTags, stack_tag_key
from controller.networking.errors import DEPENDENCY_VIOLATION, INVALID_GROUP_NOT_FOUND
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_manager import SecurityGroupManager

_log = logging.getLogger(__name__)

Status = Literal["removed", "blocked", "failed"]
REMOVED: Final = "removed"
BLOCKED: Final = "blocked"
FAILED: Final = "failed"


@dataclass(frozen=True)
class Removal:
    """What one step did: ``target`` names what was to go, ``removed`` what went."""

    kind: Literal["rules", "stack", "backend-security-group"]
    target: str
    status: Status
    removed: tuple[str, ...] = ()
    detail: str = ""


def describe_stack(stack: StackTags) -> str:
    return f"{stack_tag_key(stack.prefix)}={stack.stack_id}"


async def remove_leaks(
    report: LeakReport,
    *,
    deployer: StackDeployer,
    sg_manager: SecurityGroupManager,
    rules: SecurityGroupRuleReconciler,
) -> tuple[Removal, ...]:
    removals: list[Removal] = []
    by_group: dict[str, list[LeakedRule]] = {}
    for leaked in report.rules:
        by_group.setdefault(leaked.group_id, []).append(leaked)
    for group_id, leaked_rules in by_group.items():
        removals.append(await _revoke_rules(rules, group_id, leaked_rules))
    for stack in report.stacks:
        removals.append(await _delete_stack(deployer, stack))
    for group in report.backend_security_groups:
        removals.append(await _delete_backend_sg(sg_manager, group.group_id))
    return tuple(removals)


async def _revoke_rules(
    reconciler: SecurityGroupRuleReconciler, group_id: str, leaked: Sequence[LeakedRule]
) -> Removal:
    """One RevokeSecurityGroupIngress of the leaked rules still there: the rule reconciler is asked
    to keep every rule the SG has now except those, and may only revoke labelled rules."""
    doomed = {leak.rule for leak in leaked}
    try:
        current = await reconciler.reader.get(group_id, fresh=True)
        keep = [rule for rule in current.ingress if rule not in doomed]
        changes = await reconciler.reconcile(group_id, keep, selector=OWN_TGB_SHARED_RULES)
    except AwsApiError as error:
        if error.code == INVALID_GROUP_NOT_FOUND:
            return Removal("rules", group_id, REMOVED, detail="security group already gone")
        return Removal("rules", group_id, FAILED, detail=f"{error.code}: {error.message}")
    return Removal("rules", group_id, REMOVED, tuple(str(rule) for rule in changes.revoked))


async def _delete_stack(deployer: StackDeployer, stack: StackTags) -> Removal:
    target = describe_stack(stack)
    try:
        deleted = await deployer.delete_stack(stack)
    except DeploymentPending as pending:
        # DependencyViolation / ResourceInUse after one attempt: left for a later run.
        return Removal("stack", target, BLOCKED, detail=pending.reason)
    except (AwsApiError, UnexpectedResourceError) as error:
        return Removal("stack", target, FAILED, detail=str(error))
    removed = (*deleted.load_balancer_arns, *deleted.target_group_arns, *deleted.security_group_ids)
    return Removal("stack", target, REMOVED, removed)


async def _delete_backend_sg(sg_manager: SecurityGroupManager, group_id: str) -> Removal:
    try:
        gone = await sg_manager.delete(group_id)
    except AwsApiError as error:
        status: Status = BLOCKED if error.code == DEPENDENCY_VIOLATION else FAILED
        return Removal("backend-security-group", group_id, status, detail=f"{error.code}: {error.message}")
    return Removal("backend-security-group", group_id, REMOVED, (group_id,) if gone else ())


def summary(removals: Sequence[Removal]) -> Mapping[Status, int]:
    counts: dict[Status, int] = {REMOVED: 0, BLOCKED: 0, FAILED: 0}
    for removal in removals:
        counts[removal.status] += 1
    return counts
