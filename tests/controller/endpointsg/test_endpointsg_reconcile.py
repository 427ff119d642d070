"""Per-SG reconcile of endpoint rules against moto behind the AWS-like proxy (upstream-behaviour §4.5-4.8)."""

from __future__ import annotations

import urllib.request

import pytest
from endpoint_stack import EndpointStack, IdleWatcher

from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import (
    EndpointSGReconciler,
    SkippedMissingSourceRulesError,
)
from controller.naming import TGB_RULE_DESCRIPTION, cluster_tag_key
from controller.networking.rule_reconciler import SecurityGroupRuleReconciler
from controller.sandbox.moto_server import MotoServer
from framework.clock import FakeClock
from framework.controller import Controller, WorkerSettings, is_reported


def tcp(port: int, source: str, to_port: int | None = None) -> EndpointRule:
    return EndpointRule(
        "tcp", PortRange(port, to_port if to_port is not None else port), Source.security_group(source)
    )


def udp(port: int, source: str) -> EndpointRule:
    return EndpointRule("udp", PortRange.single(port), Source.security_group(source))


async def test_single_tgb_rule_is_authorized_with_the_shared_label(stack: EndpointStack) -> None:
    # Scenario 36.
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/svc"])
    stack.ownership.publish("ns/svc", {node_sg: [tcp(31223, backend)]})
    assert await stack.drain() == []
    rules = await stack.ingress(node_sg)
    assert [(r.protocol, r.from_port, r.to_port, r.description) for r in rules] == [
        ("tcp", 31223, 31223, TGB_RULE_DESCRIPTION)
    ]


async def test_r1_merges_two_tgbs_into_one_range_and_shrinks_when_one_goes(stack: EndpointStack) -> None:
    # Scenario 37 and 46, with R = 1 (upstream behaviour).
    stack.restart(max_ranges=1)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.ownership.publish("ns/b", {node_sg: [tcp(31443, backend)]})
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30080, backend, 31443)}
    stack.ownership.withdraw("ns/b")
    stack.proxy.reset_counts()
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30080, backend)}
    calls = stack.proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] == 1 and calls["RevokeSecurityGroupIngress"] == 1


async def test_default_budget_keeps_distant_ports_apart(stack: EndpointStack) -> None:
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.ownership.publish("ns/b", {node_sg: [tcp(31443, backend)]})
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30080, backend), tcp(31443, backend)}


async def test_manual_rules_count_as_present_and_are_never_revoked(stack: EndpointStack) -> None:
    # Scenarios 44 and 54: identity ignores the description; unlabelled rules are not ours.
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    await stack.authorize_raw(
        node_sg,
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ops"}],
        },
    )
    await stack.authorize_raw(
        node_sg,
        {
            "IpProtocol": "tcp",
            "FromPort": 30080,
            "ToPort": 30080,
            "UserIdGroupPairs": [{"GroupId": backend, "Description": "terraform"}],
        },
    )
    stack.ownership.set_expected_tgbs(["ns/a"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.proxy.reset_counts()
    assert await stack.drain() == []
    assert stack.proxy.calls_by_operation()["AuthorizeSecurityGroupIngress"] == 0
    stack.ownership.withdraw("ns/a")
    assert await stack.drain() == []
    descriptions = sorted(r.description for r in await stack.ingress(node_sg))
    assert descriptions == ["ops", "terraform"]
    assert stack.proxy.calls_by_operation()["RevokeSecurityGroupIngress"] == 0


async def test_restart_revokes_nothing_until_every_tgb_has_published(stack: EndpointStack) -> None:
    # Scenario 45: after a restart, A publishes first and drops a rule; B still needs its own.
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend), tcp(30090, backend)]})
    stack.ownership.publish("ns/b", {node_sg: [tcp(31443, backend)]})
    assert await stack.drain() == []

    stack.restart()
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.proxy.reset_counts()
    assert await stack.drain() == []
    assert stack.proxy.calls_by_operation()["RevokeSecurityGroupIngress"] == 0
    assert await stack.labelled(node_sg) == {tcp(30080, backend), tcp(30090, backend), tcp(31443, backend)}

    stack.ownership.publish("ns/b", {node_sg: [tcp(31443, backend)]})
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30080, backend), tcp(31443, backend)}


async def test_gc_cleans_cluster_tagged_sgs_nobody_needs(stack: EndpointStack) -> None:
    cluster_tag = {cluster_tag_key(stack.vpc.cluster_name): "owned"}
    stale_sg = await stack.create_sg("stale-node", cluster_tag)
    other_cluster = await stack.create_sg("other", {cluster_tag_key("other-cluster"): "owned"})
    backend = await stack.create_sg("backend")
    for sg in (stale_sg, other_cluster):
        await stack.authorize_raw(
            sg,
            {
                "IpProtocol": "tcp",
                "FromPort": 30000,
                "ToPort": 30000,
                "UserIdGroupPairs": [{"GroupId": backend, "Description": TGB_RULE_DESCRIPTION}],
            },
        )
    assert await stack.maintenance.seed_from_aws() == {stale_sg}
    assert await stack.maintenance.seed_from_aws() == frozenset()  # once per process
    stack.ownership.set_expected_tgbs([])
    assert await stack.drain() == []
    assert await stack.labelled(stale_sg) == set()
    assert await stack.labelled(other_cluster) == {tcp(30000, backend)}


