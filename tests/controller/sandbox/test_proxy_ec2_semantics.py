"""The proxy fixes moto's gaps: DependencyViolation on DeleteSecurityGroup, duplicate group pairs."""

from __future__ import annotations

from typing import Any

import pytest

from controller.aws.client import AwsClient
from controller.aws.errors import AwsApiError
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def create_group(aws: AwsClient, vpc: SandboxVpc, name: str) -> str:
    created = await aws.call("ec2", "CreateSecurityGroup", GroupName=name, Description=name, VpcId=vpc.vpc_id)
    return str(created["GroupId"])


def pair_permission(peer: str, port: int, description: str, protocol: str = "tcp") -> dict[str, Any]:
    return {
        "IpProtocol": protocol,
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": peer, "Description": description}],
    }


async def assert_dependency_violation(aws: AwsClient, group_id: str) -> None:
    with pytest.raises(AwsApiError) as caught:
        await aws.call("ec2", "DeleteSecurityGroup", GroupId=group_id)
    assert caught.value.code == "DependencyViolation"
    assert caught.value.status_code == 400
    assert caught.value.message == f"resource {group_id} has a dependent object"
    assert caught.value.attempts == 1


async def assert_deleted(aws: AwsClient, group_id: str) -> None:
    await aws.call("ec2", "DeleteSecurityGroup", GroupId=group_id)
    with pytest.raises(AwsApiError) as caught:
        await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id])
    assert caught.value.code == "InvalidGroup.NotFound"


async def test_unused_group_is_deleted(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "lonely")
    await assert_deleted(aws_api, group)


async def test_delete_by_name_is_checked_too(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    target = await create_group(aws_api, sandbox_vpc, "target")
    other = await create_group(aws_api, sandbox_vpc, "other")
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=other,
        IpPermissions=[pair_permission(target, 80, "x")],
    )
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call("ec2", "DeleteSecurityGroup", GroupName="target")
    assert caught.value.code == "DependencyViolation"


async def test_ingress_reference_blocks_delete_until_revoked(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    target = await create_group(aws_api, sandbox_vpc, "target")
    other = await create_group(aws_api, sandbox_vpc, "other")
    permission = pair_permission(target, 8080, "lb")
    await aws_api.call("ec2", "AuthorizeSecurityGroupIngress", GroupId=other, IpPermissions=[permission])

    await assert_dependency_violation(aws_api, target)
    assert aws_proxy.request_log[-1].outcome == "dependency"

    await aws_api.call("ec2", "RevokeSecurityGroupIngress", GroupId=other, IpPermissions=[permission])
    await assert_deleted(aws_api, target)


async def test_egress_reference_blocks_delete(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    target = await create_group(aws_api, sandbox_vpc, "target")
    other = await create_group(aws_api, sandbox_vpc, "other")
    permission = pair_permission(target, 443, "out")
    await aws_api.call("ec2", "AuthorizeSecurityGroupEgress", GroupId=other, IpPermissions=[permission])

    await assert_dependency_violation(aws_api, target)

    await aws_api.call("ec2", "RevokeSecurityGroupEgress", GroupId=other, IpPermissions=[permission])
    await assert_deleted(aws_api, target)


async def test_self_reference_does_not_block_delete(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "self")
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[pair_permission(group, 80, "self")],
    )
    await assert_deleted(aws_api, group)


async def test_network_interface_blocks_delete(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "eni-sg")
    eni = await aws_api.call(
        "ec2", "CreateNetworkInterface", SubnetId=sandbox_vpc.subnet_ids[0], Groups=[group]
    )

    await assert_dependency_violation(aws_api, group)

    await aws_api.call(
        "ec2", "DeleteNetworkInterface", NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"]
    )
    await assert_deleted(aws_api, group)


async def test_instance_blocks_delete_until_terminated(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "node-sg")
    run = await aws_api.call(
        "ec2",
        "RunInstances",
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=sandbox_vpc.subnet_ids[0],
        SecurityGroupIds=[group],
    )
    instance_id = run["Instances"][0]["InstanceId"]

    await assert_dependency_violation(aws_api, group)

    await aws_api.call("ec2", "TerminateInstances", InstanceIds=[instance_id])
    # AWS deletes a terminated instance's primary interface; moto keeps it, the proxy ignores it
    await assert_deleted(aws_api, group)


async def test_interface_of_terminated_instance_still_blocks_when_kept(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    group = await create_group(aws_api, sandbox_vpc, "extra-eni-sg")
    run = await aws_api.call(
        "ec2",
        "RunInstances",
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        SubnetId=sandbox_vpc.subnet_ids[0],
    )
    instance_id = run["Instances"][0]["InstanceId"]
    eni = await aws_api.call(
        "ec2", "CreateNetworkInterface", SubnetId=sandbox_vpc.subnet_ids[1], Groups=[group]
    )
    await aws_api.call(
        "ec2",
        "AttachNetworkInterface",
        NetworkInterfaceId=eni["NetworkInterface"]["NetworkInterfaceId"],
        InstanceId=instance_id,
        DeviceIndex=1,
    )
    await aws_api.call("ec2", "TerminateInstances", InstanceIds=[instance_id])

    # a secondary interface is not deleted on termination by default, so it still uses the group
    await assert_dependency_violation(aws_api, group)


async def test_load_balancer_blocks_delete(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "lb-sg")
    lb = await aws_api.call(
        "elbv2",
        "CreateLoadBalancer",
        Name="lb",
        Subnets=list(sandbox_vpc.subnet_ids),
        SecurityGroups=[group],
        Type="application",
    )

    await assert_dependency_violation(aws_api, group)

    await aws_api.call(
        "elbv2", "DeleteLoadBalancer", LoadBalancerArn=lb["LoadBalancers"][0]["LoadBalancerArn"]
    )
    await assert_deleted(aws_api, group)


async def test_same_pair_with_another_description_is_a_duplicate(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    group = await create_group(aws_api, sandbox_vpc, "node")
    peer = await create_group(aws_api, sandbox_vpc, "lb")
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[pair_permission(peer, 80, "first")],
    )

    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[pair_permission(peer, 80, "second")],
        )
    assert caught.value.code == "InvalidPermission.Duplicate"
    assert caught.value.status_code == 400
    assert peer in caught.value.message
    assert aws_proxy.request_log[-1].outcome == "duplicate"

    # protocol numbers are the same protocol as their names
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[pair_permission(peer, 80, "third", protocol="6")],
        )
    assert caught.value.code == "InvalidPermission.Duplicate"

    described = await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group])
    pairs = [p for perm in described["SecurityGroups"][0]["IpPermissions"] for p in perm["UserIdGroupPairs"]]
    assert [p["Description"] for p in pairs] == ["first"]


