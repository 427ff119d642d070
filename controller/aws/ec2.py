"""``Ec2``: one method per EC2 operation the controller uses, over the one call path (``AwsApi``).

The facade only translates: our values in, AWS's request out, AWS's answer back as our values.
Retries, pacing and metrics stay in ``AwsApi``; describes that page are followed to the end here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from controller.aws.api import AwsApi
from controller.aws.ec2_types import (
    Filters,
    Instance,
    IpPermission,
    NetworkInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    Vpc,
    filter_list,
    tag_list,
)

DESCRIBE_SECURITY_GROUPS: Final = "DescribeSecurityGroups"
"""Named by errors that stand in for AWS's own answer to this call (an SG found missing)."""


class Ec2:
    def __init__(self, api: AwsApi) -> None:
        self._api = api

    # ------------------------------------------------------------------------------ security groups

    async def describe_security_groups(
        self, *, group_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[SecurityGroup]:
        """With ``group_ids``, one missing id fails the whole call (``InvalidGroup.NotFound``); a
        ``group-id`` filter instead leaves missing ids out of the answer."""
        params: dict[str, object] = {}
        if group_ids is not None:
            params["GroupIds"] = list(group_ids)
        if filters is not None:
            params["Filters"] = filter_list(filters)
        groups = await self._api.paginate("ec2", DESCRIBE_SECURITY_GROUPS, "SecurityGroups", **params)
        return [SecurityGroup.from_aws(g) for g in groups]

    async def create_security_group(
        self, *, name: str, description: str, vpc_id: str, tags: Mapping[str, str]
    ) -> str:
        """Creates the SG with its tags applied atomically (TagSpecifications); returns its id."""
        response = await self._api.call(
            "ec2",
            "CreateSecurityGroup",
            GroupName=name,
            Description=description,
            VpcId=vpc_id,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tag_list(tags)}],
        )
        return str(response["GroupId"])

    async def delete_security_group(self, group_id: str) -> None:
        await self._api.call("ec2", "DeleteSecurityGroup", GroupId=group_id)

    async def authorize_security_group_ingress(
        self, group_id: str, permissions: Sequence[IpPermission]
    ) -> None:
        await self._api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group_id,
            IpPermissions=[p.to_aws() for p in permissions],
        )

    async def revoke_security_group_ingress(self, group_id: str, permissions: Sequence[IpPermission]) -> None:
        await self._api.call(
            "ec2",
            "RevokeSecurityGroupIngress",
            GroupId=group_id,
            IpPermissions=[p.to_aws() for p in permissions],
        )

    async def describe_security_group_rules(self, group_id: str) -> list[SecurityGroupRule]:
        """Every rule of the SG, each with its id."""
        rules = await self._api.paginate(
            "ec2",
            "DescribeSecurityGroupRules",
            "SecurityGroupRules",
            Filters=filter_list({"group-id": [group_id]}),
        )
        return [SecurityGroupRule.from_aws(r) for r in rules]

    async def revoke_security_group_ingress_rules(self, group_id: str, rule_ids: Sequence[str]) -> None:
        """Revoke by rule id: AWS refuses to match a rule by a source SG that no longer exists."""
        await self._api.call(
            "ec2", "RevokeSecurityGroupIngress", GroupId=group_id, SecurityGroupRuleIds=list(rule_ids)
        )

    # ------------------------------------------------------------------------------------------ tags

    async def create_tags(self, resource_ids: Sequence[str], tags: Mapping[str, str]) -> None:
        """Adds or overwrites ``tags`` (in the mapping's order) on every resource."""
        await self._api.call("ec2", "CreateTags", Resources=list(resource_ids), Tags=tag_list(tags))

    async def delete_tags(self, resource_ids: Sequence[str], keys: Sequence[str]) -> None:
        """Deletes the keys whatever their values are (no value is sent)."""
        await self._api.call(
            "ec2", "DeleteTags", Resources=list(resource_ids), Tags=[{"Key": key} for key in keys]
        )

    # ---------------------------------------------------------------------------- VPCs and subnets

    async def describe_vpc(self, vpc_id: str) -> Vpc | None:
        """The VPC, or ``None`` if AWS answered with no VPC (an unknown id is AWS's error)."""
        response = await self._api.call("ec2", "DescribeVpcs", VpcIds=[vpc_id])
        vpcs = response.get("Vpcs") or ()
        return Vpc.from_aws(vpcs[0]) if vpcs else None

    async def describe_vpcs(self, *, filters: Filters) -> list[Vpc]:
        vpcs = await self._api.paginate("ec2", "DescribeVpcs", "Vpcs", Filters=filter_list(filters))
        return [Vpc.from_aws(v) for v in vpcs]

    async def describe_subnets(self, *, filters: Filters) -> list[Subnet]:
        subnets = await self._api.paginate("ec2", "DescribeSubnets", "Subnets", Filters=filter_list(filters))
        return [Subnet.from_aws(s) for s in subnets]

    # -------------------------------------------------------------------------- instances and ENIs

    async def describe_instances(self, instance_ids: Sequence[str]) -> list[Instance]:
        """The instances of every reservation, in AWS's answer order."""
        reservations = await self._api.paginate(
            "ec2", "DescribeInstances", "Reservations", InstanceIds=list(instance_ids)
        )
        return [Instance.from_aws(i) for r in reservations for i in r.get("Instances") or ()]

    async def describe_network_interfaces(
        self, *, network_interface_ids: Sequence[str] | None = None, filters: Filters | None = None
    ) -> list[NetworkInterface]:
        params: dict[str, object] = {}
        if network_interface_ids is not None:
            params["NetworkInterfaceIds"] = list(network_interface_ids)
        if filters is not None:
            params["Filters"] = filter_list(filters)
        interfaces = await self._api.paginate(
            "ec2", "DescribeNetworkInterfaces", "NetworkInterfaces", **params
        )
        return [NetworkInterface.from_aws(i) for i in interfaces]
