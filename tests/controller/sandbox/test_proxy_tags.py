"""The proxy refuses the tags EC2 and ELBv2 refuse (moto stores anything), with AWS's codes and texts."""

from __future__ import annotations

from typing import Any

import pytest

from controller.aws.client import AwsClient
from controller.aws.errors import AwsApiError
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"


async def refused(aws: AwsClient, service: str, operation: str, **params: Any) -> AwsApiError:
    with pytest.raises(AwsApiError) as caught:
        await aws.call(service, operation, **params)  # type: ignore[arg-type]
    assert caught.value.status_code == 400 and caught.value.attempts == 1, caught.value
    return caught.value


async def create_load_balancer(aws: AwsClient, vpc: SandboxVpc, tags: list[dict[str, str]]) -> dict[str, Any]:
    return await aws.call(
        "elbv2",
        "CreateLoadBalancer",
        Name="tagged",
        Subnets=list(vpc.subnet_ids[:2]),
        Type="application",
        Tags=tags,
    )


async def test_elbv2_pattern_violation_is_a_validation_error_and_creates_nothing(
    aws_api: AwsClient, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    error = await refused(
        aws_api,
        "elbv2",
        "CreateLoadBalancer",
        Name="tagged",
        Subnets=list(sandbox_vpc.subnet_ids[:2]),
        Type="application",
        Tags=[{"Key": "team", "Value": "a"}, {"Key": "motto", "Value": 'say "hi"'}],
    )
    assert error.code == "ValidationError"
    assert error.message == (
        "1 validation error detected: Value 'say \"hi\"' at 'tags.2.member.value' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {PATTERN}"
    )
    assert (await aws_api.call("elbv2", "DescribeLoadBalancers"))["LoadBalancers"] == []
    assert [r.outcome for r in aws_proxy.request_log if r.operation == "CreateLoadBalancer"] == [
        "invalid-tag"
    ]


async def test_elbv2_reports_every_broken_constraint(aws_api: AwsClient, sandbox_vpc: SandboxVpc) -> None:
    created = await create_load_balancer(aws_api, sandbox_vpc, [{"Key": "team", "Value": "a"}])
    arn = created["LoadBalancers"][0]["LoadBalancerArn"]
    long_key, long_value = "k" * 129, "v\n" * 129

    error = await refused(
        aws_api,
        "elbv2",
        "AddTags",
        ResourceArns=[arn],
        Tags=[{"Key": long_key, "Value": "ok"}, {"Key": "lines", "Value": long_value}],
    )

    assert error.code == "ValidationError"
    assert error.message == (
        "3 validation errors detected: "
        f"Value '{long_key}' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128; "
        f"Value '{long_value}' at 'tags.2.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 256; "
        f"Value '{long_value}' at 'tags.2.member.value' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {PATTERN}"
    )
    described = await aws_api.call("elbv2", "DescribeTags", ResourceArns=[arn])
    assert described["TagDescriptions"][0]["Tags"] == [{"Key": "team", "Value": "a"}]


async def test_elbv2_refuses_the_reserved_prefix_after_validation(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    error = await refused(
        aws_api,
        "elbv2",
        "CreateTargetGroup",
        Name="tagged",
        Protocol="HTTP",
        Port=80,
        VpcId=sandbox_vpc.vpc_id,
        Tags=[{"Key": "AWS:cloudformation:stack-name", "Value": "x"}],
    )
    assert (error.code, error.message) == (
        "ValidationError",
        "Tag key 'AWS:cloudformation:stack-name' cannot start with 'aws:'",
    )


async def test_elbv2_accepts_unicode_letters_spaces_and_the_listed_symbols(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    tags = [{"Key": "équipe/東京", "Value": "a b_.:/=+-@ ١٢٣"}, {"Key": "k" * 128, "Value": "v" * 256}]
    created = await create_load_balancer(aws_api, sandbox_vpc, tags)
    arn = created["LoadBalancers"][0]["LoadBalancerArn"]
    described = await aws_api.call("elbv2", "DescribeTags", ResourceArns=[arn])
    assert described["TagDescriptions"][0]["Tags"] == tags
    await aws_api.call("elbv2", "RemoveTags", ResourceArns=[arn], TagKeys=["aws:never-set"])


async def test_ec2_refuses_the_reserved_prefix_on_create_and_creates_nothing(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    error = await refused(
        aws_api,
        "ec2",
        "CreateSecurityGroup",
        GroupName="tagged",
        Description="tagged",
        VpcId=sandbox_vpc.vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "aws:owner", "Value": "me"}]}],
    )
    assert (error.code, error.message) == (
        "InvalidTagKey.Malformed",
        "Tag keys starting with 'aws:' are reserved for internal use",
    )
    groups = await aws_api.call(
        "ec2", "DescribeSecurityGroups", Filters=[{"Name": "group-name", "Values": ["tagged"]}]
    )
    assert groups["SecurityGroups"] == []


async def test_ec2_refuses_long_keys_and_values_but_accepts_any_character(
    aws_api: AwsClient, sandbox_vpc: SandboxVpc
) -> None:
    created = await aws_api.call(
        "ec2", "CreateSecurityGroup", GroupName="tagged", Description="tagged", VpcId=sandbox_vpc.vpc_id
    )
    group_id = created["GroupId"]

    error = await refused(
        aws_api, "ec2", "CreateTags", Resources=[group_id], Tags=[{"Key": "k" * 129, "Value": "v"}]
    )
    assert (error.code, error.message) == (
        "InvalidParameterValue",
        "Tag key exceeds the maximum length of 128 characters",
    )
    error = await refused(
        aws_api, "ec2", "CreateTags", Resources=[group_id], Tags=[{"Key": "blob", "Value": "v" * 102400}]
    )
    assert (error.code, error.message) == (
        "InvalidParameterValue",
        "Tag value exceeds the maximum length of 256 characters",
    )

    # EC2 itself allows any character; only ELBv2 restricts them.
    await aws_api.call(
        "ec2", "CreateTags", Resources=[group_id], Tags=[{"Key": "quote", "Value": 'say "hi"\nbye'}]
    )
    (group,) = (await aws_api.call("ec2", "DescribeSecurityGroups", GroupIds=[group_id]))["SecurityGroups"]
    assert group["Tags"] == [{"Key": "quote", "Value": 'say "hi"\nbye'}]
