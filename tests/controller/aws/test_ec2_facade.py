"""The ``Ec2`` facade against moto behind the AWS-like proxy: our values in, our values out."""

from __future__ import annotations

import pytest

from controller.aws.api import AwsApi
from controller.aws.ec2 import Ec2
from controller.aws.ec2_types import GroupPair, IpPermission, IpRange, PrefixListEntry
from controller.aws.errors import AwsApiError
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def test_security_group_lifecycle_with_tags(aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> None:
    ec2 = Ec2(aws_api)
    group_id = await ec2.create_security_group(
        name="facade", description="made by the facade", vpc_id=sandbox_vpc.vpc_id, tags={"a": "1", "b": "2"}
    )

    [group] = await ec2.describe_security_groups(group_ids=[group_id])
    assert (group.group_id, group.group_name, group.vpc_id, group.description) == (
        group_id,
        "facade",
        sandbox_vpc.vpc_id,
        "made by the facade",
    )
    assert dict(group.tags) == {"a": "1", "b": "2"}

    await ec2.create_tags([group_id], {"b": "changed", "c": "3"})
    await ec2.delete_tags([group_id], ["a"])
    [group] = await ec2.describe_security_groups(filters={"vpc-id": [sandbox_vpc.vpc_id], "tag:c": ["3"]})
    assert dict(group.tags) == {"b": "changed", "c": "3"}

    await ec2.delete_security_group(group_id)
    # A filter leaves a missing group out; asking for it by id is AWS's error.
    assert await ec2.describe_security_groups(filters={"group-id": [group_id]}) == []
    with pytest.raises(AwsApiError) as caught:
        await ec2.describe_security_groups(group_ids=[group_id])
    assert caught.value.code == "InvalidGroup.NotFound"


async def test_ingress_permissions_round_trip_and_revoke_by_what_was_described(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    ec2 = Ec2(aws_api)
    target = await ec2.create_security_group(
        name="target", description="t", vpc_id=sandbox_vpc.vpc_id, tags={"Name": "x"}
    )
    source = await ec2.create_security_group(
        name="source", description="s", vpc_id=sandbox_vpc.vpc_id, tags={"Name": "x"}
    )
    permissions = [
        IpPermission(
            "tcp",
            443,
            443,
            ipv4_ranges=(IpRange("10.0.0.0/8", "ops"), IpRange("192.168.0.0/16")),
            ipv6_ranges=(IpRange("::/0", "v6"),),
            group_pairs=(GroupPair(source, description="from source"),),
        ),
        IpPermission("-1", ipv4_ranges=(IpRange("172.16.0.0/12"),)),
    ]

    await ec2.authorize_security_group_ingress(target, permissions)

    [group] = await ec2.describe_security_groups(group_ids=[target])
    by_protocol = {p.protocol: p for p in group.ip_permissions}
    tcp = by_protocol["tcp"]
    assert (tcp.from_port, tcp.to_port) == (443, 443)
    assert set(tcp.ipv4_ranges) == {IpRange("10.0.0.0/8", "ops"), IpRange("192.168.0.0/16")}
    assert tcp.ipv6_ranges == (IpRange("::/0", "v6"),)
    [pair] = tcp.group_pairs
    assert (pair.group_id, pair.description) == (source, "from source")
    assert pair.user_id  # AWS names the owning account of every pair
    assert (by_protocol["-1"].from_port, by_protocol["-1"].ipv4_ranges) == (None, (IpRange("172.16.0.0/12"),))

    # What was described is sent back as it is (user id and descriptions included).
    await ec2.revoke_security_group_ingress(target, group.ip_permissions)
    [group] = await ec2.describe_security_groups(group_ids=[target])
    assert group.ip_permissions == ()
    assert aws_proxy.calls_by_operation()["RevokeSecurityGroupIngress"] == 1


def test_ip_permission_writes_only_what_it_holds() -> None:
    assert IpPermission("-1", ipv4_ranges=(IpRange("10.0.0.0/8"),)).to_aws() == {
        "IpProtocol": "-1",
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
    }
    permission = IpPermission(
        "tcp",
        80,
        81,
        prefix_lists=(PrefixListEntry("pl-1", "p"),),
        group_pairs=(GroupPair("sg-1", "123", "x=y"), GroupPair("sg-2")),
    )
    assert permission.to_aws() == {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 81,
        "PrefixListIds": [{"PrefixListId": "pl-1", "Description": "p"}],
        "UserIdGroupPairs": [{"GroupId": "sg-1", "UserId": "123", "Description": "x=y"}, {"GroupId": "sg-2"}],
    }
    assert IpPermission.from_aws(permission.to_aws()) == permission


async def test_vpcs_and_subnets(aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> None:
    ec2 = Ec2(aws_api)

    vpc = await ec2.describe_vpc(sandbox_vpc.vpc_id)
    assert vpc is not None
    assert (vpc.vpc_id, vpc.cidr_block) == (sandbox_vpc.vpc_id, "10.0.0.0/16")
    assert [a.cidr for a in vpc.ipv4_associations if a.associated] == ["10.0.0.0/16"]
    tagged = await ec2.describe_vpcs(filters={"tag:Name": [sandbox_vpc.cluster_name]})
    assert [v.vpc_id for v in tagged] == [sandbox_vpc.vpc_id]
    assert await ec2.describe_vpcs(filters={"tag:Name": ["nobody"]}) == []

    subnets = await ec2.describe_subnets(
        filters={"vpc-id": [sandbox_vpc.vpc_id], "tag-key": ["kubernetes.io/role/elb"]}
    )
    assert sorted(s.subnet_id for s in subnets) == sorted(sandbox_vpc.subnet_ids)
    by_id = {s.subnet_id: s for s in subnets}
    first = by_id[sandbox_vpc.subnet_ids[0]]
    assert (first.availability_zone, first.cidr_block) == (f"{sandbox_vpc.region}a", "10.0.0.0/24")
    assert first.tags["kubernetes.io/role/elb"] == "1"


async def test_network_interfaces_and_instances(aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> None:
    ec2 = Ec2(aws_api)
    group_id = await ec2.create_security_group(
        name="eni", description="e", vpc_id=sandbox_vpc.vpc_id, tags={"Name": "x"}
    )
    created = await aws_api.call(
        "ec2",
        "CreateNetworkInterface",
        SubnetId=sandbox_vpc.subnet_ids[0],
        Groups=[group_id],
        SecondaryPrivateIpAddressCount=1,
    )
    eni_id = str(created["NetworkInterface"]["NetworkInterfaceId"])

    [eni] = await ec2.describe_network_interfaces(network_interface_ids=[eni_id])
    assert (eni.network_interface_id, eni.group_ids, eni.device_index) == (eni_id, (group_id,), None)
    assert len(set(eni.private_ip_addresses)) == 2
    by_address = await ec2.describe_network_interfaces(
        filters={
            "vpc-id": [sandbox_vpc.vpc_id],
            "addresses.private-ip-address": [eni.private_ip_addresses[0]],
        }
    )
    assert [e.network_interface_id for e in by_address] == [eni_id]

    run = await aws_api.call(
        "ec2",
        "RunInstances",
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        SubnetId=sandbox_vpc.subnet_ids[0],
        SecurityGroupIds=[group_id],
    )
    instance_id = str(run["Instances"][0]["InstanceId"])
    [instance] = await ec2.describe_instances([instance_id])
    assert instance.instance_id == instance_id
    [primary] = instance.network_interfaces
    assert (primary.group_ids, primary.device_index) == ((group_id,), 0)


async def test_rules_are_listed_with_their_ids_and_revoked_by_id(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    ec2 = Ec2(aws_api)
    target = await ec2.create_security_group(
        name="target", description="t", vpc_id=sandbox_vpc.vpc_id, tags={"Name": "t"}
    )
    source = await ec2.create_security_group(
        name="source", description="s", vpc_id=sandbox_vpc.vpc_id, tags={"Name": "s"}
    )
    await ec2.authorize_security_group_ingress(
        target,
        [
            IpPermission("tcp", 80, 80, group_pairs=(GroupPair(source),)),
            IpPermission("tcp", 22, 22, ipv4_ranges=(IpRange("10.0.0.0/8"),)),
        ],
    )

    rules = await ec2.describe_security_group_rules(target)
    inbound = {(r.from_port, r.referenced_group_id, r.cidr_ipv4): r for r in rules if not r.is_egress}
    assert set(inbound) == {(80, source, None), (22, None, "10.0.0.0/8")}
    assert all(r.group_id == target and r.protocol == "tcp" for r in inbound.values())

    await ec2.revoke_security_group_ingress_rules(target, [inbound[(80, source, None)].rule_id])
    [group] = await ec2.describe_security_groups(group_ids=[target])
    assert [(p.from_port, p.ipv4_ranges) for p in group.ip_permissions] == [(22, (IpRange("10.0.0.0/8"),))]
