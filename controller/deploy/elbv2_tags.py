"""ELBv2 resources (load balancers, target groups) as found by their tags, and reconciling those tags.

ELBv2 has no tag filter on its Describe calls, so finding a stack's resources means listing the
VPC's resources and reading their tags in batches of 20 ARNs (DescribeTags' limit), as upstream
does without the Resource Groups Tagging API; ``Elbv2Index`` does that once for every stack.
Names are never used to find anything: moto (and a renamed resource) would make a name lookup lie.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from controller.aws.elbv2 import Elbv2
from controller.deploy.errors import UnexpectedResourceError
from controller.networking.tags import TagPlan, plan_tag_changes


class Elbv2Resource(Protocol):
    """What every described ELBv2 resource we look up by tags has."""

    @property
    def arn(self) -> str: ...

    @property
    def vpc_id(self) -> str | None: ...


ResourceT = TypeVar("ResourceT", bound=Elbv2Resource)


@dataclass(frozen=True)
class TaggedResource(Generic[ResourceT]):
    """One ELBv2 resource as described by AWS, with its tags."""

    arn: str
    description: ResourceT = field(hash=False)
    tags: Mapping[str, str] = field(hash=False)


@dataclass(frozen=True)
class StackResources(Generic[ResourceT]):
    """A stack's resources of one kind, matched by resource id: the first found per id is kept,
    later ones are duplicates to delete (as upstream does for SGs, upstream-behaviour §1.8)."""

    by_resource_id: Mapping[str, TaggedResource[ResourceT]]
    duplicates: tuple[TaggedResource[ResourceT], ...]


def match_by_resource_id(
    found: Iterable[TaggedResource[ResourceT]], resource_key: str, kind: str
) -> StackResources[ResourceT]:
    by_resource_id: dict[str, TaggedResource[ResourceT]] = {}
    duplicates: list[TaggedResource[ResourceT]] = []
    for resource in found:
        resource_id = resource.tags.get(resource_key)
        if resource_id is None:
            raise UnexpectedResourceError(f"unexpected {kind} with no resourceID: {resource.arn}")
        if resource_id in by_resource_id:
            duplicates.append(resource)
        else:
            by_resource_id[resource_id] = resource
    return StackResources(by_resource_id, tuple(duplicates))


async def reconcile_elbv2_tags(
    elbv2: Elbv2,
    arn: str,
    desired: Mapping[str, str],
    current: Mapping[str, str],
    *,
    ignored_keys: Collection[str] = frozenset(),
) -> TagPlan:
    """Add missing/changed keys, remove extra keys; ``aws:*`` and ``ignored_keys``
    (``--external-managed-tags``) are never touched."""
    plan = plan_tag_changes(desired, current, ignored_keys)
    if plan.to_set:
        await elbv2.add_tags(arn, plan.to_set)
    if plan.to_delete:
        await elbv2.remove_tags(arn, plan.to_delete)
    return plan
