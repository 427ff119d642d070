"""Endpoint SGs stay within ``--sg-rules-quota``: what fits is applied, the rest is told, AWS never refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from endpoint_stack import EndpointStack, build_stack
from prometheus_client import CollectorRegistry

from controller.aws.api import AwsApi
from controller.endpointsg.budget import fit_rules
from controller.endpointsg.budget_report import REASON_FAILED_NETWORK_RECONCILE, REASON_PORT_RANGES_MERGED
from controller.endpointsg.model import EndpointRule, PortRange, Source, SourceKind
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.metrics import SecurityGroupRuleMetrics
from controller.naming import TGB_RULE_DESCRIPTION
from controller.networking.rule_reconciler import RulesQuotaExceededError, SecurityGroupRuleReconciler
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, Rule, SecurityGroupSource
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.controller import is_reported


def tcp(port: int, source: str, to_port: int | None = None) -> EndpointRule:
    return EndpointRule(
        "tcp", PortRange(port, to_port if to_port is not None else port), Source.security_group(source)
    )


def cidr(port: int, network: str) -> EndpointRule:
    kind = SourceKind.IPV6_CIDR if ":" in network else SourceKind.IPV4_CIDR
    return EndpointRule("tcp", PortRange.single(port), Source(kind, network))


@dataclass
class RecordedWarnings:
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def warn(self, tgb_key: str, reason: str, note: str) -> None:
        self.seen.append((tgb_key, reason, note))

    def reasons(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for key, reason, _ in self.seen:
            found.setdefault(reason, set()).add(key)
        return found


@dataclass
class QuotaStack:
    stack: EndpointStack
    warnings: RecordedWarnings
    registry: CollectorRegistry

    def metric(self, name: str, sg: str | None = None) -> float | None:
        return self.registry.get_sample_value(name, {"security_group_id": sg} if sg else {})


async def quota_stack(stack: EndpointStack, quota: int, max_ranges: int = 8) -> QuotaStack:
    """The stack's reconciler with ``quota``, on a proxy that enforces the same quota as AWS."""
    stack.proxy.rules_per_security_group = quota
    warnings = RecordedWarnings()
    registry = CollectorRegistry()
    metrics = SecurityGroupRuleMetrics(registry)
    stack.ownership = RuleOwnership(stack.queue.add, max_port_ranges_per_source=max_ranges)
    stack.rules = EndpointSGReconciler(
        stack.ownership,
        SecurityGroupRuleReconciler(stack.api, stack.reader, quota=quota),
        quota=quota,
        warnings=warnings,
        metrics=metrics,
    )
    return QuotaStack(stack, warnings, registry)


