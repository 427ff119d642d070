"""Tag reconcile of an SG we own: set missing/changed tags, delete extra ones, spare what isn't ours.

Never touched, in either direction: keys starting with ``aws:`` (AWS's own), and the caller's
``ignored_keys`` — for managed SGs the ``--external-managed-tags`` keys plus the legacy keys of
upstream-behaviour §1.4; for the backend SG nothing else (upstream resets every other tag, §3.3).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.naming import AWS_RESERVED_TAG_PREFIX, legacy_tag_keys
from controller.networking.sg_reader import SecurityGroupReader


def managed_sg_ignored_tag_keys(cluster_name: str, external_managed_tags: Collection[str]) -> frozenset[str]:
    """Keys a managed frontend SG's tag reconcile leaves alone (besides ``aws:*``)."""
    return legacy_tag_keys(cluster_name) | frozenset(external_managed_tags)


@dataclass(frozen=True)
class TagPlan:
    to_set: Mapping[str, str] = field(default_factory=dict, hash=False)
    to_delete: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.to_set and not self.to_delete


def plan_tag_changes(
    desired: Mapping[str, str], current: Mapping[str, str], ignored_keys: Collection[str] = frozenset()
) -> TagPlan:
    def ours(key: str) -> bool:
        return not key.startswith(AWS_RESERVED_TAG_PREFIX) and key not in ignored_keys

    to_set = {k: v for k, v in sorted(desired.items()) if ours(k) and current.get(k) != v}
    to_delete = tuple(sorted(k for k in current if k not in desired and ours(k)))
    return TagPlan(to_set, to_delete)


async def reconcile_security_group_tags(
    api: AwsApi,
    reader: SecurityGroupReader,
    group_id: str,
    desired: Mapping[str, str],
    *,
    ignored_keys: Collection[str] = frozenset(),
    current: Mapping[str, str] | None = None,
) -> TagPlan:
    """Set missing/changed keys, then delete extra keys; returns what was done.

    ``current`` defaults to the SG's tags read through ``reader`` (raises ``InvalidGroup.NotFound``
    if the SG is gone).
    """
    if current is None:
        current = (await reader.get(group_id)).tags
    plan = plan_tag_changes(desired, current, ignored_keys)
    ec2 = Ec2(api)
    try:
        if plan.to_set:
            await ec2.create_tags([group_id], plan.to_set)
        if plan.to_delete:
            # No Value: delete the key whatever its value is now.
            await ec2.delete_tags([group_id], plan.to_delete)
    finally:
        if not plan.is_empty:
            reader.invalidate(group_id)
    return plan
