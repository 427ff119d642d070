"""Custom SG resolution (upstream-behaviour §2.2, scenarios 23-25) against moto behind the proxy."""

from __future__ import annotations

import pytest
from sg_test_helpers import create_sg, mutating_operations

from controller.aws.api import AwsApi
from controller.networking.errors import SecurityGroupLookupError
from controller.networking.sg_resolver import SecurityGroupResolver
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def test_scenario_23_ids_first_then_names_by_name_tag(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    """Scenario 23 (upstream-behaviour §10): ``security-groups: sg-aaa, web-sg`` and a VPC SG tagged
    ``Name=web-sg`` → resolved → LB SGs ``[sg-aaa, <web-sg id>]``, no managed SG."""
    web = await create_sg(aws_api, sandbox_vpc.vpc_id, "group-name-is-not-used", {"Name": "web-sg"})
    plain = await create_sg(aws_api, sandbox_vpc.vpc_id, "plain")
    other_vpc = (await aws_api.call("ec2", "CreateVpc", CidrBlock="10.1.0.0/16"))["Vpc"]["VpcId"]
    foreign = await create_sg(aws_api, other_vpc, "foreign")
    await create_sg(aws_api, other_vpc, "foreign-named", {"Name": "web-sg"})
    aws_proxy.reset_counts()

    resolved = await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(["web-sg", plain, foreign])

    # Ids (any VPC) in AWS's order, then Name-tag matches in the cluster VPC only.
    assert sorted(resolved[:2]) == sorted([plain, foreign])
    assert resolved[2:] == [web]
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 2}


async def test_scenario_24_missing_name_is_an_error_and_changes_nothing(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    """Scenario 24 (upstream-behaviour §10): ``security-groups: missing-name``, no SG with that ``Name`` tag
    in the VPC → resolved → error starting "couldn't find all security groups", no AWS change."""
    await create_sg(aws_api, sandbox_vpc.vpc_id, "missing-name")  # GroupName matches, Name tag does not
    aws_proxy.reset_counts()

    with pytest.raises(SecurityGroupLookupError) as raised:
        await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(["missing-name"])

    assert str(raised.value) == (
        "couldn't find all security groups: requested names [missing-name] but found []"
    )
    assert mutating_operations(aws_proxy) == []


async def test_scenario_25_ambiguous_name_returns_every_match(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    """Scenario 25 (upstream-behaviour §10): Two VPC SGs tagged ``Name=shared``, ``security-groups: shared`` →
    resolved → both attached, no ambiguity error."""
    first = await create_sg(aws_api, sandbox_vpc.vpc_id, "one", {"Name": "shared"})
    second = await create_sg(aws_api, sandbox_vpc.vpc_id, "two", {"Name": "shared"})

    resolved = await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(["shared", "shared"])

    assert sorted(resolved) == sorted([first, second])


async def test_missing_id_and_missing_name_are_reported_together(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    present = await create_sg(aws_api, sandbox_vpc.vpc_id, "present", {"Name": "present"})

    with pytest.raises(SecurityGroupLookupError) as raised:
        await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(
            ["sg-0123456789abcdef0", present, "present", "absent"]
        )

    message = str(raised.value)
    assert message.startswith("couldn't find all security groups: ")
    assert "InvalidGroup.NotFound" in message  # AWS fails the whole by-id call
    assert "requested names [present, absent] but found [present]" in message


async def test_no_caching_each_resolve_asks_aws(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    resolver = SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id)
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "x", {"Name": "renamed-later"})
    assert await resolver.resolve(["renamed-later"]) == [group_id]
    await aws_api.call("ec2", "CreateTags", Resources=[group_id], Tags=[{"Key": "Name", "Value": "new"}])
    with pytest.raises(SecurityGroupLookupError):
        await resolver.resolve(["renamed-later"])
    assert await resolver.resolve(["new"]) == [group_id]


async def test_id_and_name_failures_are_joined_with_a_comma_as_upstream(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    """Upstream's exact text: both failures on one line, ``", "`` between them (ids first)."""
    present = await create_sg(aws_api, sandbox_vpc.vpc_id, "present", {"Name": "present"})
    # AWS's answer for a missing id (the by-id call comes first; the by-name call is not faulted).
    missing = "The security group 'sg-0123456789abcdef0' does not exist"
    aws_proxy.faults.fail("DescribeSecurityGroups", code="InvalidGroup.NotFound", status=400, message=missing)

    with pytest.raises(SecurityGroupLookupError) as raised:
        await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(
            ["sg-0123456789abcdef0", present, "present", "absent"]
        )

    assert str(raised.value) == (
        "couldn't find all security groups: ec2:DescribeSecurityGroups failed: InvalidGroup.NotFound: "
        f"{missing}, requested names [present, absent] but found [present]"
    )


async def test_found_names_are_listed_in_aws_order_as_upstream(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    await create_sg(aws_api, sandbox_vpc.vpc_id, "first", {"Name": "zeta"})
    await create_sg(aws_api, sandbox_vpc.vpc_id, "second", {"Name": "alpha"})

    with pytest.raises(SecurityGroupLookupError) as raised:
        await SecurityGroupResolver(aws_api, sandbox_vpc.vpc_id).resolve(["zeta", "alpha", "absent"])

    assert str(raised.value) == (
        "couldn't find all security groups: requested names [zeta, alpha, absent] but found [zeta, alpha]"
    )
