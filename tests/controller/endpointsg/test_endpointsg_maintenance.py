"""The endpoint-SG leader tasks' AWS side: the maintenance loop and the DependencyViolation stripper.

Both find SGs with a query through the shared SG reader, so the reconciles they queue start from
what the query read instead of describing each SG again.
"""

from __future__ import annotations

from endpoint_stack import EndpointStack

from controller.endpointsg.maintenance import EndpointSGMaintenance
from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.reference_stripper import EndpointReferenceStripper
from controller.naming import TGB_RULE_DESCRIPTION, cluster_tag_key
from framework.clock import FakeClock


def tcp(port: int, source: str) -> EndpointRule:
    return EndpointRule("tcp", PortRange.single(port), Source.security_group(source))


def describes(stack: EndpointStack) -> int:
    return stack.proxy.calls_by_operation()["DescribeSecurityGroups"]


async def test_maintenance_seeds_with_retry_then_rechecks_every_sync_period(stack: EndpointStack) -> None:
    node_sg = await stack.create_sg("nodes", {cluster_tag_key(stack.vpc.cluster_name): "owned"})
    clock = FakeClock()
    # The first seed attempt fails with a non-retryable error: the loop backs off, it doesn't die.
    stack.proxy.faults.fail("DescribeSecurityGroups", code="UnauthorizedOperation", status=403, times=1)
    maintenance = EndpointSGMaintenance(
        stack.ownership,
        stack.rules,
        reader=stack.reader,
        vpc_id=stack.vpc.vpc_id,
        cluster_name=stack.vpc.cluster_name,
        sync_period=3600.0,
        clock=clock,
    )
    maintenance.start()
    try:
        await clock.wait_for_timers(1)
        assert len(stack.queue) == 0
        clock.advance(1.0)
        await clock.wait_for_timers(1)  # seeded, now sleeping for the sync period
        assert stack.queue.get_nowait() == node_sg  # the seed enqueues through the ownership
        stack.queue.done(node_sg)
        assert node_sg in stack.ownership.tracked_sgs
        assert len(stack.queue) == 0
        clock.advance(3600.0)
        await clock.wait_for_timers(1)
        assert stack.queue.get_nowait() == node_sg  # the periodic re-check
        stack.queue.done(node_sg)
        assert len(stack.queue) == 0
    finally:
        await maintenance.stop()


async def test_seeded_sgs_are_reconciled_from_the_seed_read(stack: EndpointStack) -> None:
    cluster_tag = {cluster_tag_key(stack.vpc.cluster_name): "owned"}
    stale = [await stack.create_sg(f"stale-{i}", cluster_tag) for i in range(3)]
    backend = await stack.create_sg("backend")
    for sg in stale:
        await stack.authorize_raw(
            sg,
            {
                "IpProtocol": "tcp",
                "FromPort": 30000,
                "ToPort": 30000,
                "UserIdGroupPairs": [{"GroupId": backend, "Description": TGB_RULE_DESCRIPTION}],
            },
        )
    stack.ownership.set_expected_tgbs([])
    stack.proxy.reset_counts()
    assert await stack.maintenance.seed_from_aws() == set(stale)
    assert await stack.drain() == []
    # One query found and read all three; their reconciles revoked without describing them again.
    assert describes(stack) == 1
    assert stack.proxy.calls_by_operation()["RevokeSecurityGroupIngress"] == 3
    for sg in stale:
        assert await stack.labelled(sg) == set()


async def test_stripper_rechecks_the_sgs_whose_rules_name_the_group_being_deleted(
    stack: EndpointStack,
) -> None:
    node_sg, untouched_sg = await stack.create_sg("node"), await stack.create_sg("untouched")
    lb_sg, other_lb_sg = await stack.create_sg("lb"), await stack.create_sg("other-lb")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, lb_sg)]})
    stack.ownership.publish("ns/b", {untouched_sg: [tcp(30090, other_lb_sg)]})
    assert await stack.drain() == []
    # Nothing in memory names node_sg any more, but its rule from the LB's SG is still on AWS:
    # only AWS can say which SGs still name the LB's SG.
    stack.ownership.withdraw("ns/a")
    stack.ownership.untrack(node_sg)
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30080, lb_sg)}

    stripper = EndpointReferenceStripper(
        stack.reader, vpc_id=stack.vpc.vpc_id, ownership=stack.ownership, reconciler=stack.rules
    )
    stack.proxy.reset_counts()
    assert await stripper(lb_sg) == [node_sg]
    assert node_sg in stack.ownership.tracked_sgs
    assert await stack.drain() == []
    assert describes(stack) == 1  # the query; the reconcile read its answer from the cache
    assert await stack.labelled(node_sg) == set()
    assert await stack.labelled(untouched_sg) == {tcp(30090, other_lb_sg)}


async def test_the_periodic_recheck_reads_around_the_cache_and_restores_a_rule_revoked_by_hand(
    stack: EndpointStack,
) -> None:
    node_sgs = [await stack.create_sg(f"node-{i}") for i in range(3)]
    lb_sg = await stack.create_sg("lb")
    stack.ownership.set_expected_tgbs(["ns/a"])
    stack.ownership.publish("ns/a", {sg: [tcp(30080, lb_sg)] for sg in node_sgs})
    assert await stack.drain() == []
    # Someone revokes our rule on one node SG; the reader's cached copy still shows it.
    [group] = await stack.api.paginate(
        "ec2", "DescribeSecurityGroups", "SecurityGroups", GroupIds=[node_sgs[0]]
    )
    await stack.api.call(
        "ec2", "RevokeSecurityGroupIngress", GroupId=node_sgs[0], IpPermissions=group["IpPermissions"]
    )
    assert await stack.labelled(node_sgs[0]) == set()
    stack.proxy.reset_counts()
    await stack.maintenance.recheck_all()
    assert await stack.drain() == []
    calls = stack.proxy.calls_by_operation()
    # One batched fresh read of all tracked SGs; the passes reuse it; one Authorize repairs the drift.
    assert calls["DescribeSecurityGroups"] == 1
    assert calls["AuthorizeSecurityGroupIngress"] == 1
    assert await stack.labelled(node_sgs[0]) == {tcp(30080, lb_sg)}

    stack.proxy.reset_counts()
    await stack.maintenance.recheck_all()
    assert await stack.drain() == []
    # Converged: the re-check reads and changes nothing.
    calls = stack.proxy.calls_by_operation()
    assert {op: n for op, n in calls.items() if n} == {"DescribeSecurityGroups": 1}
