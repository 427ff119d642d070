"""Target (de)registration for one target group, by diffing with DescribeTargetHealth.

New targets are registered before stale ones are deregistered, so a rolling change never leaves
the target group with fewer targets than it needs. Calls go out in batches of ``batch_size``
(upstream's chunk size is 200).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import TargetRef
from controller.aws.errors import AwsApiError
from controller.targetgroupbinding.endpoints import Target

TARGET_GROUP_NOT_FOUND: Final = "TargetGroupNotFound"
DRAINING: Final = "draining"
DEFAULT_BATCH_SIZE: Final = 200


@dataclass(frozen=True)
class TargetChanges:
    registered: tuple[Target, ...] = ()
    deregistered: tuple[Target, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.registered or self.deregistered)


class TargetRegistrar:
    def __init__(self, api: AwsApi, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self._elbv2 = Elbv2(api)
        self._batch_size = batch_size

    async def registered(self, target_group_arn: str) -> set[Target]:
        """Targets currently registered and not already draining (those are on their way out)."""
        found: set[Target] = set()
        for health in await self._elbv2.describe_target_health(target_group_arn):
            if health.state == DRAINING or health.target_id is None or health.port is None:
                continue
            found.add(Target(health.target_id, health.port))
        return found

    async def sync(
        self, target_group_arn: str, desired: Iterable[Target], *, known_empty: bool = False
    ) -> TargetChanges:
        """``known_empty``: the group was created moments ago by our own deploy, so its targets
        need not be read (see ``StackTargetGroups``)."""
        wanted = set(desired)
        current = set() if known_empty else await self.registered(target_group_arn)
        to_register = sorted(wanted - current)
        to_deregister = sorted(current - wanted)
        await self._in_batches(self._elbv2.register_targets, target_group_arn, to_register)
        await self._in_batches(self._elbv2.deregister_targets, target_group_arn, to_deregister)
        return TargetChanges(tuple(to_register), tuple(to_deregister))

    async def deregister_all(self, target_group_arn: str) -> TargetChanges:
        """Every target is deregistered; a target group that no longer exists has none."""
        try:
            current = sorted(await self.registered(target_group_arn))
            await self._in_batches(self._elbv2.deregister_targets, target_group_arn, current)
        except AwsApiError as error:
            if error.code == TARGET_GROUP_NOT_FOUND:
                return TargetChanges()
            raise
        return TargetChanges(deregistered=tuple(current))

    async def _in_batches(
        self,
        send: Callable[[str, Sequence[TargetRef]], Awaitable[None]],
        target_group_arn: str,
        targets: Sequence[Target],
    ) -> None:
        for start in range(0, len(targets), self._batch_size):
            batch = targets[start : start + self._batch_size]
            await send(target_group_arn, [t.as_target_ref() for t in batch])
