"""``StackSecurityGroupIndex``: one scan answers every stack's SG look-up; our writes keep it true."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.aws.api import AwsApi
from controller.deploy.sg_index import StackSecurityGroupIndex
from controller.naming import INGRESS_TAG_PREFIX, MANAGED_SG_RESOURCE_ID, SERVICE_TAG_PREFIX, StackTags
from controller.networking.sg_info import SecurityGroupInfo
from controller.networking.sg_manager import stack_security_groups
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import TagPlan
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


async def _create(api: AwsApi, vpc: SandboxVpc, name: str, tags: dict[str, str]) -> str:
    params: dict[str, Any] = {
        "GroupName": name,
        "Description": "test",
        "VpcId": vpc.vpc_id,
        "TagSpecifications": [
            {"ResourceType": "security-group", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ],
    }
    return str((await api.call("ec2", "CreateSecurityGroup", **params))["GroupId"])


def _managed(stack: StackTags) -> dict[str, str]:
    return stack.resource_tags(MANAGED_SG_RESOURCE_ID)


async def _managed_id(index: StackSecurityGroupIndex, stack: StackTags) -> str | None:
    found = stack_security_groups(await index.candidates(stack), stack).by_resource_id
    info = found.get(MANAGED_SG_RESOURCE_ID)
    return info.group_id if info else None


async def test_one_scan_answers_every_stack_and_our_writes_keep_it_true(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, deploy_reader: SecurityGroupReader
) -> None:
    cluster = sandbox_vpc.cluster_name
    stacks = [StackTags(cluster, INGRESS_TAG_PREFIX, f"ns/web-{i}") for i in range(5)]
    service = StackTags(cluster, SERVICE_TAG_PREFIX, "ns/web-0")  # same id, other prefix
    ids = [await _create(aws_api, sandbox_vpc, f"sg-{i}", _managed(s)) for i, s in enumerate(stacks)]
    service_id = await _create(aws_api, sandbox_vpc, "svc", _managed(service))
    other = StackTags("other-cluster", INGRESS_TAG_PREFIX, "ns/web-0")
    await _create(aws_api, sandbox_vpc, "other", _managed(other))
    index = StackSecurityGroupIndex(deploy_reader, vpc_id=sandbox_vpc.vpc_id)
    aws_proxy.reset_counts()

    found = await asyncio.gather(*(_managed_id(index, s) for s in [*stacks, service]))

    assert found == [*ids, service_id]
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 1}
    assert index.scan_count == 1
    # The scan filled the reader's cache: reading a found SG's rules costs nothing more.
    await deploy_reader.get(ids[0])
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 1}

    # Our own writes, reported, are seen without a read.
    new = SecurityGroupInfo("sg-new", "new", sandbox_vpc.vpc_id, "d", _managed(stacks[1]), ())
    index.record(new)
    index.deleted(ids[0])
    index.tags_changed(ids[2], TagPlan(to_set={"ingress.k8s.aws/stack": "ns/moved"}, to_delete=()))
    by_resource = stack_security_groups(await index.candidates(stacks[1]), stacks[1])
    assert [g.group_id for g in by_resource.duplicates] == ["sg-new"]
    assert await _managed_id(index, stacks[0]) is None
    assert await _managed_id(index, stacks[2]) is None
    moved = StackTags(cluster, INGRESS_TAG_PREFIX, "ns/moved")
    assert await _managed_id(index, moved) == ids[2]
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 1}


async def test_an_invalidated_stack_asks_aws_alone_and_a_refresh_sees_what_others_made(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, deploy_reader: SecurityGroupReader
) -> None:
    cluster = sandbox_vpc.cluster_name
    first, second = (StackTags(cluster, INGRESS_TAG_PREFIX, f"ns/{n}") for n in ("a", "b"))
    index = StackSecurityGroupIndex(deploy_reader, vpc_id=sandbox_vpc.vpc_id)
    assert await _managed_id(index, first) is None  # the first scan: nothing yet

    # Made behind the index's back (a create whose answer was lost, another process).
    made_a = await _create(aws_api, sandbox_vpc, "a", _managed(first))
    made_b = await _create(aws_api, sandbox_vpc, "b", _managed(second))
    assert await _managed_id(index, first) is None
    index.invalidate(first)
    aws_proxy.reset_counts()

    assert await _managed_id(index, first) == made_a
    request = next(r for r in aws_proxy.request_log if r.operation == "DescribeSecurityGroups")
    assert "ns/a" in str(request.params)  # that stack alone
    assert await _managed_id(index, second) is None  # others wait for the next scan
    assert aws_proxy.calls_by_operation() == {"DescribeSecurityGroups": 1}

    await index.refresh()
    assert await _managed_id(index, second) == made_b
    assert index.scan_count == 2


async def test_a_write_made_while_a_scan_is_on_the_wire_survives_the_scan(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc, deploy_reader: SecurityGroupReader
) -> None:
    stack = StackTags(sandbox_vpc.cluster_name, INGRESS_TAG_PREFIX, "ns/racing")
    index = StackSecurityGroupIndex(deploy_reader, vpc_id=sandbox_vpc.vpc_id)
    scan = asyncio.create_task(index.refresh())
    for _ in range(5):
        await asyncio.sleep(0)  # the scan's request is on the wire
    assert not scan.done()
    index.record(SecurityGroupInfo("sg-racing", "racing", sandbox_vpc.vpc_id, "d", _managed(stack), ()))
    await scan

    assert await _managed_id(index, stack) == "sg-racing"