@pytest_asyncio.fixture
async def stack(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> AsyncIterator[EndpointStack]:
    built = build_stack(aws_api, aws_proxy, sandbox_vpc)
    yield built
    await built.reader.aclose()


def failed_calls(proxy: AwsProxy) -> list[str]:
    return [f"{r.operation}: {r.outcome}" for r in proxy.request_log if r.status != 200]


async def test_ports_of_one_source_are_merged_at_the_smallest_gaps_to_fit(stack: EndpointStack) -> None:
    q = await quota_stack(stack, quota=3)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    await stack.authorize_raw(
        node_sg,
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.0.0/16"}]},
    )
    ports = {"ns/a": 30000, "ns/b": 30002, "ns/c": 30100, "ns/d": 30104, "ns/e": 31000}
    stack.ownership.set_expected_tgbs(ports)
    for key, port in ports.items():
        stack.ownership.publish(key, {node_sg: [tcp(port, backend)]})

    assert await stack.drain() == []

    # One rule is the ops rule: our 5 ports get 2 rules. The gaps are 1, 97, 3 and 895 ports wide;
    # only the widest stays open.
    assert await stack.labelled(node_sg) == {tcp(30000, backend, 30104), tcp(31000, backend)}
    assert failed_calls(stack.proxy) == []
    assert q.warnings.reasons() == {REASON_PORT_RANGES_MERGED: {"ns/a", "ns/b", "ns/c", "ns/d"}}
    note = next(n for k, _, n in q.warnings.seen if k == "ns/a")
    assert f"security group {node_sg}" in note and "quota of 3 inbound rules" in note
    assert f"tcp 30000-30104 from {backend} (also opens 30001, 30003-30099, 30101-30103: 101 ports)" in note
    assert q.metric("awslbc_security_group_rules", node_sg) == 3
    assert q.metric("awslbc_security_group_rules_over_quota", node_sg) == 3  # 6 needed, quota 3


async def test_sources_that_do_not_fit_are_left_out_and_named_the_others_converge(
    stack: EndpointStack,
) -> None:
    q = await quota_stack(stack, quota=3)
    node_sg = await stack.create_sg("node")
    sources = {key: await stack.create_sg(f"lb-{key[-1]}") for key in ("ns/a", "ns/b", "ns/c", "ns/d")}
    stack.ownership.set_expected_tgbs(sources)
    # ns/a is on AWS first; later sources must not push it out whatever their ids.
    stack.ownership.publish("ns/a", {node_sg: [tcp(30000, sources["ns/a"])]})
    assert await stack.drain() == []
    for key in ("ns/b", "ns/c", "ns/d"):
        stack.ownership.publish(key, {node_sg: [tcp(30000, sources[key]), tcp(30500, sources[key])]})
    assert await stack.drain() == []

    applied = await stack.labelled(node_sg)
    assert len(applied) == 3
    assert tcp(30000, sources["ns/a"]) in applied
    assert failed_calls(stack.proxy) == []
    unfit = q.warnings.reasons()[REASON_FAILED_NETWORK_RECONCILE]
    assert len(unfit) == 1 and "ns/a" not in unfit
    key, _, note = next(w for w in q.warnings.seen if w[1] == REASON_FAILED_NETWORK_RECONCILE)
    assert f"security group {node_sg} would need 7 inbound rules, more than the quota of 3" in note
    assert f"tcp 30000-30000 from sg:{sources[key]}" in note
    # The two that fit got one rule each: no room to keep 30000 and 30500 apart.
    fitting = next(k for k in ("ns/b", "ns/c", "ns/d") if k not in unfit)
    assert tcp(30000, sources[fitting], 30500) in applied
    assert q.metric("awslbc_security_group_rules", node_sg) == 3
    assert q.metric("awslbc_security_group_rules_over_quota", node_sg) == 4

    # A binding that goes makes room for the one that did not fit.
    stack.ownership.withdraw("ns/a")
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {
        tcp(30000, sources[key], 30500) for key in ("ns/b", "ns/c", "ns/d")
    }
    assert failed_calls(stack.proxy) == []
    assert q.metric("awslbc_security_group_rules_over_quota", node_sg) == 3


async def test_the_series_of_an_sg_that_is_gone_is_removed(stack: EndpointStack) -> None:
    q = await quota_stack(stack, quota=5)
    node_sg, backend = await stack.create_sg("node"), await stack.create_sg("backend")
    stack.ownership.set_expected_tgbs(["ns/a"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30000, backend)]})
    assert await stack.drain() == []
    assert q.metric("awslbc_security_group_rules", node_sg) == 1
    assert q.metric("awslbc_security_group_rules_over_quota", node_sg) == 0
    stack.ownership.withdraw("ns/a")
    await stack.drain()
    await stack.api.call("ec2", "DeleteSecurityGroup", GroupId=node_sg)
    stack.rules.forget_converged()
    stack.reader.invalidate(node_sg)
    stack.ownership.recheck([node_sg])
    await stack.drain()
    assert node_sg not in stack.ownership.tracked_sgs
    assert q.metric("awslbc_security_group_rules", node_sg) is None
    assert q.metric("awslbc_security_group_rules_over_quota", node_sg) is None


# ---------------------------------------------------------------------------------------- fit_rules


def ops_rule(port: int, network: str) -> Rule:
    source = Ipv6CidrSource(network) if ":" in network else Ipv4CidrSource(network)
    return Rule.of("tcp", port, port, source, "ops")


def test_ipv4_and_ipv6_cidrs_fill_their_own_sides_of_the_quota() -> None:
    wanted = [cidr(80, "10.0.0.0/8"), cidr(80, "10.1.0.0/16"), cidr(80, "2001:db8::/32")]
    fitted = fit_rules(wanted, [ops_rule(22, "2001:db9::/32")], quota=2, max_ranges=8)
    # IPv4: 2 of ours; IPv6: 1 ops + 1 ours. Both sides at 2.
    assert fitted.desired == frozenset(wanted)
    assert (fitted.used, fitted.needed, fitted.unfit) == (2, 2, frozenset())


