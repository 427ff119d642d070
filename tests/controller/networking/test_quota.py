"""Rules counted against the quota as AWS counts them."""

from __future__ import annotations

from controller.networking.quota import RuleCount, rules_used
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    SecurityGroupSource,
)


def test_each_source_is_one_rule_ipv4_and_ipv6_apart_and_sgs_on_both_sides() -> None:
    rules = [
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.1.0.0/16")),
        Rule.of("tcp", 80, 80, Ipv6CidrSource("2001:db8::/32")),
        Rule.of("tcp", 80, 80, SecurityGroupSource("sg-1")),
        Rule.of("tcp", 80, 80, PrefixListSource("pl-1")),
    ]
    assert RuleCount.of(rules) == RuleCount(ipv4=2, ipv6=1, both=2)
    assert rules_used(rules) == 4


def test_a_rule_is_counted_once_whatever_its_description_or_spelling() -> None:
    rules = [
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8"), "a"),
        Rule.of("6", 80, 80, Ipv4CidrSource("10.1.2.3/8"), "b"),
    ]
    assert rules_used(rules) == 1
