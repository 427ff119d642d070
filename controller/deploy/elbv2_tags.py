"""Find ELBv2 resources (load balancers, target groups) by their tags, and reconcile those tags.

ELBv2 has no tag filter on its Describe calls, so finding a stack's resources means listing the
VPC's resources and reading their tags in batches of 20 ARNs (DescribeTags' limit), as upstream
does without the Resource Groups Tagging API. Names are never used to find anything: moto (and a
renamed resource) would make a name lookup lie.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.aws.api import AwsApi
from controller.deploy.errors import UnexpectedResourceError
from controller.naming import StackTags, resource_tag_key
from controller.networking.tags import TagPlan, plan_tag_changes

DESCRIBE_TAGS_BATCH: Final = 20


@dataclass(frozen=True)
class TaggedResource:
    """One ELBv2 resource as described by AWS, with its tags."""

    arn: str
    description: Mapping[str, Any] = field(hash=False)
    tags: Mapping[str, str] = field(hash=False)


@dataclass(frozen=True)
class StackResources:
    """A stack's resources of one kind, matched by resource id: the first found per id is kept,
    later ones are duplicates to delete (as upstream does for SGs, upstream-behaviour §1.8)."""

    by_resource_id: Mapping[str, TaggedResource]
    duplicates: tuple[TaggedResource, ...]


async def describe_elbv2_tags(api: AwsApi, arns: Sequence[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), DESCRIBE_TAGS_BATCH):
        response = await api.call(
            "elbv2", "DescribeTags", ResourceArns=list(arns[start : start + DESCRIBE_TAGS_BATCH])
        )
        for entry in response.get("TagDescriptions") or ():
            tags[str(entry["ResourceArn"])] = {
                str(t["Key"]): str(t.get("Value", "")) for t in entry.get("Tags") or ()
            }
    return tags


def _carries(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(tags.get(key) == value for key, value in wanted.items())


async def find_stack_resources(
    api: AwsApi,
    *,
    operation: str,
    result_key: str,
    arn_key: str,
    kind: str,
    vpc_id: str,
    stack: StackTags,
) -> StackResources:
    """Resources listed by ``operation`` in ``vpc_id`` that carry the stack's tracking tags.

    Raises ``UnexpectedResourceError`` if one of them has no ``<prefix>/resource`` tag.
    """
    described = [
        item for item in await api.paginate("elbv2", operation, result_key) if item.get("VpcId") == vpc_id
    ]
    tags = await describe_elbv2_tags(api, [str(item[arn_key]) for item in described])
    wanted = stack.tracking_tags()
    found = [
        TaggedResource(str(item[arn_key]), item, tags.get(str(item[arn_key]), {}))
        for item in described
        if _carries(tags.get(str(item[arn_key]), {}), wanted)
    ]
    return match_by_resource_id(found, resource_tag_key(stack.prefix), kind)


def match_by_resource_id(found: Iterable[TaggedResource], resource_key: str, kind: str) -> StackResources:
    by_resource_id: dict[str, TaggedResource] = {}
    duplicates: list[TaggedResource] = []
    for resource in found:
        resource_id = resource.tags.get(resource_key)
        if resource_id is None:
            raise UnexpectedResourceError(f"unexpected {kind} with no resourceID: {resource.arn}")
        if resource_id in by_resource_id:
            duplicates.append(resource)
        else:
            by_resource_id[resource_id] = resource
    return StackResources(by_resource_id, tuple(duplicates))


def elbv2_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


async def reconcile_elbv2_tags(
    api: AwsApi,
    arn: str,
    desired: Mapping[str, str],
    current: Mapping[str, str],
    *,
    ignored_keys: Collection[str] = frozenset(),
) -> TagPlan:
    """AddTags for missing/changed keys, RemoveTags for extra keys; ``aws:*`` and ``ignored_keys``
    (``--external-managed-tags``) are never touched."""
    plan = plan_tag_changes(desired, current, ignored_keys)
    if plan.to_set:
        await api.call("elbv2", "AddTags", ResourceArns=[arn], Tags=elbv2_tag_list(plan.to_set))
    if plan.to_delete:
        await api.call("elbv2", "RemoveTags", ResourceArns=[arn], TagKeys=list(plan.to_delete))
    return plan
