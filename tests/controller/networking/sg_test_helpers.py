"""Helpers for SG engine tests against moto behind the AWS-like proxy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.aws.api import AwsApi
from controller.networking.rules import Rule, group_rules
from controller.sandbox.proxy import AwsProxy

MUTATING_EC2_OPERATIONS = frozenset(
    {
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
        "CreateTags",
        "DeleteTags",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
    }
)


async def create_sg(
    api: AwsApi, vpc_id: str, name: str, tags: Mapping[str, str] | None = None, description: str = "test"
) -> str:
    params: dict[str, Any] = {"GroupName": name, "Description": description, "VpcId": vpc_id}
    if tags:
        params["TagSpecifications"] = [
            {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    response = await api.call("ec2", "CreateSecurityGroup", **params)
    return str(response["GroupId"])


async def authorize_directly(api: AwsApi, group_id: str, *rules: Rule) -> None:
    """Add rules behind the engine's back (a human, terraform, or another controller)."""
    await api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group_id,
        IpPermissions=[p.to_aws() for p in group_rules(rules)],
    )


def operations(proxy: AwsProxy) -> list[str]:
    return [record.operation for record in proxy.request_log]


def mutating_operations(proxy: AwsProxy) -> list[str]:
    return [op for op in operations(proxy) if op in MUTATING_EC2_OPERATIONS]
