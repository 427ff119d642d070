"""Rule reconcile of one SG against moto behind the proxy, including every AWS error path."""

from __future__ import annotations

import asyncio

import pytest
from sg_test_helpers import authorize_directly, create_sg, mutating_operations, operations

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.naming import TGB_RULE_DESCRIPTION
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.rule_reconciler import RulesQuotaExceededError, SecurityGroupRuleReconciler
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    SecurityGroupSource,
)
from controller.networking.sg_reader import SecurityGroupReader
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc

OPEN_80 = Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"))
OPEN_80_V6 = Rule.of("tcp", 80, 80, Ipv6CidrSource("::/0"))
OPEN_443 = Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"))
SSH_FROM_OPS = Rule.of("tcp", 22, 22, Ipv4CidrSource("10.9.9.9/32"), "ops")


def labelled(rule: Rule) -> Rule:
    return rule.with_description(TGB_RULE_DESCRIPTION)


async def ingress(reader: SecurityGroupReader, group_id: str) -> list[tuple[Rule, str]]:
    info = await reader.get(group_id, fresh=True)
    return sorted(((r, r.description) for r in info.ingress), key=lambda pair: pair[0].sort_key())


@pytest.fixture
def reconciler(aws_api: AwsApi, sg_reader: SecurityGroupReader) -> SecurityGroupRuleReconciler:
    return SecurityGroupRuleReconciler(aws_api, sg_reader)


async def test_from_empty_all_rules_go_in_one_authorize_and_a_repeat_makes_no_call(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    peer = await create_sg(aws_api, sandbox_vpc.vpc_id, "peer")
    desired = [
        OPEN_80,
        OPEN_80_V6,
        OPEN_443,
        Rule.of("udp", 53, 53, PrefixListSource("pl-12345678")),
        Rule.of("-1", None, None, SecurityGroupSource(peer), "x=y"),
    ]
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, desired)

    assert set(changes.authorized) == set(desired)
    assert changes.revoked == ()
    assert mutating_operations(aws_proxy) == ["AuthorizeSecurityGroupIngress"]
    assert {rule for rule, _ in await ingress(sg_reader, group_id)} == set(desired)

    aws_proxy.reset_counts()
    assert await reconciler.reconcile(group_id, desired) == type(changes)()
    assert operations(aws_proxy) == []  # served from the cache, nothing to change


async def test_scenario_53_manual_rule_revoked_after_missing_rules_are_authorized(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    """Scenario 53 (upstream-behaviour §10): A rule added by hand to the managed frontend SG → Ingress
    reconciled → that rule revoked, missing desired rules re-authorized (authorize before revoke; ours:
    Difference 5)."""
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await authorize_directly(aws_api, group_id, OPEN_80, SSH_FROM_OPS)
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, [OPEN_80, OPEN_443])

    assert mutating_operations(aws_proxy) == ["AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress"]
    assert changes.authorized == (OPEN_443,)
    assert [r.description for r in changes.revoked] == ["ops"]
    # The revoke names the rule exactly as AWS holds it, description included.
    revoke = next(r for r in aws_proxy.request_log if r.operation == "RevokeSecurityGroupIngress")
    assert revoke.params["IpPermissions.1.IpRanges.1.CidrIp"] == "10.9.9.9/32"
    assert revoke.params["IpPermissions.1.IpRanges.1.Description"] == "ops"
    assert [rule for rule, _ in await ingress(sg_reader, group_id)] == [OPEN_80, OPEN_443]


async def test_scenario_54_same_rule_with_another_description_makes_no_call(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    """Scenario 54 (upstream-behaviour §10): An existing managed-SG rule equal to a desired one except its
    description → reconciled → no API call for it."""
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await authorize_directly(aws_api, group_id, OPEN_80.with_description("added by hand"))
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, [OPEN_80])

    assert changes.authorized == changes.revoked == ()
    assert mutating_operations(aws_proxy) == []
    assert await ingress(sg_reader, group_id) == [(OPEN_80, "added by hand")]


