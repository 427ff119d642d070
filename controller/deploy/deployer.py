"""``StackDeployer``: make AWS match a ``StackModel``, in upstream's order (upstream-behaviour §1.9).

Creations and updates run first, in dependency order: the managed SG (with its rules), the target
groups and the LB's subnets, which do not depend on each other, at once (upstream runs them one
after another) → load balancer → listeners → listener rules → TargetGroupBinding objects
(rendered; the caller applies them).
Then whatever the stack has in AWS but the model no longer needs is deleted in reverse order:
rules → listeners → load balancers → target groups → SGs. So an LB switched to other SGs lets go
of its old managed SG (SetSecurityGroups) before that SG is deleted, and a listener stops
forwarding to a target group before the group is deleted.

Every resource is found by tags (the tracking tags of the model's ``stack_tags`` plus
``<prefix>/resource``), never by name; names are used only when creating. A deletion that AWS refuses for now (SG ``DependencyViolation``,
target group ``ResourceInUse``) does not stop the other deletions; at the end it surfaces as one
``DeploymentPending`` so the caller requeues instead of sleeping in a worker (design.md Difference 6).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.ec2_types import Vpc
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import LoadBalancer
from controller.deploy.bindings import needs_vpc_cidrs, render_target_group_bindings
from controller.deploy.concurrently import concurrently
from controller.deploy.elbv2_index import Elbv2Index
from controller.deploy.elbv2_tags import ResourceT, StackResources, TaggedResource
from controller.deploy.errors import (
    DEFAULT_REQUEUE_AFTER_SECONDS,
    DeploymentPending,
    SubnetResolutionError,
    UnexpectedResourceError,
)
from controller.deploy.listeners import Leftovers, ListenerDeployer
from controller.deploy.load_balancer import LoadBalancerDeployer, requires_replacement
from controller.deploy.result import DeletionResult, DeployResult
from controller.deploy.security_group import (
    DependencyViolationHook,
    ManagedSecurityGroupDeployer,
    SecurityGroupStillInUse,
)
from controller.deploy.subnets import Subnet, SubnetResolver
from controller.deploy.target_groups import EnsuredTargetGroup, TargetGroupDeployer, TargetGroupStillInUse
from controller.metrics import SecurityGroupRuleMetrics
from controller.model.security_group import BACKEND_SG_REF, resolve_sg_refs
from controller.model.stack import StackModel
from controller.model.target_group import TargetGroupSpec
from controller.model.target_group_binding import PeerValues
from controller.naming import MANAGED_SG_RESOURCE_ID, StackTags
from controller.networking.sg_manager import StackSecurityGroups, UnexpectedSecurityGroupError
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import managed_sg_ignored_tag_keys

_log = logging.getLogger(__name__)

TARGET_GROUPS_IN_FLIGHT = 8
"""At most this many target groups of one stack are ensured at once."""


@dataclass
class _Deletions:
    """What the clean-up phase deleted so far, and what AWS would not let it delete yet."""

    rule_arns: list[str] = field(default_factory=list)
    listener_arns: list[str] = field(default_factory=list)
    load_balancer_arns: list[str] = field(default_factory=list)
    target_group_arns: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def freeze(self) -> DeletionResult:
        return DeletionResult(
            load_balancer_arns=tuple(self.load_balancer_arns),
            target_group_arns=tuple(self.target_group_arns),
            security_group_ids=tuple(self.security_group_ids),
            listener_arns=tuple(self.listener_arns),
            rule_arns=tuple(self.rule_arns),
        )


@dataclass
class _EnsuredTargetGroups:
    """The target groups step's outcome: ARNs by resource id, what to delete, what is new and empty."""

    arns: dict[str, str] = field(default_factory=dict)
    doomed: list[str] = field(default_factory=list)
    created_empty: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Doomed:
    """Resources of the stack to delete at the end of a deploy (or all of them, for a delete)."""

    leftovers: Leftovers = field(default_factory=Leftovers)
    load_balancer_arns: tuple[str, ...] = ()
    target_group_arns: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()


