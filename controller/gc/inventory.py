"""What AWS holds in the VPC: every SG (with its inbound rules), LB and target group, as the leak
finder needs it; read through the controller's facades (retries, token buckets, metrics)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.aws.ec2 import Ec2
from controller.aws.elbv2_types import LoadBalancer, TargetGroup
from controller.deploy.elbv2_tags import TaggedResource
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.rules import SecurityGroupSource
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_reader import SecurityGroupReader


@dataclass(frozen=True)
class AwsInventory:
    security_groups: tuple[SecurityGroupInfo, ...]
    """Every SG of the VPC: ours (by tags) and the endpoint SGs our labelled rules sit on."""
    load_balancers: tuple[TaggedResource[LoadBalancer], ...]
    """Every LB of the VPC with its tags (also the untagged ones: any LB may use our backend SG)."""
    target_groups: tuple[TaggedResource[TargetGroup], ...]
    missing_source_groups: frozenset[str]
    """SG ids that labelled rules admit traffic from but that do not exist (anywhere we can see)."""


async def read_inventory(
    ec2: Ec2,
    reader: SecurityGroupReader,
    *,
    vpc_id: str,
    load_balancers: Iterable[TaggedResource[LoadBalancer]],
    target_groups: Iterable[TaggedResource[TargetGroup]],
) -> AwsInventory:
    """One paged DescribeSecurityGroups of the VPC; a source SG outside it is looked up by id
    (one batched read, only when such sources exist) before it is called missing: a peered VPC's
    SG can be a rule's source too."""
    groups = tuple(
        SecurityGroupInfo.from_aws(g)
        for g in await ec2.describe_security_groups(filters={"vpc-id": [vpc_id]})
    )
    known = {g.group_id for g in groups}
    sources = {
        rule.source.group_id
        for group in groups
        for rule in group.ingress
        if isinstance(rule.source, SecurityGroupSource) and OWN_TGB_SHARED_RULES.owns(rule)
    }
    elsewhere = sorted(sources - known)
    found = await reader.get_many(elsewhere, fresh=True) if elsewhere else {}
    return AwsInventory(
        security_groups=groups,
        load_balancers=tuple(load_balancers),
        target_groups=tuple(target_groups),
        missing_source_groups=frozenset(set(elsewhere) - set(found)),
    )
