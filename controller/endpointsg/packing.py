"""Pack needed ports into a bounded number of ranges (design.md Difference 4).

Upstream collapses every port needed from one source SG into a single min-max range, so NodePorts
30080 and 31443 open 30080-31443. We allow up to R ranges per (endpoint SG, protocol, source) and
choose them to open the fewest ports that nobody asked for.

Why splitting at the largest gaps is optimal: after merging overlapping/adjacent needs we have k
disjoint runs separated by k-1 gaps. Any cover with at most R ranges must bridge at least k-R of
those gaps (each range that spans a gap removes one split point), and bridging a gap opens exactly
its ports. So the extra ports are minimised by bridging the k-R smallest gaps, i.e. keeping the
R-1 largest gaps open. R = 1 bridges every gap and reproduces upstream's min-max range.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from controller.endpointsg.model import EndpointRule, PortRange, Source


def merge_ranges(ranges: Iterable[PortRange]) -> list[PortRange]:
    """Sorted disjoint runs covering exactly the given ranges; adjacent ranges (80, 81) join."""
    merged: list[PortRange] = []
    for current in sorted(ranges):
        if merged and current.from_port <= merged[-1].to_port + 1:
            last = merged[-1]
            if current.to_port > last.to_port:
                merged[-1] = PortRange(last.from_port, current.to_port)
        else:
            merged.append(current)
    return merged


def pack_ranges(ranges: Iterable[PortRange], max_ranges: int) -> list[PortRange]:
    """At most ``max_ranges`` sorted ranges covering every given port with the fewest extra ports.

    Ties between equal gaps are broken towards keeping the lower gap open, so the result is a
    pure function of the input set (stable rules, no churn between passes).
    """
    if max_ranges < 1:
        raise ValueError(f"max_ranges must be at least 1, got {max_ranges}")
    runs = merge_ranges(ranges)
    if len(runs) <= max_ranges:
        return runs
    # Gap i lies between runs[i] and runs[i + 1]; keep the (max_ranges - 1) widest ones open.
    gap_order = sorted(
        range(len(runs) - 1),
        key=lambda i: (-(runs[i + 1].from_port - runs[i].to_port - 1), i),
    )
    kept_gaps = sorted(gap_order[: max_ranges - 1])
    packed: list[PortRange] = []
    start = 0
    for gap in [*kept_gaps, len(runs) - 1]:
        packed.append(PortRange(runs[start].from_port, runs[gap].to_port))
        start = gap + 1
    return packed


def extra_ports(needed: Iterable[PortRange], cover: Iterable[PortRange]) -> int:
    """How many ports ``cover`` opens beyond the ``needed`` ones (assumes cover covers needed)."""
    return sum(r.size for r in merge_ranges(cover)) - sum(r.size for r in merge_ranges(needed))


def pack_rules(rules: Iterable[EndpointRule], max_ranges: int) -> frozenset[EndpointRule]:
    """The desired rules of one endpoint SG from the union of its contributions.

    Rules from a single CIDR stay one per (protocol, ports, CIDR), as upstream does: a CIDR rule
    is cheap to reason about and users often list CIDRs with distinct ports on purpose. Rules from
    a source SG or prefix list are packed per (protocol, source) into at most ``max_ranges``.
    """
    passthrough: set[EndpointRule] = set()
    grouped: defaultdict[tuple[str, Source], list[PortRange]] = defaultdict(list)
    for rule in rules:
        if rule.source.is_cidr:
            passthrough.add(rule)
        else:
            grouped[(rule.protocol, rule.source)].append(rule.ports)
    for (protocol, source), ranges in grouped.items():
        for packed in pack_ranges(ranges, max_ranges):
            passthrough.add(EndpointRule(protocol, packed, source))
    return frozenset(passthrough)
