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

from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.deploy import DeploymentPending, StackDeployer, UnexpectedResourceError
from controller.gc.finder import SOURCE_MISSING, LeakedRule, LeakReport
from controller.naming import StackTags, stack_tag_key
from controller.networking.errors import DEPENDENCY_VIOLATION, INVALID_GROUP_NOT_FOUND
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.rules import Rule, SecurityGroupSource
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
    ec2: Ec2,
) -> tuple[Removal, ...]:
    removals: list[Removal] = []
    by_group: dict[str, list[LeakedRule]] = {}
    for leaked in report.rules:
        by_group.setdefault(leaked.group_id, []).append(leaked)
    for group_id, leaked_rules in by_group.items():
        removals.append(await _revoke_rules(rules, ec2, group_id, leaked_rules))
    for stack in report.stacks:
        removals.append(await _delete_stack(deployer, stack))
    for group in report.backend_security_groups:
        removals.append(await _delete_backend_sg(sg_manager, group.group_id))
    return tuple(removals)


async def _revoke_rules(
    reconciler: SecurityGroupRuleReconciler, ec2: Ec2, group_id: str, leaked: Sequence[LeakedRule]
) -> Removal:
    """The leaked rules still on the SG go in at most two calls.

    Rules whose source exists: one RevokeSecurityGroupIngress by the rule reconciler, asked to keep
    every rule the SG has now except those (it may only revoke labelled rules). Rules whose source
    SG is gone: AWS will not match them by that SG any more, so they are revoked by rule id
    (looked up with DescribeSecurityGroupRules).
    """
    by_source = {leak.rule for leak in leaked if leak.reason != SOURCE_MISSING}
    orphans = {leak.rule for leak in leaked if leak.reason == SOURCE_MISSING}
    revoked: list[str] = []
    try:
        if by_source:
            current = await reconciler.reader.get(group_id, fresh=True)
            keep = [rule for rule in current.ingress if rule not in by_source]
            changes = await reconciler.reconcile(group_id, keep, selector=OWN_TGB_SHARED_RULES)
            revoked.extend(str(rule) for rule in changes.revoked)
        if orphans:
            rule_ids = await _orphan_rule_ids(ec2, group_id, orphans)
            if rule_ids:
                try:
                    await ec2.revoke_security_group_ingress_rules(group_id, list(rule_ids))
                finally:
                    reconciler.reader.invalidate(group_id)
                revoked.extend(str(rule) for rule in rule_ids.values())
    except AwsApiError as error:
        # InvalidGroup.NotFound may name the endpoint SG (gone: its rules went with it) or a
        # rule's source; only a fresh read tells them apart.
        if error.code == INVALID_GROUP_NOT_FOUND and not await reconciler.reader.get_many(
            [group_id], fresh=True
        ):
            return Removal("rules", group_id, REMOVED, tuple(revoked), detail="security group already gone")
        return Removal("rules", group_id, FAILED, tuple(revoked), detail=f"{error.code}: {error.message}")
    return Removal("rules", group_id, REMOVED, tuple(revoked))


async def _orphan_rule_ids(ec2: Ec2, group_id: str, orphans: set[Rule]) -> dict[str, Rule]:
    """Rule id → rule, for the inbound rules of ``group_id`` that are in ``orphans``."""
    labelled = {rule: rule for rule in orphans}  # as read, description included
    found: dict[str, Rule] = {}
    for described in await ec2.describe_security_group_rules(group_id):
        if described.is_egress or described.referenced_group_id is None:
            continue
        rule = Rule.of(
            described.protocol,
            described.from_port,
            described.to_port,
            SecurityGroupSource(described.referenced_group_id),
            described.description,
        )
        # Identity (protocol, ports, source) is unique within an SG, and every orphan was read
        # with our label from DescribeSecurityGroups; the label is not matched again here, since
        # not every implementation reports descriptions in DescribeSecurityGroupRules (moto).
        if rule in labelled:
            found[described.rule_id] = labelled[rule]
    return found


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
