"""``StackSecurityGroupIndex``: the VPC's stack-tagged security groups, by stack, for every deployer.

Finding a stack's managed SG was a tag-filtered DescribeSecurityGroups per stack reconcile: at a
cold start of N stacks, N reads from EC2's shared bucket for filtered describes, each of which AWS
(and moto, linearly in the SGs it holds) answers by looking through every SG of the region. The
index reads every SG carrying a stack tag with one paged query (which also fills the SG reader's
cache, rules included) and then answers look-ups from memory, like ``Elbv2Index`` does for load
balancers and target groups.

It stays true because this process, the leader, is the only writer of stack-tagged SGs between
scans: the managed-SG deployer reports each create, tag change and delete here. Writes made while a
scan is on the wire are replayed onto its answer. What it cannot know about, it forgets: a stack
whose deploy failed is invalidated, and its next look-up asks AWS for that stack alone (one
tag-filtered query, as before the index) and takes the answer as the stack's truth. The stack
resync calls ``refresh()`` every sync period, so SGs created or re-tagged by others are seen within
one period (design.md Difference 21).

The index says which SGs a stack has. A deploy then reads an existing SG fresh by id (batched
with the concurrent reconciles' reads), so a tag or rule changed by hand is repaired by the next
reconcile of its stack, as upstream's per-reconcile look-up does; what it reads goes back into the
index. A managed SG created in the same deploy is not read at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from controller.naming import STACK_TAG_PREFIXES, StackTags, stack_tag_key
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import TagPlan

_StackKey = tuple[str, str]
"""(tag prefix, stack id): the cluster is checked per look-up (current or legacy cluster tag)."""


def _stack_keys(tags: Mapping[str, str]) -> list[_StackKey]:
    return [(p, tags[stack_tag_key(p)]) for p in STACK_TAG_PREFIXES if stack_tag_key(p) in tags]


@dataclass
class _Groups:
    by_id: dict[str, SecurityGroupInfo] = field(default_factory=dict)
    by_stack: dict[_StackKey, dict[str, None]] = field(default_factory=dict)
    """Insertion-ordered id sets, so a stack's SGs keep the order AWS listed them in."""

    def put(self, info: SecurityGroupInfo) -> None:
        self.remove(info.group_id)
        self.by_id[info.group_id] = info
        for key in _stack_keys(info.tags):
            self.by_stack.setdefault(key, {})[info.group_id] = None

    def remove(self, group_id: str) -> None:
        info = self.by_id.pop(group_id, None)
        if info is None:
            return
        for key in _stack_keys(info.tags):
            ids = self.by_stack.get(key, {})
            ids.pop(group_id, None)
            if not ids:
                self.by_stack.pop(key, None)

    def of_stack(self, key: _StackKey) -> list[SecurityGroupInfo]:
        return [self.by_id[group_id] for group_id in self.by_stack.get(key, {})]


_Write = Callable[[_Groups], None]


class StackSecurityGroupIndex:
    """One per controller process (inside the shared ``StackDeployer``); see the module docstring."""

    def __init__(self, reader: SecurityGroupReader, *, vpc_id: str) -> None:
        self._reader = reader
        self._vpc_id = vpc_id
        self._groups = _Groups()
        self._loaded = False
        self._scan_lock = asyncio.Lock()
        self._scans_started = 0
        self._journal: list[_Write] | None = None
        self._invalid: dict[_StackKey, int] = {}
        """Stacks to ask AWS about alone, with the number of scans started when they went bad."""
        self.scan_count = 0

    async def candidates(self, stack: StackTags) -> list[SecurityGroupInfo]:
        """The SGs carrying ``stack``'s stack tag, in any cluster (the caller checks the cluster)."""
        key = (stack.prefix, stack.stack_id)
        if key in self._invalid:
            await self._requery(stack, key)
        elif not self._loaded:
            await self.refresh(only_if_unloaded=True)
        return self._groups.of_stack(key)

    # -------------------------------------------------------------------------- our own writes

    def record(self, info: SecurityGroupInfo) -> None:
        """An SG we just created, or just read from AWS."""
        self._write(lambda groups: groups.put(info))

    def tags_changed(self, group_id: str, plan: TagPlan) -> None:
        if plan.is_empty:
            return

        def change(groups: _Groups) -> None:
            info = groups.by_id.get(group_id)
            if info is not None:
                tags = {k: v for k, v in info.tags.items() if k not in plan.to_delete}
                groups.put(replace(info, tags={**tags, **plan.to_set}))

        self._write(change)

    def deleted(self, group_id: str) -> None:
        """Deleted by us, or found already gone."""
        self._write(lambda groups: groups.remove(group_id))

    def _write(self, write: _Write) -> None:
        write(self._groups)
        if self._journal is not None:
            self._journal.append(write)

    # ------------------------------------------------------------------- scans and invalidation

    def invalidate(self, stack: StackTags) -> None:
        """Our view of ``stack``'s SGs may be wrong (a failed or interrupted write)."""
        self._invalid[(stack.prefix, stack.stack_id)] = self._scans_started

    async def refresh(self, *, only_if_unloaded: bool = False) -> None:
        """Read every stack-tagged SG of the VPC again (the stack resync calls this each period)."""
        started_before = self._scans_started
        async with self._scan_lock:
            if only_if_unloaded and self._loaded:
                return  # a look-up that waited for another's first scan
            if not only_if_unloaded and self._scans_started > started_before:
                return  # a scan that began after this request finished while we waited
            await self._scan()

    async def _scan(self) -> None:
        self._scans_started += 1
        started = self._scans_started
        self._journal = []
        try:
            keys = [stack_tag_key(prefix) for prefix in STACK_TAG_PREFIXES]
            found = await self._reader.find_with_tag_keys(self._vpc_id, keys)
            scanned = _Groups()
            for info in found.values():
                scanned.put(info)
            for write in self._journal:
                write(scanned)
        finally:
            self._journal = None
        self._groups, self._loaded = scanned, True
        self.scan_count += 1
        # Stacks invalidated before this scan started are seen afresh by it.
        self._invalid = {key: at for key, at in self._invalid.items() if at >= started}

    async def _requery(self, stack: StackTags, key: _StackKey) -> None:
        marked_at = self._invalid[key]
        found = await self._reader.find_by_tags(self._vpc_id, {stack_tag_key(stack.prefix): stack.stack_id})
        for info in self._groups.of_stack(key):
            self._groups.remove(info.group_id)
        for info in found.values():
            self._groups.put(info)
        if self._invalid.get(key) == marked_at:
            del self._invalid[key]