async def test_same_peer_on_other_ports_is_not_a_duplicate(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    group = await create_group(aws_api, sandbox_vpc, "node")
    peer = await create_group(aws_api, sandbox_vpc, "lb")
    await aws_api.call(
        "ec2", "AuthorizeSecurityGroupIngress", GroupId=group, IpPermissions=[pair_permission(peer, 80, "a")]
    )
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[pair_permission(peer, 81, "a"), pair_permission(peer, 80, "b", "udp")],
    )

    described = await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group])
    assert len(described["SecurityGroups"][0]["IpPermissions"]) == 3


async def test_egress_duplicate_pairs_are_detected(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    group = await create_group(aws_api, sandbox_vpc, "node")
    peer = await create_group(aws_api, sandbox_vpc, "lb")
    await aws_api.call(
        "ec2", "AuthorizeSecurityGroupEgress", GroupId=group, IpPermissions=[pair_permission(peer, 80, "a")]
    )
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupEgress",
            GroupId=group,
            IpPermissions=[pair_permission(peer, 80, "b")],
        )
    assert caught.value.code == "InvalidPermission.Duplicate"


async def test_authorize_on_unknown_group_still_gets_moto_answer(aws_api: AwsClient) -> None:
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId="sg-00000000000000bad",
            IpPermissions=[pair_permission("sg-00000000000000bad", 80, "a")],
        )
    assert caught.value.code == "InvalidGroup.NotFound"


async def test_authorize_naming_a_missing_source_group_adds_nothing(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    """AWS applies an authorize entirely or not at all; moto alone would keep the rules before the
    missing pair. The error names the missing source group, as AWS's does."""
    group = await create_group(aws_api, sandbox_vpc, "node")
    peer = await create_group(aws_api, sandbox_vpc, "peer")
    missing = "sg-0123456789abcdef0"
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[pair_permission(peer, 80, "a"), pair_permission(missing, 9999, "b")],
        )
    assert caught.value.code == "InvalidGroup.NotFound"
    assert caught.value.message == f"The security group '{missing}' does not exist"
    assert aws_proxy.request_log[-1].outcome == "not-found"
    described = await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group])
    assert described["SecurityGroups"][0]["IpPermissions"] == []


