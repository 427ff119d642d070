"""Converge the inbound rules of one SG to a desired set (upstream-behaviour §1.7, design.md Difference 5).

One pass is at most one AuthorizeSecurityGroupIngress (all missing rules) followed by one
RevokeSecurityGroupIngress (all owned extras). Authorizing first means a rule being replaced
(e.g. a widened port range) never leaves a window with no access. If AWS reports that our view was
stale (``InvalidPermission.Duplicate`` / ``.NotFound``) or the SG is full
(``RulesPerSecurityGroupLimitExceeded``), the SG is re-read bypassing the cache and the pass is
retried once; for the rule limit the retry revokes first to make room. Other errors propagate.

With a ``quota`` (``--sg-rules-quota``) the pass never sends a request AWS would refuse for the rule
limit: when authorizing first would take the SG past the quota, it revokes first (the rules being
replaced stop matching for the moment between the two calls; there is no room to do better); when
even the end state would be past the quota, it raises ``RulesQuotaExceededError`` without calling AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.networking.errors import (
    INVALID_PERMISSION_DUPLICATE,
    INVALID_PERMISSION_NOT_FOUND,
    RULES_PER_SG_LIMIT_EXCEEDED,
)
from controller.networking.labels import OWN_ALL_RULES, OwnershipSelector
from controller.networking.quota import rules_used
from controller.networking.rule_plan import RulePlan, plan_rule_changes
from controller.networking.rules import Rule, group_rules
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_reader import SecurityGroupReader

_log = logging.getLogger(__name__)

_RETRY_ONCE_CODES: Final = frozenset(
    {INVALID_PERMISSION_DUPLICATE, INVALID_PERMISSION_NOT_FOUND, RULES_PER_SG_LIMIT_EXCEEDED}
)


@dataclass(frozen=True)
class RuleChanges:
    """What a reconcile changed on AWS (across its retry, if there was one)."""

    authorized: tuple[Rule, ...] = ()
    revoked: tuple[Rule, ...] = ()


class RulesQuotaExceededError(Exception):
    """The rules a pass would leave on the SG exceed the quota; nothing was sent to AWS."""

    def __init__(self, group_id: str, needed: int, quota: int) -> None:
        super().__init__(
            f"security group {group_id} would need {needed} inbound rules, more than the quota of {quota}; "
            "nothing was changed"
        )
        self.group_id = group_id
        self.needed = needed
        self.quota = quota


class SecurityGroupRuleReconciler:
    def __init__(self, api: AwsApi, reader: SecurityGroupReader, *, quota: int | None = None) -> None:
        self._ec2 = Ec2(api)
        self._reader = reader
        self._quota = quota

    @property
    def reader(self) -> SecurityGroupReader:
        """The cache this reconciler reads through (and invalidates after every write)."""
        return self._reader

    async def reconcile(
        self,
        group_id: str,
        desired: Iterable[Rule],
        *,
        selector: OwnershipSelector = OWN_ALL_RULES,
        authorize_only: bool = False,
        fresh_read: bool = False,
        current: SecurityGroupInfo | None = None,
    ) -> RuleChanges:
        """Make ``group_id``'s inbound rules contain ``desired`` and no owned rule outside it.

        ``selector`` says which existing rules may be revoked; ``authorize_only`` revokes nothing;
        ``fresh_read`` bypasses the cache (concurrent fresh reads are still batched together);
        ``current`` is the SG as the caller just read it from AWS (no read at all; a rule that moved
        since costs one ``InvalidPermission.*`` answer and a fresh retry, as any race does).
        Raises ``AwsApiError`` (``InvalidGroup.NotFound`` if the SG is gone).
        """
        desired_rules = list(desired)
        authorized: list[Rule] = []
        revoked: list[Rule] = []
        if current is not None and current.group_id != group_id:
            raise ValueError(f"current describes {current.group_id}, not {group_id}")
        info = current if current is not None else await self._reader.get(group_id, fresh=fresh_read)
        try:
            await self._apply(info, desired_rules, selector, authorize_only, False, authorized, revoked)
        except AwsApiError as error:
            if error.code not in _RETRY_ONCE_CODES:
                raise
            _log.info("retrying rule reconcile of %s after %s with a fresh read", group_id, error.code)
            info = await self._reader.get(group_id, fresh=True)
            revoke_first = error.code == RULES_PER_SG_LIMIT_EXCEEDED
            await self._apply(
                info, desired_rules, selector, authorize_only, revoke_first, authorized, revoked
            )
        return RuleChanges(tuple(authorized), tuple(revoked))

    async def _apply(
        self,
        info: SecurityGroupInfo,
        desired: list[Rule],
        selector: OwnershipSelector,
        authorize_only: bool,
        revoke_first: bool,
        authorized: list[Rule],
        revoked: list[Rule],
    ) -> None:
        plan: RulePlan = plan_rule_changes(desired, info.ingress, selector, authorize_only=authorize_only)
        if self._quota is not None and plan.to_authorize:
            kept = set(info.ingress) - set(plan.to_revoke)
            after = rules_used(kept | set(plan.to_authorize))
            if after > self._quota:
                raise RulesQuotaExceededError(info.group_id, after, self._quota)
            revoke_first = revoke_first or rules_used([*info.ingress, *plan.to_authorize]) > self._quota
        if revoke_first:
            await self._revoke(info.group_id, plan.to_revoke, revoked)
            await self._authorize(info.group_id, plan.to_authorize, authorized)
        else:
            await self._authorize(info.group_id, plan.to_authorize, authorized)
            await self._revoke(info.group_id, plan.to_revoke, revoked)

    async def _authorize(self, group_id: str, rules: tuple[Rule, ...], done: list[Rule]) -> None:
        if not rules:
            return
        try:
            await self._ec2.authorize_security_group_ingress(group_id, group_rules(rules))
        finally:
            # Even a failed call may have changed something (or shown our view is stale).
            self._reader.invalidate(group_id)
        done.extend(rules)
        _log.info("authorized %d rule(s) on %s: %s", len(rules), group_id, ", ".join(map(str, rules)))

    async def _revoke(self, group_id: str, rules: tuple[Rule, ...], done: list[Rule]) -> None:
        if not rules:
            return
        try:
            # The rules carry the descriptions AWS reported, so the request names them exactly.
            await self._ec2.revoke_security_group_ingress(group_id, group_rules(rules))
        finally:
            self._reader.invalidate(group_id)
        done.extend(rules)
        _log.info("revoked %d rule(s) on %s: %s", len(rules), group_id, ", ".join(map(str, rules)))
