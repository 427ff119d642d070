"""MotoServer: a subprocess on 127.0.0.1 that can be wiped between tests."""

from __future__ import annotations

from controller.aws.client import AwsClient
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.seed import SANDBOX_CLUSTER, SandboxVpc


def test_url_is_loopback(moto_server: MotoServer) -> None:
    assert moto_server.url.startswith("http://127.0.0.1:")


async def test_reset_wipes_state(aws_api: AwsClient, fresh_moto: MotoServer, sandbox_vpc: SandboxVpc) -> None:
    assert len((await aws_api.call("ec2", "DescribeVpcs", VpcIds=[sandbox_vpc.vpc_id]))["Vpcs"]) == 1

    fresh_moto.reset()

    vpcs = await aws_api.call(
        "ec2", "DescribeVpcs", Filters=[{"Name": "tag:Name", "Values": [SANDBOX_CLUSTER]}]
    )
    assert vpcs["Vpcs"] == []


async def test_seeded_subnets_are_discoverable_by_elb_role_tag(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    found = await aws_api.call(
        "ec2",
        "DescribeSubnets",
        Filters=[
            {"Name": "tag:kubernetes.io/role/elb", "Values": ["1"]},
            {"Name": f"tag:kubernetes.io/cluster/{sandbox_vpc.cluster_name}", "Values": ["shared", "owned"]},
        ],
    )
    assert sorted(s["SubnetId"] for s in found["Subnets"]) == sorted(sandbox_vpc.subnet_ids)
    assert {s["VpcId"] for s in found["Subnets"]} == {sandbox_vpc.vpc_id}
    assert len({s["AvailabilityZone"] for s in found["Subnets"]}) == 2
