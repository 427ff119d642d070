"""The SGs we own: creating, finding, deleting; always found by tags, never by name (§1.8, §3.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.errors import AwsApiError
from controller.naming import StackTags, resource_tag_key
from controller.networking.errors import INVALID_GROUP_NOT_FOUND
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_reader import SecurityGroupReader


class UnexpectedSecurityGroupError(Exception):
    """An SG carries our stack tags but no resource-id tag: we cannot tell what it is for."""


@dataclass(frozen=True)
class StackSecurityGroups:
    """The SGs of one stack, matched by resource id: the first found per id is kept, the rest are
    duplicates to delete (upstream-behaviour §1.8)."""

    by_resource_id: Mapping[str, SecurityGroupInfo]
    duplicates: tuple[SecurityGroupInfo, ...]


def _tag_filters(tags: Mapping[str, str]) -> dict[str, list[str]]:
    return {f"tag:{key}": [value] for key, value in tags.items()}


class SecurityGroupManager:
    def __init__(self, api: AwsApi, reader: SecurityGroupReader) -> None:
        self._ec2 = Ec2(api)
        self._reader = reader

    async def create(self, *, name: str, description: str, vpc_id: str, tags: Mapping[str, str]) -> str:
        """A new SG with its tags applied atomically (TagSpecifications); returns the id.

        Tags are sent in the mapping's order (the backend SG puts sorted default tags first).
        """
        return await self._ec2.create_security_group(
            name=name, description=description, vpc_id=vpc_id, tags=tags
        )

    async def find_by_tags(self, *, vpc_id: str, tags: Mapping[str, str]) -> list[SecurityGroupInfo]:
        """SGs in ``vpc_id`` carrying every ``key=value`` of ``tags``, in AWS's answer order.

        ``InvalidGroup.NotFound`` counts as "none" (upstream's backend SG lookup does the same).
        A tag query, so not through the reader (which caches SGs by id): the answer is which SGs
        carry the tags now, including ones created since the reader last saw them.
        """
        try:
            groups = await self._ec2.describe_security_groups(
                filters={"vpc-id": [vpc_id], **_tag_filters(tags)}
            )
        except AwsApiError as error:
            if error.code == INVALID_GROUP_NOT_FOUND:
                return []
            raise
        return [SecurityGroupInfo.from_aws(g) for g in groups]

    async def find_first_by_tags(self, *, vpc_id: str, tags: Mapping[str, str]) -> SecurityGroupInfo | None:
        """The first SG found (upstream keeps the first and ignores the rest, §3.3)."""
        found = await self.find_by_tags(vpc_id=vpc_id, tags=tags)
        return found[0] if found else None

    async def find_stack_security_groups(self, *, vpc_id: str, stack: StackTags) -> StackSecurityGroups:
        """Both lookups of §1.8 (current and legacy tracking tags), unioned by id, matched by the
        ``<prefix>/resource`` tag; raises ``UnexpectedSecurityGroupError`` for an SG without it."""
        current = await self.find_by_tags(vpc_id=vpc_id, tags=stack.tracking_tags())
        legacy = await self.find_by_tags(vpc_id=vpc_id, tags=stack.legacy_tracking_tags())
        union: dict[str, SecurityGroupInfo] = {}
        for group in [*current, *legacy]:
            union.setdefault(group.group_id, group)
        return match_by_resource_id(list(union.values()), resource_tag_key(stack.prefix))

    async def delete(self, group_id: str) -> bool:
        """One delete attempt; ``False`` if it was already gone.

        ``DependencyViolation`` propagates: the caller requeues with backoff rather than sleeping
        in a worker (design.md Difference 6).
        """
        try:
            await self._ec2.delete_security_group(group_id)
        except AwsApiError as error:
            if error.code == INVALID_GROUP_NOT_FOUND:
                return False
            raise
        finally:
            self._reader.invalidate(group_id)
        return True


def match_by_resource_id(groups: Sequence[SecurityGroupInfo], resource_key: str) -> StackSecurityGroups:
    by_resource_id: dict[str, SecurityGroupInfo] = {}
    duplicates: list[SecurityGroupInfo] = []
    for group in groups:
        resource_id = group.tags.get(resource_key)
        if resource_id is None:
            raise UnexpectedSecurityGroupError(
                f"unexpected securityGroup with no resourceID: {group.group_id}"
            )
        if resource_id in by_resource_id:
            duplicates.append(group)
        else:
            by_resource_id[resource_id] = group
    return StackSecurityGroups(by_resource_id, tuple(duplicates))
