"""``Elbv2Index``: filled by one scan, kept current by the deployer's writes, rescanned when a
stack's view may be wrong, and (the point of it) no fleet-wide reads when one stack changes."""

from __future__ import annotations

import asyncio
from collections import Counter

from deploy_factories import DeployerFactory, build_alb_model, ingress, stack_leftovers

from controller.aws.api import AwsApi
from controller.aws.elbv2 import Elbv2
from controller.aws.elbv2_types import HealthCheck
from controller.aws.errors import AwsApiError
from controller.deploy.elbv2_index import Elbv2Index
from controller.ingress import IngressGroupId
from controller.ingress.builder import LOAD_BALANCER_RESOURCE_ID
from controller.ingress.reconciler import ingress_group_stack_tags
from controller.naming import INGRESS_TAG_PREFIX, StackTags
from controller.networking.tags import TagPlan
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

FLEET_READS = ("DescribeLoadBalancers", "DescribeTargetGroups", "DescribeTags")
TAGS_ANNOTATION = "alb.ingress.kubernetes.io/tags"


def stack_named(vpc: SandboxVpc, stack_id: str) -> StackTags:
    return StackTags(vpc.cluster_name, INGRESS_TAG_PREFIX, stack_id)


async def create_load_balancer(api: AwsApi, vpc: SandboxVpc, name: str, tags: dict[str, str]) -> str:
    """Straight to AWS, as another process (or a previous one of ours) would."""
    response = await api.call(
        "elbv2",
        "CreateLoadBalancer",
        Name=name,
        Subnets=list(vpc.subnet_ids),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return str(response["LoadBalancers"][0]["LoadBalancerArn"])


async def create_target_group(api: AwsApi, vpc: SandboxVpc, name: str, tags: dict[str, str]) -> str:
    response = await api.call(
        "elbv2",
        "CreateTargetGroup",
        Name=name,
        Protocol="HTTP",
        Port=80,
        VpcId=vpc.vpc_id,
        TargetType="instance",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return str(response["TargetGroups"][0]["TargetGroupArn"])


async def create_other_stacks(api: AwsApi, vpc: SandboxVpc, first: int, last: int) -> None:
    """Stacks ``other-<first>`` .. ``other-<last - 1>``: one LB and one target group each."""
    for n in range(first, last):
        stack = stack_named(vpc, f"other-{n}")
        await create_load_balancer(api, vpc, f"other-{n}", stack.resource_tags(LOAD_BALANCER_RESOURCE_ID))
        await create_target_group(api, vpc, f"other-{n}", stack.resource_tags("tg"))


def fleet_reads(proxy: AwsProxy) -> Counter[str]:
    calls = proxy.calls_by_operation()
    return Counter({op: calls[op] for op in FLEET_READS if calls[op]})


async def test_first_look_up_scans_once_and_finds_resources_created_before_it(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    mine, other = stack_named(sandbox_vpc, "mine"), stack_named(sandbox_vpc, "other")
    lb_arn = await create_load_balancer(aws_api, sandbox_vpc, "mine", mine.resource_tags("LoadBalancer"))
    tg_arn = await create_target_group(aws_api, sandbox_vpc, "mine", mine.resource_tags("tg"))
    await create_target_group(aws_api, sandbox_vpc, "not-ours", {"team": "x"})
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    aws_proxy.reset_counts()

    # Concurrent first look-ups share one scan.
    lbs, tgs, nothing = await asyncio.gather(
        index.load_balancers(mine), index.target_groups(mine), index.load_balancers(other)
    )

    assert [r.arn for r in lbs.by_resource_id.values()] == [lb_arn]
    assert lbs.by_resource_id["LoadBalancer"].description.name == "mine"
    assert [r.arn for r in tgs.by_resource_id.values()] == [tg_arn]
    assert not nothing.by_resource_id and not nothing.duplicates
    assert index.scan_count == 1
    assert fleet_reads(aws_proxy) == {
        "DescribeLoadBalancers": 1,
        "DescribeTargetGroups": 1,
        "DescribeTags": 1,
    }

    aws_proxy.reset_counts()
    await index.load_balancers(mine)
    await index.target_groups(other)
    assert fleet_reads(aws_proxy) == {}


async def test_our_writes_keep_the_index_current_without_reads(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    mine, moved = stack_named(sandbox_vpc, "mine"), stack_named(sandbox_vpc, "moved")
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    await index.load_balancers(mine)  # the (empty) scan
    elbv2 = Elbv2(aws_api)
    tg_arn = await create_target_group(aws_api, sandbox_vpc, "mine", mine.resource_tags("tg"))
    [group] = [g for g in await elbv2.describe_target_groups() if g.arn == tg_arn]
    aws_proxy.reset_counts()

    index.target_group_created(group, mine.resource_tags("tg"))
    assert list((await index.target_groups(mine)).by_resource_id) == ["tg"]

    index.target_group_health_check_changed(tg_arn, HealthCheck(path="/healthz", interval_seconds=7))
    [found] = (await index.target_groups(mine)).by_resource_id.values()
    assert (found.description.health_check.path, found.description.health_check.interval_seconds) == (
        "/healthz",
        7,
    )
    assert found.description.health_check.protocol == group.health_check.protocol  # not sent: kept

    # A tag change can move a resource to another stack.
    index.tags_changed(tg_arn, TagPlan(to_set={"ingress.k8s.aws/stack": "moved"}))
    assert not (await index.target_groups(mine)).by_resource_id
    assert list((await index.target_groups(moved)).by_resource_id) == ["tg"]

    index.deleted(tg_arn)
    assert not (await index.target_groups(moved)).by_resource_id
    assert fleet_reads(aws_proxy) == {}
    assert index.scan_count == 1


async def test_refresh_and_invalidation_find_resources_created_by_someone_else(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    mine, other = stack_named(sandbox_vpc, "mine"), stack_named(sandbox_vpc, "other")
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    assert not (await index.target_groups(mine)).by_resource_id

    # E.g. a create whose answer was lost: the resource exists, the index has not seen it.
    tg_arn = await create_target_group(aws_api, sandbox_vpc, "mine", mine.resource_tags("tg"))
    assert not (await index.target_groups(mine)).by_resource_id
    index.invalidate(mine)
    assert [r.arn for r in (await index.target_groups(mine)).by_resource_id.values()] == [tg_arn]
    assert index.scan_count == 2

    # Another stack's view is not rescanned on its own; invalidate_all makes the next look-up scan.
    other_arn = await create_target_group(aws_api, sandbox_vpc, "other", other.resource_tags("tg"))
    index.invalidate_all()
    assert [r.arn for r in (await index.target_groups(other)).by_resource_id.values()] == [other_arn]
    assert index.scan_count == 3

    # refresh() rescans now: a deletion by hand disappears from the index.
    await aws_api.call("elbv2", "DeleteTargetGroup", TargetGroupArn=other_arn)
    await index.refresh()
    assert index.scan_count == 4
    aws_proxy.reset_counts()
    assert not (await index.target_groups(other)).by_resource_id
    assert fleet_reads(aws_proxy) == {}


async def test_a_write_made_during_a_scan_is_not_lost_to_it(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> None:
    mine = stack_named(sandbox_vpc, "mine")
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    aws_proxy.faults.delay("DescribeTags", 0.3)
    lb_arn = await create_load_balancer(aws_api, sandbox_vpc, "mine", mine.resource_tags("LoadBalancer"))
    scan = asyncio.create_task(index.refresh())
    await asyncio.sleep(0.15)  # the scan has listed the LB and waits for its tags
    assert not scan.done()
    index.deleted(lb_arn)  # ... when we delete it
    await scan
    assert not (await index.load_balancers(mine)).by_resource_id


async def test_a_failed_deploy_invalidates_its_stack_and_the_next_one_recovers(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> None:
    deployer = make_deployer()
    model = await build_alb_model(ingress())
    first = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert deployer.elbv2_index.scan_count == 1

    # Someone deletes our LB: the index still has it, so the deploy trips over the not-found ...
    await aws_api.call("elbv2", "DeleteLoadBalancer", LoadBalancerArn=first.lb_arn)
    try:
        await deployer.deploy(model, backend_sg_id=backend_sg)
    except AwsApiError as error:
        assert error.code == "LoadBalancerNotFound"
    else:
        raise AssertionError("the deploy should have failed on the deleted LB")

    # ... which invalidated the stack: the next deploy rescans and creates the LB again.
    again = await deployer.deploy(model, backend_sg_id=backend_sg)
    assert deployer.elbv2_index.scan_count == 2
    assert again.lb_arn != first.lb_arn
    aws_proxy.reset_counts()
    await deployer.deploy(model, backend_sg_id=backend_sg)
    assert fleet_reads(aws_proxy) == {}

    await deployer.delete_stack(model.stack_tags)
    assert await stack_leftovers(aws_api, model.stack_tags) == []


async def describes_of_one_change(
    aws_api: AwsApi, aws_proxy: AwsProxy, make_deployer: DeployerFactory, backend_sg: str
) -> Counter[str]:
    """A fresh deployer (so its index scans today's fleet) deploys a new stack, then one change to it."""
    deployer = make_deployer()
    await deployer.deploy(await build_alb_model(ingress()), backend_sg_id=backend_sg)
    aws_proxy.reset_counts()
    changed = await build_alb_model(ingress(annotations={TAGS_ANNOTATION: "team=a"}))
    await deployer.deploy(changed, backend_sg_id=backend_sg)
    calls = aws_proxy.calls_by_operation()
    await deployer.delete_stack(changed.stack_tags)
    return Counter({op: n for op, n in calls.items() if op.startswith("Describe")})


async def test_one_change_costs_the_same_describes_with_5_or_50_other_stacks(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    make_deployer: DeployerFactory,
    backend_sg: str,
    sandbox_vpc: SandboxVpc,
) -> None:
    await create_other_stacks(aws_api, sandbox_vpc, 0, 5)
    with_5 = await describes_of_one_change(aws_api, aws_proxy, make_deployer, backend_sg)
    await create_other_stacks(aws_api, sandbox_vpc, 5, 50)
    with_50 = await describes_of_one_change(aws_api, aws_proxy, make_deployer, backend_sg)

    assert with_5 == with_50
    assert not set(with_5) & set(FLEET_READS)
    stack = ingress_group_stack_tags(sandbox_vpc.cluster_name, IngressGroupId.implicit("default", "web"))
    assert await stack_leftovers(aws_api, stack) == []


async def test_every_resource_of_the_vpc_is_listed_from_the_last_scan_and_our_writes(
    aws_api: AwsApi, sandbox_vpc: SandboxVpc
) -> None:
    index = Elbv2Index(Elbv2(aws_api), vpc_id=sandbox_vpc.vpc_id)
    assert not index.loaded and index.all_load_balancers() == []
    await create_other_stacks(aws_api, sandbox_vpc, 0, 2)
    foreign = await create_load_balancer(aws_api, sandbox_vpc, "foreign", {"team": "web"})
    await index.refresh()
    assert index.loaded
    lbs = {r.arn: r for r in index.all_load_balancers()}
    assert len(lbs) == 3 and lbs[foreign].tags == {"team": "web"}  # not ours: any LB may use our SGs
    assert {r.description.name for r in index.all_target_groups()} == {"other-0", "other-1"}
    index.deleted(foreign)
    assert foreign not in {r.arn for r in index.all_load_balancers()}
