"""The single-source rule model and its IpPermissions translation (checked on the wire form)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import given, settings
from sg_rule_strategies import rule_lists

from controller.aws.ec2_types import IpPermission
from controller.networking.rules import (
    Ipv4CidrSource,
    Ipv6CidrSource,
    PrefixListSource,
    Rule,
    SecurityGroupSource,
    dedupe_rules,
    expand_ip_permissions,
    group_rules,
    normalize_protocol,
)


def _expand(permissions: Iterable[Mapping[str, Any]]) -> list[Rule]:
    """Rules from AWS's ``IpPermissions`` as described."""
    return expand_ip_permissions(IpPermission.from_aws(p) for p in permissions)


def _wire(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The ``IpPermissions`` a request for ``rules`` carries."""
    return [p.to_aws() for p in group_rules(rules)]


def _full(rule: Rule) -> tuple[object, ...]:
    return (rule.protocol, rule.from_port, rule.to_port, rule.source, rule.description)


def test_identity_ignores_the_description() -> None:
    a = Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"), "ops")
    b = Rule.of("tcp", 443, 443, Ipv4CidrSource("0.0.0.0/0"), "")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_identity_distinguishes_ports_protocol_and_source_kind() -> None:
    base = Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8"))
    assert base != Rule.of("udp", 80, 80, Ipv4CidrSource("10.0.0.0/8"))
    assert base != Rule.of("tcp", 80, 81, Ipv4CidrSource("10.0.0.0/8"))
    assert Rule.of("tcp", 1, 1, PrefixListSource("x")) != Rule.of("tcp", 1, 1, SecurityGroupSource("x"))


def test_security_group_source_identity_ignores_the_account() -> None:
    assert SecurityGroupSource("sg-1", "123456789012") == SecurityGroupSource("sg-1")


def test_protocol_normalisation() -> None:
    assert [normalize_protocol(p) for p in ["TCP", "6", "17", "1", "58", "all", "-1", "50"]] == [
        "tcp",
        "tcp",
        "udp",
        "icmp",
        "icmpv6",
        "-1",
        "-1",
        "50",
    ]


def test_all_protocols_rule_has_no_ports() -> None:
    rule = Rule.of("-1", 0, 65535, Ipv4CidrSource("10.0.0.0/8"))
    assert (rule.from_port, rule.to_port) == (None, None)
    assert rule == _expand([{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])[0]
    assert _wire([rule]) == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]


def test_absent_ports_count_as_zero_for_ported_protocols() -> None:
    assert Rule.of("tcp", None, None, Ipv4CidrSource("1.1.1.1/32")) == Rule.of(
        "tcp", 0, 0, Ipv4CidrSource("1.1.1.1/32")
    )


def test_icmp_all_types_keeps_minus_one() -> None:
    rule = Rule.of("icmp", -1, -1, Ipv4CidrSource("0.0.0.0/0"))
    assert (rule.from_port, rule.to_port) == (-1, -1)


def test_expand_splits_every_source_kind_and_keeps_descriptions() -> None:
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "a"}, {"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "b"}],
        "PrefixListIds": [{"PrefixListId": "pl-1"}],
        "UserIdGroupPairs": [{"GroupId": "sg-1", "UserId": "123", "Description": "c"}],
    }
    assert [_full(r) for r in _expand([permission])] == [
        ("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8"), "a"),
        ("tcp", 80, 80, Ipv4CidrSource("0.0.0.0/0"), ""),
        ("tcp", 80, 80, Ipv6CidrSource("::/0"), "b"),
        ("tcp", 80, 80, PrefixListSource("pl-1"), ""),
        ("tcp", 80, 80, SecurityGroupSource("sg-1", "123"), "c"),
    ]
    assert _expand([permission])[-1].source.user_id == "123"  # type: ignore[union-attr]


def test_group_packs_same_ports_into_one_permission() -> None:
    rules = [
        Rule.of("tcp", 443, 443, Ipv4CidrSource("10.0.0.0/8")),
        Rule.of("tcp", 80, 80, Ipv4CidrSource("10.0.0.0/8")),
        Rule.of("tcp", 443, 443, Ipv6CidrSource("::/0"), "v6"),
        Rule.of("tcp", 443, 443, SecurityGroupSource("sg-1", "123"), "x=y"),
        Rule.of("tcp", 443, 443, PrefixListSource("pl-1")),
    ]
    assert _wire(rules) == [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "v6"}],
            "PrefixListIds": [{"PrefixListId": "pl-1"}],
            "UserIdGroupPairs": [{"GroupId": "sg-1", "UserId": "123", "Description": "x=y"}],
        },
    ]


def test_dedupe_keeps_the_first_description() -> None:
    a = Rule.of("tcp", 1, 1, Ipv4CidrSource("1.0.0.0/8"), "first")
    b = Rule.of("tcp", 1, 1, Ipv4CidrSource("1.0.0.0/8"), "second")
    assert [r.description for r in dedupe_rules([a, b])] == ["first"]


@settings(max_examples=60, deadline=None)
@given(rule_lists)
def test_expand_after_group_returns_the_same_rules(rules: list[Rule]) -> None:
    round_trip = _expand(_wire(rules))
    assert Counter(map(_full, round_trip)) == Counter(map(_full, rules))


@settings(max_examples=60, deadline=None)
@given(rule_lists)
def test_group_makes_one_permission_per_protocol_and_port_range(rules: list[Rule]) -> None:
    permissions = _wire(rules)
    keys = [(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")) for p in permissions]
    assert len(keys) == len(set(keys)) == len({(r.protocol, r.from_port, r.to_port) for r in rules})


@settings(max_examples=60, deadline=None)
@given(rule_lists)
def test_group_then_expand_then_group_is_stable(rules: list[Rule]) -> None:
    once = _wire(rules)
    assert _wire(_expand(once)) == once


def test_cidr_sources_compare_in_the_canonical_form_aws_stores_and_keep_their_text() -> None:
    written = Rule.of("tcp", 80, 80, Ipv4CidrSource("192.168.1.1/16"))
    stored = Rule.of("tcp", 80, 80, Ipv4CidrSource("192.168.0.0/16"))
    assert written == stored and hash(written) == hash(stored)
    assert Ipv6CidrSource("2001:DB8:0::1/32") == Ipv6CidrSource("2001:db8::/32")
    assert Ipv4CidrSource("192.168.1.1/16") != Ipv4CidrSource("192.168.1.1/24")
    # Requests carry the text as given (or as AWS reported it, for a revoke).
    assert _wire([written]) == [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "192.168.1.1/16"}]}
    ]
    assert dedupe_rules([stored, written]) == [stored]
    # Not a CIDR: compared as text.
    assert Ipv4CidrSource("nonsense") == Ipv4CidrSource("nonsense") != Ipv4CidrSource("other")
