"""Seed data for tests and the sandbox: a VPC with subnets tagged the way LBC discovers them."""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws.api import AwsApi

SANDBOX_REGION = "us-west-2"
SANDBOX_CLUSTER = "sandbox-cluster"


@dataclass(frozen=True)
class SandboxVpc:
    vpc_id: str
    subnet_ids: tuple[str, ...]
    cluster_name: str
    region: str


async def seed_vpc(
    aws: AwsApi,
    *,
    cluster_name: str = SANDBOX_CLUSTER,
    region: str = SANDBOX_REGION,
    cidr: str = "10.0.0.0/16",
    zones: tuple[str, ...] = ("a", "b"),
) -> SandboxVpc:
    """Create a VPC and one public subnet per zone, tagged ``kubernetes.io/role/elb=1`` and
    ``kubernetes.io/cluster/<name>=shared`` (what subnet auto-discovery looks for)."""
    cluster_tag = {"Key": f"kubernetes.io/cluster/{cluster_name}", "Value": "shared"}
    vpc = await aws.call(
        "ec2",
        "CreateVpc",
        CidrBlock=cidr,
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": cluster_name}, cluster_tag]}
        ],
    )
    vpc_id = vpc["Vpc"]["VpcId"]
    prefix = cidr.split(".")[:2]
    subnet_ids: list[str] = []
    for index, zone in enumerate(zones):
        subnet = await aws.call(
            "ec2",
            "CreateSubnet",
            VpcId=vpc_id,
            CidrBlock=f"{prefix[0]}.{prefix[1]}.{index}.0/24",
            AvailabilityZone=f"{region}{zone}",
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [{"Key": "kubernetes.io/role/elb", "Value": "1"}, cluster_tag],
                }
            ],
        )
        subnet_ids.append(subnet["Subnet"]["SubnetId"])
    return SandboxVpc(vpc_id=vpc_id, subnet_ids=tuple(subnet_ids), cluster_name=cluster_name, region=region)
