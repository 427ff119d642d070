"""What we know about one security group, parsed from a DescribeSecurityGroups entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

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
    def from_aws(cls, group: Mapping[str, Any]) -> SecurityGroupInfo:
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in group.get("Tags") or ()}
        return cls(
            group_id=str(group["GroupId"]),
            group_name=str(group.get("GroupName", "")),
            vpc_id=group.get("VpcId"),
            description=str(group.get("Description", "")),
            tags=MappingProxyType(tags),
            ingress=tuple(expand_ip_permissions(group.get("IpPermissions") or ())),
        )