def test_an_sg_source_counts_on_both_sides() -> None:
    wanted = [cidr(80, "10.0.0.0/8"), tcp(30000, "sg-b")]
    fitted = fit_rules(
        wanted, [ops_rule(22, "2001:db9::/32"), ops_rule(23, "2001:dba::/32")], quota=2, max_ranges=8
    )
    # The IPv6 side is full with the two ops rules: the SG source (both sides) does not fit, the
    # IPv4 CIDR does.
    assert fitted.desired == frozenset({cidr(80, "10.0.0.0/8")})
    assert fitted.unfit == frozenset({tcp(30000, "sg-b")})
    assert fitted.needed == 3 and fitted.over_quota == 1


def test_labelled_rules_are_ours_and_do_not_use_up_the_quota() -> None:
    ours_on_aws = Rule.of("tcp", 1, 1, SecurityGroupSource("sg-old"), TGB_RULE_DESCRIPTION)
    fitted = fit_rules([tcp(30000, "sg-b"), tcp(30005, "sg-b")], [ours_on_aws], quota=2, max_ranges=8)
    assert fitted.desired == frozenset({tcp(30000, "sg-b"), tcp(30005, "sg-b")})
    assert fitted.merged == () and fitted.foreign == 0


def test_without_merging_every_contribution_is_its_own_rule() -> None:
    wanted = [tcp(30000, "sg-b"), tcp(30001, "sg-b"), tcp(30002, "sg-b")]
    fitted = fit_rules(wanted, [], quota=2, max_ranges=8, merge=False)
    assert fitted.desired == frozenset(wanted[:2])
    assert fitted.unfit == frozenset(wanted[2:])
    assert fitted.merged == ()


def test_a_source_gets_its_rule_before_cidr_rules_and_what_is_on_aws_keeps_its_place() -> None:
    on_aws = Rule.of("tcp", 80, 80, Ipv4CidrSource("10.5.0.0/16"), TGB_RULE_DESCRIPTION)
    wanted = [cidr(80, "10.1.0.0/16"), cidr(80, "10.5.0.0/16"), tcp(30000, "sg-b"), tcp(31000, "sg-b")]
    fitted = fit_rules(wanted, [on_aws], quota=2, max_ranges=8)
    # 10.5/16 is on AWS: it stays. Then the source's one rule; 10.1/16 has no room left.
    assert fitted.desired == frozenset({cidr(80, "10.5.0.0/16"), tcp(30000, "sg-b", 31000)})
    assert fitted.unfit == frozenset({cidr(80, "10.1.0.0/16")})
    (merged,) = fitted.merged
    assert merged.extra == (PortRange(30001, 30999),)


async def test_before_every_binding_published_rules_past_the_quota_wait_without_a_call(
    stack: EndpointStack,
) -> None:
    await quota_stack(stack, quota=3)
    node_sg, old, new = [await stack.create_sg(n) for n in ("node", "old", "new")]
    # A previous process left three labelled rules; the quota is full.
    for port in (1, 2, 3):
        await stack.authorize_raw(
            node_sg,
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "UserIdGroupPairs": [{"GroupId": old, "Description": TGB_RULE_DESCRIPTION}],
            },
        )
    stack.ownership.set_expected_tgbs(["ns/a", "ns/b"])
    stack.ownership.publish("ns/a", {node_sg: [tcp(30000, new)]})
    stack.proxy.reset_counts()

    # ns/b has not published: the old rules may be its own and stay, so ns/a's rule has no room.
    with pytest.raises(RulesQuotaExceededError) as raised:
        await stack.rules.reconcile(node_sg)
    assert is_reported(raised.value)  # one log line per retry, no traceback
    assert [r.operation for r in stack.proxy.request_log if r.operation != "DescribeSecurityGroups"] == []

    # Once ns/b has published (it needs nothing), the stale rules go first and ns/a's rule fits.
    stack.ownership.publish("ns/b", {})
    stack.queue.add(node_sg)
    assert await stack.drain() == []
    assert await stack.labelled(node_sg) == {tcp(30000, new)}
    assert failed_calls(stack.proxy) == []
