"""Inbound rules of an NLB's managed SG (upstream-behaviour §1.6)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.annotations import (
    SVC_SOURCE_RANGES,
    InvalidAnnotationError,
    ObjectRef,
    ParsedCidrs,
    parse_cidrs,
    parse_string_list,
)
from controller.networking.rules import Ipv4CidrSource, Ipv6CidrSource, PrefixListSource, Rule, dedupe_rules
from framework.objects import annotations_of

SOURCE_RANGES_FIELD = "spec.loadBalancerSourceRanges"


@dataclass(frozen=True)
class SourceRanges:
    """The user's source ranges and where they came from (None when neither field is set)."""

    cidrs: ParsedCidrs
    key: str | None
    raw: str


def source_ranges(service: Mapping[str, Any], ref: ObjectRef) -> SourceRanges:
    """``spec.loadBalancerSourceRanges`` if non-empty, else the ``load-balancer-source-ranges`` annotation."""
    from_spec = [str(c).strip() for c in (service.get("spec") or {}).get("loadBalancerSourceRanges") or ()]
    from_spec = [c for c in from_spec if c]
    if from_spec:
        raw = ", ".join(from_spec)
        return SourceRanges(parse_cidrs(ref, SOURCE_RANGES_FIELD, from_spec, raw), SOURCE_RANGES_FIELD, raw)
    raw_annotation = annotations_of(service).get(SVC_SOURCE_RANGES)
    if raw_annotation is None:
        return SourceRanges(ParsedCidrs(), None, "")
    raw = str(raw_annotation)
    return SourceRanges(
        parse_cidrs(ref, SVC_SOURCE_RANGES, parse_string_list(raw), raw), SVC_SOURCE_RANGES, raw
    )


def nlb_ingress_rules(
    ports: Sequence[tuple[int, str]],
    ranges: SourceRanges,
    prefix_lists: Sequence[str] | None,
    dualstack: bool,
    icmp_path_mtu: bool,
    ref: ObjectRef,
) -> tuple[Rule, ...]:
    """Per Service port (number, lowercase protocol): one rule per CIDR and per prefix list, plus
    ICMP "fragmentation needed" rules per CIDR when path-MTU discovery is on.

    ``prefix_lists`` is None when the prefix-lists annotation is absent. Present, even empty, it
    replaces the open-to-all default when no source ranges are given: upstream tests the
    annotation's presence, so an empty value opens the NLB to nobody rather than to everybody.
    """
    if ranges.cidrs.ipv6 and not dualstack:
        raise InvalidAnnotationError(
            ref, ranges.key or SOURCE_RANGES_FIELD, ranges.raw, "unsupported v6 cidr when lb is not dualstack"
        )
    ipv4, ipv6 = ranges.cidrs.ipv4, ranges.cidrs.ipv6
    if ranges.cidrs.empty and prefix_lists is None:
        ipv4, ipv6 = ("0.0.0.0/0",), (("::/0",) if dualstack else ())
    rules: list[Rule] = []
    for port, protocol in ports:
        rules.extend(Rule.of(protocol, port, port, Ipv4CidrSource(cidr)) for cidr in ipv4)
        rules.extend(Rule.of(protocol, port, port, Ipv6CidrSource(cidr)) for cidr in ipv6)
        rules.extend(Rule.of(protocol, port, port, PrefixListSource(pl)) for pl in prefix_lists or ())
        if icmp_path_mtu:
            # ICMP type 3 code 4 / ICMPv6 type 2 code 0: "fragmentation needed" / "packet too big".
            rules.extend(Rule.of("icmp", 3, 4, Ipv4CidrSource(cidr)) for cidr in ipv4)
            rules.extend(Rule.of("icmpv6", 2, 0, Ipv6CidrSource(cidr)) for cidr in ipv6)
    return tuple(dedupe_rules(rules))