async def test_deleted_sg_is_untracked(stack: EndpointStack) -> None:
    # Scenario 47.
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    await stack.api.call("ec2", "DeleteSecurityGroup", GroupId=node_sg)
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].untracked
    assert node_sg not in stack.ownership.tracked_sgs


async def test_missing_source_sg_skips_only_its_rules_and_keeps_the_endpoint_sg_tracked(
    stack: EndpointStack,
) -> None:
    """A source SG that does not exist fails the authorize with InvalidGroup.NotFound, like a gone
    endpoint SG; only its rules are left out, the node SG stays tracked and keeps converging."""
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    missing = "sg-0123456789abcdef0"
    stack.ownership.set_expected_tgbs(["ns/good", "ns/bad", "ns/other"])
    stack.ownership.publish("ns/good", {node_sg: [tcp(30080, backend)]})
    stack.ownership.publish("ns/bad", {node_sg: [tcp(9999, missing)]})
    stack.ownership.publish("ns/other", {node_sg: [tcp(30090, backend)]})
    assert await stack.drain() == []
    sg, outcome = stack.outcomes[-1]
    assert sg == node_sg and not outcome.untracked
    assert outcome.missing_sources == {missing}
    assert node_sg in stack.ownership.tracked_sgs
    assert await stack.labelled(node_sg) == {tcp(30080, backend), tcp(30090, backend)}

    # The retry re-reads the missing source first, then reconciles the rest without a failing call.
    stack.ownership.withdraw("ns/other")
    stack.proxy.reset_counts()
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].missing_sources == {missing}
    assert await stack.labelled(node_sg) == {tcp(30080, backend)}
    assert [r.outcome for r in stack.proxy.request_log if r.operation.startswith("Authorize")] == []

    # Once nobody needs the missing source, the SG converges and the retries stop.
    stack.ownership.withdraw("ns/bad")
    stack.ownership.withdraw("ns/good")
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].missing_sources == frozenset()
    assert await stack.labelled(node_sg) == set()


def _seed_moto_ids(moto: MotoServer, seed: int) -> None:
    """Make moto's next resource ids repeat: the way to have an SG id that is missing now exist later."""
    request = urllib.request.Request(f"{moto.url}/moto-api/seed?a={seed}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


async def test_rules_from_a_missing_source_are_added_once_it_exists(
    stack: EndpointStack, fresh_moto: MotoServer
) -> None:
    node_sg = await stack.create_sg("node")
    _seed_moto_ids(fresh_moto, 4242)
    source = await stack.create_sg("source")
    await stack.api.call("ec2", "DeleteSecurityGroup", GroupId=source)
    stack.ownership.set_expected_tgbs(["ns/a"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, source)]})
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].missing_sources == {source}
    assert await stack.labelled(node_sg) == set()

    _seed_moto_ids(fresh_moto, 4242)
    assert await stack.create_sg("source") == source  # the same id exists again
    stack.queue.add(node_sg)  # what the controller's retry with backoff does
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].missing_sources == frozenset()
    assert await stack.labelled(node_sg) == {tcp(30080, source)}


async def test_controller_retries_a_missing_source_with_backoff(stack: EndpointStack) -> None:
    node_sg = await stack.create_sg("node")
    stack.ownership.set_expected_tgbs(["ns/bad"])
    stack.ownership.publish("ns/bad", {node_sg: [tcp(9999, "sg-0123456789abcdef0")]})
    assert stack.queue.get_nowait() == node_sg
    with pytest.raises(SkippedMissingSourceRulesError, match="sg-0123456789abcdef0") as raised:
        await stack.rules.reconcile(node_sg)
    assert is_reported(raised.value)  # one log line per retry, no traceback
    stack.queue.done(node_sg)


async def test_a_thousand_publishes_on_three_sgs_coalesce_into_three_authorizes(stack: EndpointStack) -> None:
    node_sgs = [await stack.create_sg(f"node-{i}") for i in range(3)]
    backend = await stack.create_sg("backend")
    keys = [f"ns/tgb-{i}" for i in range(1000)]
    stack.ownership.set_expected_tgbs(keys)
    stack.proxy.reset_counts()
    for i, key in enumerate(keys):
        stack.ownership.publish(key, {sg: [tcp(30000 + i, backend)] for sg in node_sgs})
    assert len(stack.queue) == 3
    assert await stack.drain() == []
    calls = stack.proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] <= 3
    assert calls["RevokeSecurityGroupIngress"] == 0
    for sg in node_sgs:
        assert await stack.labelled(sg) == {tcp(30000, backend, 30999)}  # 1,000 adjacent ports: one run