def cidr_permission(cidr: str, port: int = 81) -> dict[str, Any]:
    key, entry = ("Ipv6Ranges", "CidrIpv6") if ":" in cidr else ("IpRanges", "CidrIp")
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, key: [{entry: cidr}]}


async def test_rule_cidrs_are_canonicalised_as_aws_does(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    """AWS stores 192.168.1.1/16 as 192.168.0.0/16, describes it so, treats the two as one rule when
    authorizing again and when revoking (moto alone keeps the text as written)."""
    group = await create_group(aws_api, sandbox_vpc, "cidrs")
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[cidr_permission("192.168.1.1/16"), cidr_permission("2001:DB8:0:0::1/32")],
    )
    [described] = (await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group]))["SecurityGroups"]
    [permission] = described["IpPermissions"]
    assert [r["CidrIp"] for r in permission["IpRanges"]] == ["192.168.0.0/16"]
    assert [r["CidrIpv6"] for r in permission["Ipv6Ranges"]] == ["2001:db8::/32"]
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[cidr_permission("192.168.0.0/16")],
        )
    assert caught.value.code == "InvalidPermission.Duplicate"
    await aws_api.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[cidr_permission("192.168.7.7/16"), cidr_permission("2001:db8::/32")],
    )
    [described] = (await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group]))["SecurityGroups"]
    assert described["IpPermissions"] == []


def cidrs_permission(port: int, cidrs: list[str], ipv6: list[str] | None = None) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "IpRanges": [{"CidrIp": cidr} for cidr in cidrs],
        "Ipv6Ranges": [{"CidrIpv6": cidr} for cidr in ipv6 or []],
    }


async def inbound_entries(aws: AwsClient, group_id: str) -> int:
    found = await aws.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id])
    return sum(
        len(p.get("IpRanges", [])) + len(p.get("Ipv6Ranges", [])) + len(p.get("UserIdGroupPairs", []))
        for p in found["SecurityGroups"][0]["IpPermissions"]
    )


async def test_authorize_past_the_rules_quota_is_refused_like_aws_and_adds_nothing(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    aws_proxy.rules_per_security_group = 3
    group = await create_group(aws_api, sandbox_vpc, "full")
    peer = await create_group(aws_api, sandbox_vpc, "peer")
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[cidrs_permission(80, ["10.0.0.0/16", "10.1.0.0/16"])],
    )
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[cidrs_permission(443, ["10.2.0.0/16"]), pair_permission(peer, 8080, "x")],
        )
    assert caught.value.code == "RulesPerSecurityGroupLimitExceeded"
    assert caught.value.message == "The maximum number of rules per security group has been reached."
    assert aws_proxy.request_log[-1].outcome == "limit"
    assert await inbound_entries(aws_api, group) == 2  # all or nothing, as AWS

    # Exactly at the quota is fine.
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[pair_permission(peer, 8080, "x")],
    )
    assert await inbound_entries(aws_api, group) == 3


async def test_rules_quota_counts_ipv4_and_ipv6_apart_and_sources_on_both(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    aws_proxy.rules_per_security_group = 2
    group = await create_group(aws_api, sandbox_vpc, "dual")
    peer = await create_group(aws_api, sandbox_vpc, "peer")
    # Two IPv4 and two IPv6 CIDRs: two rules on each side, within a quota of 2.
    await aws_api.call(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        GroupId=group,
        IpPermissions=[
            cidrs_permission(80, ["10.0.0.0/16", "10.1.0.0/16"], ["2001:db8::/64", "2001:db9::/64"])
        ],
    )
    # An SG source counts on both sides: 3 > 2.
    with pytest.raises(AwsApiError) as caught:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[pair_permission(peer, 1, "x")],
        )
    assert caught.value.code == "RulesPerSecurityGroupLimitExceeded"
    # Re-sending an existing CIDR rule (written with host bits) is not a new rule for the quota:
    # it reaches moto, which answers it as the duplicate it is.
    with pytest.raises(AwsApiError) as duplicate:
        await aws_api.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group,
            IpPermissions=[cidrs_permission(80, ["10.0.0.1/16"])],
        )
    assert duplicate.value.code == "InvalidPermission.Duplicate"
