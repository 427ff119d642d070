"""``DryRunAwsApi``: reads pass through, writes are recorded with AWS-like answers, never sent."""

from __future__ import annotations

from typing import Any

from controller.aws.api import Service
from controller.aws.ec2 import Ec2
from controller.plan.dry_run import DryRunAwsApi, is_read_only


class RecordingApi:
    """The AWS behind the dry run: answers reads from fixed data and remembers what reached it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def call(self, service: Service, operation: str, **params: Any) -> dict[str, Any]:
        self.sent.append((operation, params))
        if operation == "DescribeTags":
            return {"TagDescriptions": [{"ResourceArn": a, "Tags": []} for a in params["ResourceArns"]]}
        return {}

    async def paginate(
        self, service: Service, operation: str, result_key: str, **params: Any
    ) -> list[dict[str, Any]]:
        self.sent.append((operation, params))
        if operation == "DescribeSecurityGroups":
            return [
                {"GroupId": g, "GroupName": "real", "IpPermissions": []} for g in params.get("GroupIds", [])
            ]
        if operation == "DescribeLoadBalancers":
            return [{"LoadBalancerArn": "arn:lb", "LoadBalancerName": "lb", "SecurityGroups": ["sg-1"]}]
        return []


def test_only_describe_operations_are_reads() -> None:
    assert is_read_only("DescribeSecurityGroups")
    for write in (
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "SetSecurityGroups",
        "AddTags",
        "GetX",
    ):
        assert not is_read_only(write)


async def test_writes_are_recorded_and_never_sent() -> None:
    real = RecordingApi()
    dry = DryRunAwsApi(real)
    ec2 = Ec2(dry)
    group_id = await ec2.create_security_group(name="k8s-a", description="d", vpc_id="vpc-1", tags={"k": "v"})
    await ec2.create_tags([group_id], {"x": "y"})
    await ec2.delete_security_group("sg-1")
    await dry.call("elbv2", "SetSecurityGroups", LoadBalancerArn="arn:lb", SecurityGroups=["sg-2"])
    assert real.sent == []
    assert [c.operation for c in dry.calls] == [
        "CreateSecurityGroup",
        "CreateTags",
        "DeleteSecurityGroup",
        "SetSecurityGroups",
    ]
    assert dry.calls[0].result_id == group_id and group_id.startswith("planned-sg-")


async def test_a_planned_sg_reads_back_as_created_and_real_ones_are_asked_for() -> None:
    real = RecordingApi()
    dry = DryRunAwsApi(real)
    ec2 = Ec2(dry)
    planned = await ec2.create_security_group(name="k8s-a", description="d", vpc_id="vpc-1", tags={"k": "v"})
    found = await ec2.describe_security_groups(group_ids=[planned, "sg-9"])
    assert {(g.group_id, g.group_name) for g in found} == {(planned, "k8s-a"), ("sg-9", "real")}
    assert found[0].tags == {"k": "v"}
    assert real.sent == [("DescribeSecurityGroups", {"GroupIds": ["sg-9"]})]


async def test_filters_naming_only_planned_sgs_never_reach_aws() -> None:
    real = RecordingApi()
    dry = DryRunAwsApi(real)
    planned = await Ec2(dry).create_security_group(name="k8s-a", description="d", vpc_id="vpc-1", tags={})
    by_id = await Ec2(dry).describe_security_groups(filters={"group-id": [planned]})
    referencing = await Ec2(dry).describe_security_groups(filters={"ip-permission.group-id": [planned]})
    assert [g.group_id for g in by_id] == [planned] and referencing == []
    assert real.sent == []


async def test_reads_of_new_elbv2_resources_find_nothing_and_tags_ask_only_for_real_arns() -> None:
    real = RecordingApi()
    dry = DryRunAwsApi(real)
    created = await dry.call(
        "elbv2", "CreateLoadBalancer", Name="lb-new", Type="application", Subnets=["s-1"]
    )
    arn = created["LoadBalancers"][0]["LoadBalancerArn"]
    assert created["LoadBalancers"][0]["LoadBalancerName"] == "lb-new"
    assert await dry.paginate("elbv2", "DescribeListeners", "Listeners", LoadBalancerArn=arn) == []
    assert await dry.call("elbv2", "DescribeTargetHealth", TargetGroupArn="planned-arn:targetgroup/x") == {}
    tags = await dry.call("elbv2", "DescribeTags", ResourceArns=[arn, "arn:real"])
    assert [t["ResourceArn"] for t in tags["TagDescriptions"]] == ["arn:real"]
    assert real.sent == [("DescribeTags", {"ResourceArns": ["arn:real"]})]


async def test_load_balancers_seen_are_remembered_for_the_before_state() -> None:
    dry = DryRunAwsApi(RecordingApi())
    await dry.paginate("elbv2", "DescribeLoadBalancers", "LoadBalancers")
    assert dry.load_balancers_seen["arn:lb"]["SecurityGroups"] == ["sg-1"]
