"""What we know about one security group, from a DescribeSecurityGroups entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.aws.ec2_types import SecurityGroup
from controller.networking.rules import Rule, expand_ip_permissions


@dataclass(frozen=True)
class SecurityGroupInfo:
    group_id: str
    group_name: str
    vpc_id: str | None
    description: str
    tags: Mapping[str, str] = field(hash=False)
    ingress: tuple[Rule, ...]
    """Inbound rules expanded to one source each, with descriptions exactly as AWS holds them."""

    @classmethod
    def from_aws(cls, group: SecurityGroup) -> SecurityGroupInfo:
        return cls(
            group_id=group.group_id,
            group_name=group.group_name,
            vpc_id=group.vpc_id,
            description=group.description,
            tags=group.tags,
            ingress=tuple(expand_ip_permissions(group.ip_permissions)),
        )
