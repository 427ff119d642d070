"""Pack needed ports into a bounded number of ranges (design.md Difference 4).

Upstream collapses every port needed from one source SG into a single min-max range, so NodePorts
30080 and 31443 open 30080-31443. We allow up to R ranges per (endpoint SG, protocol, source) and
choose them to open the fewest ports that nobody asked for.

Why splitting at the largest gaps is optimal: after merging overlapping/adjacent needs we have k
disjoint runs separated by k-1 gaps. Any cover with at most R ranges must bridge at least k-R of
those gaps (each range that spans a gap removes one split point), and bridging a gap opens exactly
its ports. So the extra ports are minimised by bridging the k-R smallest gaps, i.e. keeping the
R-1 largest gaps open. R = 1 bridges every gap and reproduces upstream's min-max range.

Within a rule budget (``pack_within_budget``: the SG's quota minus what other rules use), the sources
of one SG share B rules. Each (protocol, source) needs at least one rule; every gap it keeps open costs
one more. Keeping a set of gaps open is feasible when each source keeps at most R-1 and all sources
keep at most B - (number of sources) together, and the extra ports are the sum of the gaps bridged.
Those constraints form a laminar matroid, so keeping the widest gaps greedily is optimal: each source
keeps its R-1 widest, then of those the B - S widest overall stay open and the rest are bridged,
i.e. the smallest gaps are merged first until the rules fit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar

from controller.endpointsg.model import EndpointRule, PortRange, Source


def merge_ranges(ranges: Iterable[PortRange]) -> list[PortRange]:
    """Sorted disjoint runs covering exactly the given ranges; adjacent ranges (80, 81) join."""
    merged: list[PortRange] = []
    # A tuple key: the dataclass's generated ``__lt__`` is several times slower on large SGs.
    for current in sorted(ranges, key=lambda r: (r.from_port, r.to_port)):
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


class _Sortable(Protocol):
    def __lt__(self, other: Self, /) -> bool: ...


K = TypeVar("K", bound=_Sortable)


@dataclass(frozen=True)
class BudgetedPacking(Generic[K]):
    """Per group: its packed ranges, and the gaps bridged only because of the budget."""

    ranges: Mapping[K, tuple[PortRange, ...]]
    budget_bridged: Mapping[K, tuple[PortRange, ...]]
    """The ports each group opens beyond its needs *because of the budget* (the per-group limit
    alone would have kept these gaps closed). Groups with none are absent."""

    @property
    def rule_count(self) -> int:
        return sum(len(r) for r in self.ranges.values())


def _gap(runs: list[PortRange], i: int) -> PortRange:
    return PortRange(runs[i].to_port + 1, runs[i + 1].from_port - 1)


def pack_within_budget(
    groups: Mapping[K, Iterable[PortRange]], max_ranges: int, budget: int
) -> BudgetedPacking[K]:
    """Pack every group into at most ``max_ranges`` ranges and all groups into at most ``budget``
    ranges together, opening the fewest ports nobody asked for (see the module docstring).

    ``budget`` must leave one range per group. Ties between equal gaps keep the group that sorts
    first, and within a group the lower gap, open: a pure function of its input (no churn).
    """
    if max_ranges < 1:
        raise ValueError(f"max_ranges must be at least 1, got {max_ranges}")
    runs_by_group = {key: merge_ranges(ranges) for key, ranges in sorted(groups.items())}
    runs_by_group = {key: runs for key, runs in runs_by_group.items() if runs}
    if budget < len(runs_by_group):
        raise ValueError(f"a budget of {budget} rules cannot hold {len(runs_by_group)} groups")
    # (gap width, group order, gap index) of the gaps each group's own limit keeps open.
    candidates: list[tuple[int, int, int]] = []
    for order, runs in enumerate(runs_by_group.values()):
        gaps = [(_gap(runs, i).size, order, i) for i in range(len(runs) - 1)]
        gaps.sort(key=lambda c: (-c[0], c[2]))
        candidates.extend(gaps[: max_ranges - 1])
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    room = budget - len(runs_by_group)
    kept = {(order, i) for _, order, i in candidates[:room]}
    bridged_by_budget = {(order, i) for _, order, i in candidates[room:]}
    ranges: dict[K, tuple[PortRange, ...]] = {}
    budget_bridged: dict[K, tuple[PortRange, ...]] = {}
    for order, (key, runs) in enumerate(runs_by_group.items()):
        packed: list[PortRange] = []
        start = 0
        for i in range(len(runs)):
            if i == len(runs) - 1 or (order, i) in kept:
                packed.append(PortRange(runs[start].from_port, runs[i].to_port))
                start = i + 1
        ranges[key] = tuple(packed)
        bridged = tuple(_gap(runs, i) for i in range(len(runs) - 1) if (order, i) in bridged_by_budget)
        if bridged:
            budget_bridged[key] = bridged
    return BudgetedPacking(ranges, budget_bridged)


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