async def test_controller_workers_coalesce_a_burst_per_sg(stack: EndpointStack) -> None:
    # The same burst through the framework controller (3 workers): still one pass per SG.
    node_sgs = [await stack.create_sg(f"node-{i}") for i in range(3)]
    backend = await stack.create_sg("backend")

    def enqueue(sg_id: str) -> None:
        controller.queue.add(sg_id)

    ownership = RuleOwnership(enqueue, max_port_ranges_per_source=stack.ownership_max_ranges)
    watcher = IdleWatcher(
        EndpointSGReconciler(ownership, SecurityGroupRuleReconciler(stack.api, stack.reader))
    )
    controller: Controller[str] = Controller(
        "endpoint-sg", watcher, workers=WorkerSettings(max_concurrent_reconciles=3)
    )
    watcher.queue = controller.queue
    keys = [f"ns/tgb-{i}" for i in range(1000)]
    ownership.set_expected_tgbs(keys)
    for i, key in enumerate(keys):
        ownership.publish(key, {sg: [tcp(30000 + 2 * i, backend)] for sg in node_sgs})
    stack.proxy.reset_counts()
    controller.start()
    try:
        await watcher.wait_idle()
    finally:
        await controller.stop()
    calls = stack.proxy.calls_by_operation()
    assert calls["AuthorizeSecurityGroupIngress"] == 3
    assert calls["DescribeSecurityGroups"] == 1  # the three reads were batched into one describe
    for sg in node_sgs:
        assert len(await stack.labelled(sg)) == 8  # 1,000 ports 2 apart packed into R = 8 ranges


async def test_before_all_published_only_replaced_rules_added_by_this_process_are_revoked(
    stack: EndpointStack,
) -> None:
    # Start-up churn must not pile up stale ranges (they would hit the SG rule quota), and rules
    # found on AWS must stay until every TGB has published.
    stack.restart(max_ranges=1)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend)]})
    stack.ownership.publish("ns/b", {node_sg: [udp(31443, backend)]})
    assert await stack.drain() == []

    stack.restart(max_ranges=1)
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b", "ns/c"])
    stack.ownership.publish("ns/c", {node_sg: [tcp(32000, backend)]})
    assert await stack.drain() == []
    stack.ownership.publish("ns/c", {node_sg: [tcp(32000, backend), tcp(32010, backend)]})
    assert await stack.drain() == []
    assert not stack.ownership.revoke_allowed
    # 32000 was added by this process and 32000-32010 replaced it: gone. a's and b's rules stay.
    assert await stack.labelled(node_sg) == {
        tcp(30080, backend),
        udp(31443, backend),
        tcp(32000, backend, 32010),
    }


async def test_before_all_published_a_rule_added_here_and_no_longer_covered_stays(
    stack: EndpointStack,
) -> None:
    # Found by the state machine: c published a need and the process restarted before it was
    # applied; after the restart a's publish added the rule (so c was served by it), then a dropped
    # it. c has not republished yet, so nobody can tell it does not need the rule: it stays, packed
    # with a's new port (R = 1), so the held rule never costs a second rule.
    stack.restart(max_ranges=1)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/c"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30000, backend)]})
    assert await stack.drain() == []
    stack.ownership.publish("ns/a", {node_sg: [tcp(30005, backend)]})
    assert await stack.drain() == []
    assert not stack.ownership.revoke_allowed
    assert await stack.labelled(node_sg) == {tcp(30000, backend, 30005)}

    stack.ownership.publish("ns/c", {node_sg: []})  # c needs nothing here after all
    assert stack.ownership.revoke_allowed
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30005, backend)}


async def test_before_all_published_a_held_rule_revoked_by_hand_is_not_put_back(
    stack: EndpointStack,
) -> None:
    stack.restart(max_ranges=1)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a", "ns/c"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30000, backend)]})
    assert await stack.drain() == []
    await stack.api.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        GroupId=node_sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 30000,
                "ToPort": 30000,
                "UserIdGroupPairs": [{"GroupId": backend, "Description": TGB_RULE_DESCRIPTION}],
            }
        ],
    )
    stack.reader.invalidate(node_sg)
    stack.ownership.publish("ns/a", {node_sg: [tcp(30005, backend)]})
    assert await stack.drain() == []
    # Not held any more (someone removed it), so not packed into a wider range either.
    assert await stack.labelled(node_sg) == {tcp(30005, backend)}


async def test_unchanged_packing_skips_aws_until_the_recheck_interval(stack: EndpointStack) -> None:
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    clock = FakeClock()
    stack.rules = EndpointSGReconciler(
        stack.ownership, SecurityGroupRuleReconciler(stack.api, stack.reader), clock=clock, recheck_after=600
    )
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30080, backend, 30090)]})
    stack.ownership.publish("ns/b", {})
    assert await stack.drain() == []
    stack.proxy.reset_counts()
    # b's new port lies inside a's range: the packed rules do not change, so AWS is not read.
    stack.ownership.publish("ns/b", {node_sg: [tcp(30085, backend)]})
    assert await stack.drain() == []
    assert stack.outcomes[-1][1].skipped
    assert sum(stack.proxy.calls_by_operation().values()) == 0
    clock.advance(600)
    stack.queue.add(node_sg)
    assert await stack.drain() == []
    assert not stack.outcomes[-1][1].skipped
    assert stack.proxy.calls_by_operation()["DescribeSecurityGroups"] == 1
