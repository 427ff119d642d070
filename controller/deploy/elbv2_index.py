"""``Elbv2Index``: the controller-wide record of the VPC's load balancers and target groups, by stack.

Finding a stack's ELBv2 resources by tags used to list every LB and target group of the VPC and
read their tags 20 ARNs at a time, on every reconcile: one change cost more the bigger the fleet.
The index does that paged scan once (lazily, on first use, one scan at a time) and then answers
from memory. It stays true because, with leader election, this process is the only writer between
scans: the deployer reports each of its creates, in-place changes, tag changes and deletions here.

What it cannot know about, it forgets: a stack whose write failed (a create whose response was
lost may have left a resource we have no ARN for; an unexpected not-found means someone else
changed it) is invalidated, and its next look-up scans again. ``refresh()`` rescans now and
``invalidate_all()`` makes the next look-up rescan. The stack resync calls ``refresh()`` every sync
period, so manual edits and resources created by others with our tags (a previous controller
process) are picked up within one period (design.md Difference 17).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import HealthCheck, LoadBalancer, TargetGroup
from controller.deploy.elbv2_tags import StackResources, TaggedResource, match_by_resource_id
from controller.naming import STACK_TAG_PREFIXES, TAG_CLUSTER, StackTags, resource_tag_key, stack_tag_key
from controller.networking.tags import TagPlan

LOAD_BALANCER: Final = "loadBalancer"
TARGET_GROUP: Final = "targetGroup"


def stacks_of(tags: Mapping[str, str]) -> list[StackTags]:
    """The stacks whose tracking tags ``tags`` carry (normally one; none for resources not ours)."""
    cluster = tags.get(TAG_CLUSTER)
    if cluster is None:
        return []
    return [
        StackTags(cluster, prefix, tags[stack_tag_key(prefix)])
        for prefix in STACK_TAG_PREFIXES
        if stack_tag_key(prefix) in tags
    ]


@dataclass
class _Kind:
    """The resources of one kind: ARN → description and tags, and the ARNs of each stack."""

    by_arn: dict[str, TaggedResource[Any]] = field(default_factory=dict)
    by_stack: dict[StackTags, dict[str, None]] = field(default_factory=dict)
    """Insertion-ordered ARN sets, so duplicates keep the order AWS listed them in."""

    def put(self, resource: TaggedResource[Any]) -> None:
        """Add or replace; a replaced resource keeps its place in the stacks it stays in."""
        previous = self.by_arn.get(resource.arn)
        before = stacks_of(previous.tags) if previous is not None else []
        after = stacks_of(resource.tags)
        for stack in before:
            if stack not in after:
                self._unlink(stack, resource.arn)
        for stack in after:
            self.by_stack.setdefault(stack, {})[resource.arn] = None
        self.by_arn[resource.arn] = resource

    def remove(self, arn: str) -> None:
        resource = self.by_arn.pop(arn, None)
        if resource is None:
            return
        for stack in stacks_of(resource.tags):
            self._unlink(stack, arn)

    def _unlink(self, stack: StackTags, arn: str) -> None:
        arns = self.by_stack.get(stack, {})
        arns.pop(arn, None)
        if not arns:
            self.by_stack.pop(stack, None)


@dataclass
class _State:
    kinds: dict[str, _Kind] = field(default_factory=lambda: {LOAD_BALANCER: _Kind(), TARGET_GROUP: _Kind()})


_Write = Callable[[_State], None]


class Elbv2Index:
    """One per controller process (shared by every stack deployer); see the module docstring."""

    def __init__(self, elbv2: Elbv2, *, vpc_id: str) -> None:
        self._elbv2 = elbv2
        self._vpc_id = vpc_id
        self._state = _State()
        self._loaded = False
        self._generation = 0
        """Orders invalidations and scans, so a scan clears only the invalidations made before it began."""
        self._invalid_stacks: dict[StackTags, int] = {}
        self._all_invalid_at: int | None = None
        self._scan_lock = asyncio.Lock()
        self._last_scan_started = 0
        self._journal: list[_Write] | None = None
        """Our writes made while a scan runs, replayed onto its result (the scan may predate them)."""
        self._scans = 0
        self._attributes: dict[str, dict[str, str]] = {}
        """ARN → attribute values known to be in AWS (a full describe, or what we sent since)."""

    @property
    def scan_count(self) -> int:
        """Scans completed so far (each is one full listing of the VPC's LBs and target groups)."""
        return self._scans

    # ---------------------------------------------------------------------------------- look-ups

    async def load_balancers(self, stack: StackTags) -> StackResources[LoadBalancer]:
        """The stack's LBs; raises ``UnexpectedResourceError`` if one has no resource tag."""
        await self._ensure_current(stack)
        return match_by_resource_id(
            self._find(LOAD_BALANCER, stack), resource_tag_key(stack.prefix), LOAD_BALANCER
        )

    async def target_groups(self, stack: StackTags) -> StackResources[TargetGroup]:
        await self._ensure_current(stack)
        return match_by_resource_id(
            self._find(TARGET_GROUP, stack), resource_tag_key(stack.prefix), TARGET_GROUP
        )

    def knows(self, arn: str) -> bool:
        """Whether the last scan or one of our writes since saw this LB or target group."""
        return any(arn in resources.by_arn for resources in self._state.kinds.values())

    @property
    def loaded(self) -> bool:
        """A scan has completed: ``all_load_balancers`` and ``all_target_groups`` answer from it."""
        return self._loaded

    def all_load_balancers(self) -> list[TaggedResource[LoadBalancer]]:
        """Every LB of the VPC as last scanned plus our writes since (the leak census reads this
        right after the sync period's ``refresh``, so it costs no AWS call of its own)."""
        return list(self._state.kinds[LOAD_BALANCER].by_arn.values())

    def all_target_groups(self) -> list[TaggedResource[TargetGroup]]:
        return list(self._state.kinds[TARGET_GROUP].by_arn.values())

    def _find(self, kind: str, stack: StackTags) -> list[TaggedResource[Any]]:
        resources = self._state.kinds[kind]
        return [resources.by_arn[arn] for arn in resources.by_stack.get(stack, {})]

    # -------------------------------------------------------------------------- our own writes

    def load_balancer_created(self, description: LoadBalancer, tags: Mapping[str, str]) -> None:
        self._write(
            lambda s: s.kinds[LOAD_BALANCER].put(TaggedResource(description.arn, description, dict(tags)))
        )

    def load_balancer_changed(
        self,
        arn: str,
        *,
        security_groups: Iterable[str] | None = None,
        subnet_ids: Iterable[str] | None = None,
        ip_address_type: str | None = None,
    ) -> None:
        """What a successful SetSecurityGroups / SetSubnets / SetIpAddressType did to the LB."""
        changes: dict[str, object] = {}
        if security_groups is not None:
            changes["security_groups"] = tuple(security_groups)
        if subnet_ids is not None:
            changes["subnet_ids"] = tuple(subnet_ids)
        if ip_address_type is not None:
            changes["ip_address_type"] = ip_address_type
        self._write(lambda s: _change_description(s.kinds[LOAD_BALANCER], arn, changes))

    def target_group_created(self, description: TargetGroup, tags: Mapping[str, str]) -> None:
        self._write(
            lambda s: s.kinds[TARGET_GROUP].put(TaggedResource(description.arn, description, dict(tags)))
        )

    def target_group_health_check_changed(self, arn: str, sent: HealthCheck) -> None:
        """What a successful ModifyTargetGroup did: the fields sent replace the reported ones."""

        def change(state: _State) -> None:
            resource = state.kinds[TARGET_GROUP].by_arn.get(arn)
            if resource is not None:
                reported: HealthCheck = resource.description.health_check
                sent_fields: dict[str, Any] = sent.set_fields()
                merged = replace(reported, **sent_fields)
                _change_description(state.kinds[TARGET_GROUP], arn, {"health_check": merged})

        self._write(change)

    def tags_changed(self, arn: str, plan: TagPlan) -> None:
        """What AddTags/RemoveTags of ``plan`` did (the resource may move to another stack)."""
        if plan.is_empty:
            return

        def change(state: _State) -> None:
            for resources in state.kinds.values():
                resource = resources.by_arn.get(arn)
                if resource is not None:
                    tags = {k: v for k, v in resource.tags.items() if k not in plan.to_delete}
                    resources.put(replace(resource, tags={**tags, **plan.to_set}))

        self._write(change)

    def deleted(self, arn: str) -> None:
        """Deleted by us, or found already gone."""

        def remove(state: _State) -> None:
            for resources in state.kinds.values():
                resources.remove(arn)

        self._attributes.pop(arn, None)
        self._write(remove)

    # ------------------------------------------------------------------------------ attributes

    def known_attributes(self, arn: str) -> Mapping[str, str]:
        """Attribute values of an LB or target group known without a describe (maybe none). They are
        forgotten with every scan and invalidation, so changes made outside the controller are seen
        within one sync period, like the rest of the index."""
        return self._attributes.get(arn, {})

    def attributes_read(self, arn: str, attributes: Mapping[str, str]) -> None:
        """What a Describe*Attributes answered (every attribute of the resource)."""
        self._attributes[arn] = dict(attributes)

    def attributes_changed(self, arn: str, sent: Mapping[str, str]) -> None:
        """What a successful Modify*Attributes set."""
        self._attributes.setdefault(arn, {}).update(sent)

    def _write(self, write: _Write) -> None:
        write(self._state)
        if self._journal is not None:
            self._journal.append(write)

    # --------------------------------------------------------------------------- invalidation

    def invalidate(self, stack: StackTags) -> None:
        """Our view of ``stack`` may be wrong (a failed or interrupted write): rescan before using it."""
        self._generation += 1
        self._invalid_stacks[stack] = self._generation
        self._attributes.clear()

    def invalidate_all(self) -> None:
        """The next look-up rescans everything (e.g. each sync period, to pick up manual edits)."""
        self._generation += 1
        self._all_invalid_at = self._generation
        self._attributes.clear()

    async def refresh(self) -> None:
        """Rescan now (the sync period's alternative to ``invalidate_all``)."""
        started = self._generation
        async with self._scan_lock:
            if self._loaded and self._last_scan_started > started:
                return  # a scan that began after this request finished while we waited
            await self._scan()

    async def _ensure_current(self, stack: StackTags) -> None:
        if self._is_current(stack):
            return
        async with self._scan_lock:
            if not self._is_current(stack):  # single flight: the look-ups that waited reuse the scan
                await self._scan()

    def _is_current(self, stack: StackTags) -> bool:
        return self._loaded and self._all_invalid_at is None and stack not in self._invalid_stacks

    async def _scan(self) -> None:
        self._generation += 1
        started = self._last_scan_started = self._generation
        self._journal = []
        try:
            load_balancers = [
                lb for lb in await self._elbv2.describe_load_balancers() if lb.vpc_id == self._vpc_id
            ]
            target_groups = [
                tg for tg in await self._elbv2.describe_target_groups() if tg.vpc_id == self._vpc_id
            ]
            arns = [lb.arn for lb in load_balancers] + [tg.arn for tg in target_groups]
            tags = await self._elbv2.describe_tags(arns)
            scanned = _State()
            for lb in load_balancers:
                scanned.kinds[LOAD_BALANCER].put(TaggedResource(lb.arn, lb, tags.get(lb.arn, {})))
            for tg in target_groups:
                scanned.kinds[TARGET_GROUP].put(TaggedResource(tg.arn, tg, tags.get(tg.arn, {})))
            for write in self._journal:
                write(scanned)
        finally:
            self._journal = None
        self._state, self._loaded = scanned, True
        self._attributes.clear()
        self._scans += 1
        self._invalid_stacks = {s: at for s, at in self._invalid_stacks.items() if at > started}
        if self._all_invalid_at is not None and self._all_invalid_at < started:
            self._all_invalid_at = None


def _change_description(resources: _Kind, arn: str, changes: Mapping[str, object]) -> None:
    resource = resources.by_arn.get(arn)
    if resource is not None and changes:
        resources.put(replace(resource, description=replace(resource.description, **changes)))
