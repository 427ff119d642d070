"""The pure diff planner: what to authorize and revoke on one SG."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sg_rule_strategies import rule_lists

from controller.naming import TGB_RULE_DESCRIPTION
from controller.networking.labels import OWN_ALL_RULES, OWN_TGB_SHARED_RULES, OwnershipSelector
from controller.networking.rule_plan import plan_rule_changes
from controller.networking.rules import Ipv4CidrSource, Rule, SecurityGroupSource

selectors = st.sampled_from([OWN_ALL_RULES, OWN_TGB_SHARED_RULES, OwnershipSelector.with_labels({"x": "y"})])


def _full(rule: Rule) -> tuple[object, ...]:
    return (rule.protocol, rule.from_port, rule.to_port, rule.source, rule.description)


@settings(max_examples=60, deadline=None)
@given(rule_lists, rule_lists, selectors, st.booleans())
def test_plan_invariants(
    desired: list[Rule], existing: list[Rule], selector: OwnershipSelector, only: bool
) -> None:
    plan = plan_rule_changes(desired, existing, selector, authorize_only=only)
    # Nothing already present is authorized; everything desired ends up present.
    assert not set(plan.to_authorize) & set(existing)
    assert set(desired) <= set(existing) | set(plan.to_authorize)
    assert len(set(plan.to_authorize)) == len(plan.to_authorize)
    # Revokes are owned existing rules exactly as they exist (description included), never desired.
    existing_full = {_full(r) for r in existing}
    for rule in plan.to_revoke:
        assert _full(rule) in existing_full
        assert selector.owns(rule)
        assert rule not in set(desired)
    # Unowned rules are never revoked.
    assert all(selector.owns(r) for r in plan.to_revoke)
    if only:
        assert plan.to_revoke == ()
    else:
        # After applying the plan, every owned rule left is desired.
        revoked = {_full(r) for r in plan.to_revoke}
        remaining = [r for r in existing if _full(r) not in revoked]
        assert all(r in set(desired) for r in remaining if selector.owns(r))


def test_same_rule_with_other_description_needs_no_change() -> None:
    # Scenario 54: identical rule, different description -> nothing to do.
    existing = [Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"), "added by ops")]
    desired = [Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"))]
    assert plan_rule_changes(desired, existing, OWN_ALL_RULES).is_empty


def test_unlabelled_rule_is_kept_with_the_tgb_selector() -> None:
    # Scenario 44: a manual rule on a node SG is not ours to revoke.
    manual = Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"), "ops")
    ours = Rule.of("tcp", 30080, 30080, SecurityGroupSource("sg-b"), TGB_RULE_DESCRIPTION)
    plan = plan_rule_changes([], [manual, ours], OWN_TGB_SHARED_RULES)
    assert plan.to_revoke == (ours,)
    assert plan.to_revoke[0].description == TGB_RULE_DESCRIPTION


def test_managed_sg_revokes_manual_rules() -> None:
    manual = Rule.of("tcp", 22, 22, Ipv4CidrSource("1.2.3.4/32"), "ssh")
    desired = Rule.of("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"))
    plan = plan_rule_changes([desired], [manual], OWN_ALL_RULES)
    assert plan.to_authorize == (desired,)
    assert [_full(r) for r in plan.to_revoke] == [_full(manual)]
