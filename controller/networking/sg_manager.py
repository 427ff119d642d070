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


def _carries(group: SecurityGroupInfo, tags: Mapping[str, str]) -> bool:
    return all(group.tags.get(key) == value for key, value in tags.items())


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

        A tag query, always read from AWS (the reader's cache by id cannot say which SGs carry the
        tags now); the SGs found refresh that cache. ``InvalidGroup.NotFound`` counts as "none"
        (upstream's backend SG lookup does the same).
        """
        try:
            found = await self._reader.find_by_tags(vpc_id, tags)
        except AwsApiError as error:
            if error.code == INVALID_GROUP_NOT_FOUND:
                return []
            raise
        return list(found.values())

    async def find_first_by_tags(self, *, vpc_id: str, tags: Mapping[str, str]) -> SecurityGroupInfo | None:
        """The first SG found (upstream keeps the first and ignores the rest, §3.3)."""
        found = await self.find_by_tags(vpc_id=vpc_id, tags=tags)
        return found[0] if found else None

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


def stack_security_groups(candidates: Sequence[SecurityGroupInfo], stack: StackTags) -> StackSecurityGroups:
    """Of the SGs carrying ``stack``'s stack tag, those of our cluster under the current or the
    legacy cluster tag (current first, as when the current lookup ran first), matched by the
    ``<prefix>/resource`` tag; raises ``UnexpectedSecurityGroupError`` for an SG without it."""
    current = [g for g in candidates if _carries(g, stack.tracking_tags())]
    current_ids = {g.group_id for g in current}
    legacy = [
        g for g in candidates if g.group_id not in current_ids and _carries(g, stack.legacy_tracking_tags())
    ]
    return match_by_resource_id([*current, *legacy], resource_tag_key(stack.prefix))


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
