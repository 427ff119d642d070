"""The stack's managed frontend SG: find by tags, create, reconcile tags and rules, delete (§1.7-§1.9)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.deploy.sg_index import StackSecurityGroupIndex
from controller.metrics import SecurityGroupRuleMetrics
from controller.model.security_group import ManagedSecurityGroupSpec
from controller.naming import MANAGED_SG_RESOURCE_ID, StackTags
from controller.networking.errors import DEPENDENCY_VIOLATION
from controller.networking.labels import OWN_ALL_RULES
from controller.networking.quota import rules_used
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_manager import SecurityGroupManager, StackSecurityGroups, stack_security_groups
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import reconcile_security_group_tags

_log = logging.getLogger(__name__)

DependencyViolationHook = Callable[[str], Awaitable[object]]
"""Called with the SG id when deleting a managed SG hits ``DependencyViolation``: the endpoint-SG
layer revokes our labelled rules that reference that SG (upstream runs its networking GC, §1.9)."""


class SecurityGroupStillInUse(Exception):
    """Deleting the SG keeps answering ``DependencyViolation`` (after the hook and one retry)."""

    def __init__(self, group_id: str, cause: AwsApiError) -> None:
        super().__init__(f"failed to delete securityGroup {group_id}: {cause.code}: {cause.message}")
        self.group_id = group_id
        self.cause = cause


class ManagedSecurityGroupDeployer:
    def __init__(
        self,
        api: AwsApi,
        reader: SecurityGroupReader,
        *,
        vpc_id: str,
        ignored_tag_keys: Collection[str],
        on_dependency_violation: DependencyViolationHook | None,
        rules_quota: int | None = None,
        rule_metrics: SecurityGroupRuleMetrics | None = None,
        index: StackSecurityGroupIndex | None = None,
    ) -> None:
        self._reader = reader
        self.index = index if index is not None else StackSecurityGroupIndex(reader, vpc_id=vpc_id)
        self._manager = SecurityGroupManager(api, reader)
        # The builders refuse a managed SG past the quota; with it here, a pass that replaces many
        # rules revokes first rather than have AWS refuse the authorize.
        self._rules = SecurityGroupRuleReconciler(api, reader, quota=rules_quota)
        self._rule_metrics = rule_metrics
        self._api = api
        self._vpc_id = vpc_id
        self._ignored_tag_keys = ignored_tag_keys
        self._on_dependency_violation = on_dependency_violation

    async def find(self, stack: StackTags) -> StackSecurityGroups:
        """Both tag lookups of §1.8, answered by the index; raises ``UnexpectedSecurityGroupError``
        for an SG without a resource id."""
        return stack_security_groups(await self.index.candidates(stack), stack)

    async def ensure(self, spec: ManagedSecurityGroupSpec, existing: SecurityGroupInfo | None) -> str:
        """Ensures the SG exists (created if missing, else its tags converged), then converges its
        inbound rules (every inbound rule is ours, authorize before revoke). Returns the SG id.

        ``existing`` comes from ``find`` (the index): it says which SG; its tags and rules are read
        fresh here."""
        current: SecurityGroupInfo | None = None
        if existing is None:
            group_id = await self._manager.create(
                name=spec.name, description=spec.description, vpc_id=self._vpc_id, tags=spec.tags
            )
            _log.info("created managed security group %s (%s)", group_id, spec.name)
            # AWS creates an SG with no inbound rule: nothing to read.
            current = SecurityGroupInfo(
                group_id=group_id,
                group_name=spec.name,
                vpc_id=self._vpc_id,
                description=spec.description,
                tags=dict(spec.tags),
                ingress=(),
            )
            self.index.record(current)
        else:
            # Fresh, by id (batched with the concurrent reconciles' reads): a tag or rule changed
            # by hand is repaired now, as upstream's per-reconcile look-up does. Gone: this raises
            # InvalidGroup.NotFound, the deploy fails and the stack's next look-up asks AWS.
            current = await self._reader.get(existing.group_id, fresh=True)
            self.index.record(current)
            group_id = current.group_id
            plan = await reconcile_security_group_tags(
                self._api,
                self._reader,
                group_id,
                spec.tags,
                ignored_keys=self._ignored_tag_keys,
                current=current.tags,
            )
            self.index.tags_changed(group_id, plan)
            # A tag write changes no rule: ``current`` still shows AWS's rules.
        await self._rules.reconcile(group_id, spec.ingress, selector=OWN_ALL_RULES, current=current)
        if self._rule_metrics is not None:
            # Every inbound rule of a managed SG is ours: after the pass it holds exactly these.
            self._rule_metrics.observe(group_id, used=rules_used(spec.ingress), over_quota=0)
        return group_id

    async def delete(self, group_id: str) -> bool:
        """The SG is deleted; ``False`` if it was already gone.

        On ``DependencyViolation`` the hook runs once and the delete is retried once right away
        (the hook may just have removed the last reference); if it is still in use,
        ``SecurityGroupStillInUse`` is raised for the caller to requeue.
        """
        if self._rule_metrics is not None:
            self._rule_metrics.forget(group_id)
        try:
            return await self._deleted(group_id)
        except AwsApiError as error:
            if error.code != DEPENDENCY_VIOLATION:
                raise
            first = error
        _log.info("security group %s is still in use (%s); releasing our references", group_id, first.message)
        if self._on_dependency_violation is not None:
            await self._on_dependency_violation(group_id)
        try:
            return await self._deleted(group_id)
        except AwsApiError as error:
            if error.code != DEPENDENCY_VIOLATION:
                raise
            raise SecurityGroupStillInUse(group_id, error) from error

    async def _deleted(self, group_id: str) -> bool:
        gone = await self._manager.delete(group_id)  # False: it was already gone
        self.index.deleted(group_id)
        return gone


def managed_sg_of(found: StackSecurityGroups) -> SecurityGroupInfo | None:
    return found.by_resource_id.get(MANAGED_SG_RESOURCE_ID)