class StackDeployer:
    """Deploys and deletes stacks of one cluster in one VPC.

    ``reader`` is the process-wide SG reader (its cache is shared with the endpoint-SG layer).
    ``cluster_name``: whose legacy SG tags are left alone. The stack's own tags are not derived
    here: they come with each model (``StackModel.stack_tags``) or as ``delete_stack``'s argument.
    ``external_managed_tags``: tag keys another tool owns; never added, changed or removed.
    ``on_dependency_violation(sg_id)``: see ``DependencyViolationHook``.
    ``rules_quota`` (``--sg-rules-quota``) and ``rule_metrics``: the managed SG's rules never go past
    the quota in a request, and its rule count is exported.
    ``requeue_after``: seconds suggested in ``DeploymentPending`` when a deletion is blocked.
    ``elbv2_index``: where LBs and target groups are found (one per process; built here by
    default); ``sg_index`` (built here) does the same for the stacks' SGs. A deploy or deletion
    that fails invalidates its stack in both: a write may have happened that they did not see.
    """

    def __init__(
        self,
        api: AwsApi,
        reader: SecurityGroupReader,
        *,
        cluster_name: str,
        vpc_id: str,
        external_managed_tags: Collection[str] = (),
        on_dependency_violation: DependencyViolationHook | None = None,
        requeue_after: float = DEFAULT_REQUEUE_AFTER_SECONDS,
        elbv2_index: Elbv2Index | None = None,
        rules_quota: int | None = None,
        rule_metrics: SecurityGroupRuleMetrics | None = None,
    ) -> None:
        self._ec2 = Ec2(api)
        self.elbv2_index = elbv2_index if elbv2_index is not None else Elbv2Index(Elbv2(api), vpc_id=vpc_id)
        self._vpc_id = vpc_id
        self._requeue_after = requeue_after
        elbv2_ignored = frozenset(external_managed_tags)
        self._sgs = ManagedSecurityGroupDeployer(
            api,
            reader,
            vpc_id=vpc_id,
            ignored_tag_keys=managed_sg_ignored_tag_keys(cluster_name, external_managed_tags),
            on_dependency_violation=on_dependency_violation,
            rules_quota=rules_quota,
            rule_metrics=rule_metrics,
        )
        self.sg_index = self._sgs.index
        self._tgs = TargetGroupDeployer(api, self.elbv2_index, vpc_id=vpc_id, ignored_tag_keys=elbv2_ignored)
        self._lbs = LoadBalancerDeployer(api, self.elbv2_index, ignored_tag_keys=elbv2_ignored)
        self._listeners = ListenerDeployer(api)
        self._subnets = SubnetResolver(api, vpc_id)

    async def deploy(self, model: StackModel, *, backend_sg_id: str | None) -> DeployResult:
        """Converge AWS to ``model``; returns what the caller needs (LB, TG ARNs, TGBs to apply).

        ``backend_sg_id`` is the shared backend SG (required when the model references it).
        Raises ``DeploymentPending`` (with ``.result`` set) when the stack converged but a
        leftover could not be deleted yet; ``UnexpectedResourceError``, ``SubnetResolutionError``
        or ``AwsApiError`` when the deploy failed (retry with backoff).
        """
        if BACKEND_SG_REF in model.security_group_refs and backend_sg_id is None:
            # Checked before any change: the caller forgot to allocate the shared backend SG.
            raise ValueError(f"stack {model.stack_id} attaches the backend SG but no backend_sg_id was given")
        stack = model.stack_tags  # built by the reconciler; the model's resource tags carry it too
        with self._invalidating_on_failure(stack):
            return await self._deploy(model, stack, backend_sg_id)

    async def _deploy(self, model: StackModel, stack: StackTags, backend_sg_id: str | None) -> DeployResult:
        # The managed SG (with its rules), the target groups and the subnets do not depend on each
        # other: only the load balancer needs them all (its SGs and subnets), and the listeners
        # need the LB and the target groups. So the three run at once and the LB waits for all of
        # them; the managed SG's rules are still authorized before any LB uses it.
        #
        # A failure in one step cancels the others, possibly with a create on the wire. That
        # leaves nothing the next deploy cannot see: the failure invalidates the stack in both
        # indexes (``_invalidating_on_failure``), so the next look-up of the stack asks AWS
        # again (``Elbv2Index`` rescans, ``StackSecurityGroupIndex`` re-queries the stack by its
        # tags), and every SG and target group is tagged with the stack in its create request,
        # so one that AWS made for a create whose answer was lost is found, not created twice.
        # ``SubnetResolutionError`` (which does not invalidate) is held back until the other
        # steps finished, as it came after them when the steps ran one after another.
        async with concurrently() as steps:
            sg_step = steps.create_task(self._ensure_security_groups(model, stack))
            tg_step = steps.create_task(self._ensure_target_groups(model, stack))
            subnet_step = steps.create_task(self._resolve_subnets(model))
        managed_sg_id, doomed_sgs = sg_step.result()
        ensured_tgs = tg_step.result()
        target_group_arns = ensured_tgs.arns
        doomed_tgs = ensured_tgs.doomed
        created_empty_tgs = ensured_tgs.created_empty
        subnets = subnet_step.result()
        if isinstance(subnets, SubnetResolutionError):
            raise subnets

        security_groups = resolve_sg_refs(model.security_group_refs, managed_sg_id, backend_sg_id)
        lb, created, doomed_lbs, deleted_early = await self._ensure_load_balancer(
            model, stack, security_groups, subnets
        )

        leftovers = await self._listeners.ensure(
            lb.arn, model.listeners, target_group_arns, new_load_balancer=created
        )

        values = PeerValues(
            managed_sg_id=managed_sg_id,
            backend_sg_id=backend_sg_id,
            lb_subnet_cidrs_ipv4=tuple(s.ipv4_cidr for s in subnets if s.ipv4_cidr),
            lb_subnet_cidrs_ipv6=tuple(c for s in subnets for c in s.ipv6_cidrs),
            **(await self._vpc_cidrs() if needs_vpc_cidrs(model) else {}),
        )
        tgb_specs = render_target_group_bindings(model, target_group_arns, values)

        deletions = _Deletions(load_balancer_arns=list(deleted_early))
        await self._delete(
            _Doomed(leftovers, tuple(doomed_lbs), tuple(doomed_tgs), tuple(doomed_sgs)), deletions
        )
        result = DeployResult(
            lb_arn=lb.arn,
            lb_dns_name=lb.dns_name,
            managed_sg_id=managed_sg_id,
            load_balancer_security_groups=tuple(security_groups),
            target_group_arns=target_group_arns,
            tgb_specs=tgb_specs,
            deleted=deletions.freeze(),
            created_empty_target_group_arns=tuple(created_empty_tgs),
        )
        if deletions.blocked:
            raise DeploymentPending(
                "; ".join(deletions.blocked), requeue_after=self._requeue_after, result=result
            )
        return result

    async def load_balancer_names(self, stack: StackTags) -> tuple[str, ...]:
        """Names of the stack's load balancers (from the index), for messages."""
        found = await self._lbs.find(stack)
        return tuple(r.description.name or r.arn for r in _all_resources(found))

    async def delete_load_balancers(self, stack: StackTags) -> tuple[str, ...]:
        """Delete the stack's load balancers (ARNs returned), before anything else of the stack.

        Upstream deletes the LB before the TargetGroupBindings, whose removal revokes the rules on
        node and pod SGs: a load balancer AWS will not delete yet keeps those rules (and so keeps
        working) instead of being left without them.
        """
        with self._invalidating_on_failure(stack):
            found = await self._lbs.find(stack)
            return tuple([r.arn for r in _all_resources(found) if await self._lbs.delete(r.arn)])

    async def delete_stack(self, stack: StackTags) -> DeletionResult:
        """Every LB, target group and managed SG carrying ``stack``'s tags is deleted, in that order.

        Raises ``DeploymentPending`` if something could not be deleted yet (everything else was).
        The caller deletes the load balancers first (``delete_load_balancers``), then the stack's
        TargetGroupBindings, then calls this, as upstream orders them (LB, TGBs, target groups, SGs).
        """
        with self._invalidating_on_failure(stack):
            return await self._delete_stack(stack)

    async def _delete_stack(self, stack: StackTags) -> DeletionResult:
        found_lbs = await self._lbs.find(stack)
        found_tgs = await self._tgs.find(stack)
        found_sgs = await self._find_security_groups(stack)
        doomed = _Doomed(
            load_balancer_arns=_all_arns(found_lbs),
            target_group_arns=_all_arns(found_tgs),
            security_group_ids=tuple(
                [g.group_id for g in found_sgs.by_resource_id.values()]
                + [g.group_id for g in found_sgs.duplicates]
            ),
        )
        deletions = _Deletions()
        await self._delete(doomed, deletions)
        if deletions.blocked:
            raise DeploymentPending("; ".join(deletions.blocked), requeue_after=self._requeue_after)
        return deletions.freeze()

    # ----------------------------------------------------------------------------------------------

    @contextmanager
    def _invalidating_on_failure(self, stack: StackTags) -> Iterator[None]:
        """Any failure (even a cancellation) may have hidden a write from the index: a create whose
        answer was lost, a resource someone else deleted; the VPC's subnets are re-read as well.
        Two outcomes say nothing of the sort:
        ``DeploymentPending`` (each deletion AWS refused left its resource as the index knows it)
        and ``SubnetResolutionError`` (the annotations or subnet tags need a fix; rescanning on
        each retry would only cost reads)."""
        try:
            yield
        except (DeploymentPending, SubnetResolutionError):
            raise
        except BaseException:
            self.elbv2_index.invalidate(stack)
            self.sg_index.invalidate(stack)
            # A subnet may be gone too (e.g. CreateLoadBalancer answered InvalidSubnet).
            self._subnets.vpc_subnets.invalidate()
            raise

    async def _find_security_groups(self, stack: StackTags) -> StackSecurityGroups:
        try:
            return await self._sgs.find(stack)
        except UnexpectedSecurityGroupError as error:
            raise UnexpectedResourceError(str(error)) from error

    async def _ensure_security_groups(
        self, model: StackModel, stack: StackTags
    ) -> tuple[str | None, list[str]]:
        """(the managed SG's id, the stack's other SGs: to delete at the end)."""
        found_sgs = await self._find_security_groups(stack)
        managed_sg_id: str | None = None
        if model.managed_sg is not None:
            existing_sg = found_sgs.by_resource_id.get(MANAGED_SG_RESOURCE_ID)
            managed_sg_id = await self._sgs.ensure(model.managed_sg, existing_sg)
        doomed_sgs = [g.group_id for g in found_sgs.duplicates] + [
            info.group_id for info in found_sgs.by_resource_id.values() if info.group_id != managed_sg_id
        ]
        return managed_sg_id, doomed_sgs

    async def _ensure_target_groups(self, model: StackModel, stack: StackTags) -> _EnsuredTargetGroups:
        """Each target group of the model at once, at most ``TARGET_GROUPS_IN_FLIGHT`` at a time
        (the client's token buckets pace the calls; the bound keeps a stack of 100 target groups
        from queueing 100 creates ahead of every other stack's calls)."""
        found_tgs = await self._tgs.find(stack)
        slots = asyncio.Semaphore(TARGET_GROUPS_IN_FLIGHT)

        async def ensure(spec: TargetGroupSpec) -> EnsuredTargetGroup:
            async with slots:
                return await self._tgs.ensure(spec, found_tgs.by_resource_id.get(spec.resource_id))

        async with concurrently() as steps:
            tasks = [steps.create_task(ensure(spec)) for spec in model.target_groups]
        ensured = _EnsuredTargetGroups(doomed=[r.arn for r in found_tgs.duplicates])
        for spec, task in zip(model.target_groups, tasks, strict=True):  # in the model's order
            result = task.result()
            ensured.arns[spec.resource_id] = result.arn
            if result.created_empty:
                ensured.created_empty.append(result.arn)
            if result.replaced is not None:
                ensured.doomed.append(result.replaced.arn)
        ensured.doomed += [
            r.arn for resource_id, r in found_tgs.by_resource_id.items() if resource_id not in ensured.arns
        ]
        return ensured

    async def _resolve_subnets(self, model: StackModel) -> list[Subnet] | SubnetResolutionError:
        """Returned, not raised: see ``_deploy``."""
        try:
            return await self._subnets.resolve(model.load_balancer.subnets)
        except SubnetResolutionError as error:
            return error

    async def _ensure_load_balancer(
        self, model: StackModel, stack: StackTags, security_groups: list[str], subnets: list[Subnet]
    ) -> tuple[LoadBalancer, bool, list[str], list[str]]:
        """(the LB's description, whether it was created now, LBs to delete at the end, LBs
        deleted before creating)."""
        spec = model.load_balancer
        found = await self._lbs.find(stack)
        subnet_ids = [s.subnet_id for s in subnets]
        existing = found.by_resource_id.get(spec.resource_id)
        if existing is not None and requires_replacement(spec, existing.description):
            _log.info("load balancer %s must be replaced (name, type or scheme changed)", existing.arn)
            existing = None
        doomed = [r for r in _all_resources(found) if existing is None or r.arn != existing.arn]
        if existing is not None:
            await self._lbs.update(spec, existing, security_groups=security_groups, subnet_ids=subnet_ids)
            return existing.description, False, [r.arn for r in doomed], []
        # LB names are unique: one of ours holding the name must go before the create.
        deleted_early = []
        for resource in doomed:
            if resource.description.name == spec.name:
                await self._lbs.delete(resource.arn)
                deleted_early.append(resource.arn)
        created = await self._lbs.create(spec, security_groups=security_groups, subnet_ids=subnet_ids)
        return created, True, [r.arn for r in doomed if r.arn not in deleted_early], deleted_early

    async def _vpc_cidrs(self) -> dict[str, tuple[str, ...]]:
        vpc = await self._ec2.describe_vpc(self._vpc_id) or Vpc(self._vpc_id, cidr_block=None)
        ipv4 = [a.cidr for a in vpc.ipv4_associations if a.associated] or (
            [vpc.cidr_block] if vpc.cidr_block else []
        )
        ipv6 = [a.cidr for a in vpc.ipv6_associations if a.associated]
        return {"vpc_cidrs_ipv4": tuple(ipv4), "vpc_cidrs_ipv6": tuple(ipv6)}

    async def _delete(self, doomed: _Doomed, deletions: _Deletions) -> None:
        """In reverse dependency order: each deletion AWS refuses for now is recorded, and we go on."""
        for rule_arn in doomed.leftovers.rule_arns:
            if await self._listeners.delete_rule(rule_arn):
                deletions.rule_arns.append(rule_arn)
        for listener_arn in doomed.leftovers.listener_arns:
            if await self._listeners.delete_listener(listener_arn):
                deletions.listener_arns.append(listener_arn)
        for lb_arn in doomed.load_balancer_arns:
            if await self._lbs.delete(lb_arn):
                deletions.load_balancer_arns.append(lb_arn)
        for tg_arn in doomed.target_group_arns:
            try:
                if await self._tgs.delete(tg_arn):
                    deletions.target_group_arns.append(tg_arn)
            except TargetGroupStillInUse as error:
                deletions.blocked.append(str(error))
        for group_id in doomed.security_group_ids:
            try:
                if await self._sgs.delete(group_id):
                    deletions.security_group_ids.append(group_id)
            except SecurityGroupStillInUse as error:
                deletions.blocked.append(str(error))


def _all_resources(found: StackResources[ResourceT]) -> list[TaggedResource[ResourceT]]:
    return [*found.by_resource_id.values(), *found.duplicates]


def _all_arns(found: StackResources[ResourceT]) -> tuple[str, ...]:
    return tuple(r.arn for r in _all_resources(found))