async def test_scenario_44_ownership_selector_keeps_unlabelled_rules(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    """Scenario 44 (upstream-behaviour §10): Node SG with a manual rule tcp 443 from ``0.0.0.0/0``
    (description "ops") → GC → the rule stays."""
    node_sg = await create_sg(aws_api, sandbox_vpc.vpc_id, "node")
    backend = await create_sg(aws_api, sandbox_vpc.vpc_id, "backend")
    manual = OPEN_443.with_description("ops")
    stale = labelled(Rule.of("tcp", 30080, 30080, SecurityGroupSource(backend)))
    wanted = labelled(Rule.of("tcp", 31443, 31443, SecurityGroupSource(backend)))
    await authorize_directly(aws_api, node_sg, manual, stale)

    changes = await reconciler.reconcile(node_sg, [wanted], selector=OWN_TGB_SHARED_RULES)

    assert changes.authorized == (wanted,)
    assert changes.revoked == (stale,)
    assert await ingress(sg_reader, node_sg) == [(manual, "ops"), (wanted, TGB_RULE_DESCRIPTION)]
    revoke = next(r for r in aws_proxy.request_log if r.operation == "RevokeSecurityGroupIngress")
    assert revoke.params["IpPermissions.1.Groups.1.GroupId"] == backend
    assert revoke.params["IpPermissions.1.Groups.1.Description"] == TGB_RULE_DESCRIPTION


async def test_authorize_only_revokes_nothing(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "node")
    extra = labelled(OPEN_80)
    await authorize_directly(aws_api, group_id, extra)
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(
        group_id, [labelled(OPEN_443)], selector=OWN_TGB_SHARED_RULES, authorize_only=True
    )

    assert (changes.authorized, changes.revoked) == ((OPEN_443,), ())
    assert mutating_operations(aws_proxy) == ["AuthorizeSecurityGroupIngress"]
    assert {r for r, _ in await ingress(sg_reader, group_id)} == {OPEN_80, OPEN_443}


async def test_injected_duplicate_rereads_without_cache_and_retries_once(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await sg_reader.get(group_id)
    aws_proxy.reset_counts()
    aws_proxy.faults.fail(
        "AuthorizeSecurityGroupIngress", code="InvalidPermission.Duplicate", status=400, message="dup"
    )

    changes = await reconciler.reconcile(group_id, [OPEN_80])

    assert operations(aws_proxy) == [
        "AuthorizeSecurityGroupIngress",
        "DescribeSecurityGroups",
        "AuthorizeSecurityGroupIngress",
    ]
    assert changes.authorized == (OPEN_80,)
    assert [r for r, _ in await ingress(sg_reader, group_id)] == [OPEN_80]


async def test_real_duplicate_from_a_stale_cache_is_resolved_by_the_fresh_read(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await sg_reader.get(group_id)  # cached: no rules
    await authorize_directly(aws_api, group_id, OPEN_80)  # behind the cache's back
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, [OPEN_80, OPEN_443])

    assert operations(aws_proxy) == [
        "AuthorizeSecurityGroupIngress",  # both rules: real InvalidPermission.Duplicate
        "DescribeSecurityGroups",
        "AuthorizeSecurityGroupIngress",  # only the missing one
    ]
    assert aws_proxy.request_log[0].status == 400
    assert changes.authorized == (OPEN_443,)
    assert {r for r, _ in await ingress(sg_reader, group_id)} == {OPEN_80, OPEN_443}


async def test_real_not_found_on_revoke_is_resolved_by_the_fresh_read(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await authorize_directly(aws_api, group_id, OPEN_80, SSH_FROM_OPS)
    await sg_reader.get(group_id)  # cached with the SSH rule
    await aws_api.call(
        "ec2",
        "RevokeSecurityGroupIngress",
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.9.9.9/32"}]}
        ],
    )
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, [OPEN_80])

    assert operations(aws_proxy) == ["RevokeSecurityGroupIngress", "DescribeSecurityGroups"]
    assert aws_proxy.request_log[0].status == 400
    assert changes.revoked == ()
    assert [r for r, _ in await ingress(sg_reader, group_id)] == [OPEN_80]


def _rules_from(count: int, first_port: int, description: str = "") -> list[Rule]:
    return [
        Rule.of("tcp", port, port, Ipv4CidrSource("10.0.0.0/8"), description)
        for port in range(first_port, first_port + count)
    ]


async def test_rule_limit_retry_revokes_first_then_authorizes(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "node")
    manual = _rules_from(10, 1000, "ops")
    stale_owned = _rules_from(50, 2000, TGB_RULE_DESCRIPTION)  # 60 rules: the SG is full
    await authorize_directly(aws_api, group_id, *manual)
    await authorize_directly(aws_api, group_id, *stale_owned)
    wanted = [labelled(r) for r in _rules_from(5, 3000)]
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, wanted, selector=OWN_TGB_SHARED_RULES)

    assert operations(aws_proxy) == [
        "DescribeSecurityGroups",
        "AuthorizeSecurityGroupIngress",  # RulesPerSecurityGroupLimitExceeded (moto's real limit)
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
    ]
    assert aws_proxy.request_log[1].status != 200
    assert set(changes.revoked) == set(stale_owned)
    assert set(changes.authorized) == set(wanted)
    assert {r for r, _ in await ingress(sg_reader, group_id)} == set(manual) | set(wanted)


async def test_rule_limit_that_persists_propagates_after_one_retry(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    aws_proxy.reset_counts()

    with pytest.raises(AwsApiError) as raised:
        await reconciler.reconcile(group_id, _rules_from(61, 1000))

    assert raised.value.code == "RulesPerSecurityGroupLimitExceeded"
    assert operations(aws_proxy).count("AuthorizeSecurityGroupIngress") == 2


async def test_missing_sg_raises_invalid_group_not_found(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await sg_reader.get(group_id)
    await aws_api.call("ec2", "DeleteSecurityGroup", GroupId=group_id)
    aws_proxy.reset_counts()

    # Cached view: the authorize itself fails with AWS's InvalidGroup.NotFound, not retried.
    with pytest.raises(AwsApiError) as from_aws:
        await reconciler.reconcile(group_id, [OPEN_80])
    assert from_aws.value.code == "InvalidGroup.NotFound"
    assert operations(aws_proxy) == ["AuthorizeSecurityGroupIngress"]

    # Uncached: the read finds nothing.
    with pytest.raises(AwsApiError) as from_read:
        await reconciler.reconcile(group_id, [OPEN_80])
    assert from_read.value.code == "InvalidGroup.NotFound"


async def test_other_errors_propagate_without_retry(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    aws_proxy.faults.fail(
        "AuthorizeSecurityGroupIngress", code="UnauthorizedOperation", status=403, message="no"
    )
    aws_proxy.reset_counts()

    with pytest.raises(AwsApiError) as raised:
        await reconciler.reconcile(group_id, [OPEN_80])

    assert raised.value.code == "UnauthorizedOperation"
    assert operations(aws_proxy) == ["DescribeSecurityGroups", "AuthorizeSecurityGroupIngress"]


async def test_concurrent_fresh_reconciles_share_batched_reads(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    ids = [
        await create_sg(aws_api, sandbox_vpc.vpc_id, f"sg{i}") for i in range(20)
    ]  # moto: not concurrently
    await asyncio.gather(*(reconciler.reconcile(gid, [OPEN_80]) for gid in ids))
    aws_proxy.reset_counts()

    await asyncio.gather(*(reconciler.reconcile(gid, [OPEN_80], fresh_read=True) for gid in ids))

    assert operations(aws_proxy) == ["DescribeSecurityGroups"]


async def test_a_cidr_with_host_bits_converges_to_what_aws_stores_without_a_loop(
    aws_api: AwsApi,
    aws_proxy: AwsProxy,
    sandbox_vpc: SandboxVpc,
    sg_reader: SecurityGroupReader,
    reconciler: SecurityGroupRuleReconciler,
) -> None:
    """``inbound-cidrs: 10.0.0.1/8`` is sent as written (as upstream) and AWS stores 10.0.0.0/8: the
    next pass must see it as present, not authorize it again (InvalidPermission.Duplicate, forever)
    nor revoke it as unwanted."""
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "frontend")
    desired = [
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.1/8")),
        Rule.of("tcp", 80, 80, Ipv6CidrSource("2001:DB8::1/32")),
    ]
    await reconciler.reconcile(group_id, desired)
    stored = {rule.source for rule, _ in await ingress(sg_reader, group_id)}
    assert stored == {Ipv4CidrSource("10.0.0.0/8"), Ipv6CidrSource("2001:db8::/32")}
    assert {getattr(source, "cidr", None) for source in stored} == {"10.0.0.0/8", "2001:db8::/32"}

    aws_proxy.reset_counts()
    assert (
        await reconciler.reconcile(group_id, desired, fresh_read=True)
        == type(await reconciler.reconcile(group_id, desired))()
    )
    assert mutating_operations(aws_proxy) == []


async def test_with_a_quota_a_full_sg_is_revoked_first_and_no_call_fails(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    reconciler = SecurityGroupRuleReconciler(aws_api, sg_reader, quota=60)
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "node")
    manual = _rules_from(10, 1000, "ops")
    stale_owned = _rules_from(50, 2000, TGB_RULE_DESCRIPTION)  # 60 rules: the SG is full
    await authorize_directly(aws_api, group_id, *manual)
    await authorize_directly(aws_api, group_id, *stale_owned)
    wanted = [labelled(r) for r in _rules_from(5, 3000)]
    aws_proxy.reset_counts()

    changes = await reconciler.reconcile(group_id, wanted, selector=OWN_TGB_SHARED_RULES)

    assert operations(aws_proxy) == [
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngress",
    ]
    assert all(record.status == 200 for record in aws_proxy.request_log)
    assert set(changes.revoked) == set(stale_owned)
    assert set(changes.authorized) == set(wanted)


async def test_with_a_quota_an_end_state_past_it_is_refused_without_a_call(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc, sg_reader: SecurityGroupReader
) -> None:
    reconciler = SecurityGroupRuleReconciler(aws_api, sg_reader, quota=10)
    group_id = await create_sg(aws_api, sandbox_vpc.vpc_id, "managed")
    await authorize_directly(aws_api, group_id, *_rules_from(4, 1000, "ops"))
    aws_proxy.reset_counts()

    with pytest.raises(RulesQuotaExceededError) as raised:
        await reconciler.reconcile(group_id, _rules_from(7, 2000), selector=OWN_TGB_SHARED_RULES)

    assert (raised.value.needed, raised.value.quota) == (11, 10)
    assert mutating_operations(aws_proxy) == []
    # Within the quota it goes through.
    await reconciler.reconcile(group_id, _rules_from(6, 2000), selector=OWN_TGB_SHARED_RULES)
    assert len(await ingress(sg_reader, group_id)) == 10
