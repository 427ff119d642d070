"""Packing within a rule budget: the smallest gaps are merged until every source fits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.endpointsg.model import PortRange
from controller.endpointsg.packing import merge_ranges, pack_ranges, pack_within_budget


def ports(*values: int) -> list[PortRange]:
    return [PortRange.single(v) for v in values]


def covered(ranges: list[PortRange] | tuple[PortRange, ...]) -> set[int]:
    return {p for r in ranges for p in range(r.from_port, r.to_port + 1)}


def test_a_budget_with_room_for_every_range_changes_nothing() -> None:
    groups = {"a": ports(30000, 30010), "b": ports(31000)}
    packed = pack_within_budget(groups, 8, 3)
    assert packed.ranges == {"a": tuple(ports(30000, 30010)), "b": tuple(ports(31000))}
    assert packed.budget_bridged == {}


def test_the_smallest_gap_of_all_sources_is_merged_first() -> None:
    groups = {"a": ports(30000, 30100), "b": ports(31000, 31003)}
    packed = pack_within_budget(groups, 8, 3)
    assert packed.ranges == {"a": tuple(ports(30000, 30100)), "b": (PortRange(31000, 31003),)}
    assert packed.budget_bridged == {"b": (PortRange(31001, 31002),)}
    assert packed.rule_count == 3


def test_a_budget_of_one_rule_per_source_gives_each_its_min_max_range() -> None:
    groups = {"a": ports(1, 5, 9), "b": ports(100, 200)}
    packed = pack_within_budget(groups, 8, 2)
    assert packed.ranges == {"a": (PortRange(1, 9),), "b": (PortRange(100, 200),)}
    assert packed.budget_bridged == {"a": (PortRange(2, 4), PortRange(6, 8)), "b": (PortRange(101, 199),)}


def test_gaps_the_per_source_limit_bridges_are_not_blamed_on_the_budget() -> None:
    # R=2 bridges a's 3-port gap 2-4 on its own. The budget leaves room for one more range: b's
    # 99-port gap 1001-1099 stays open, a's 94-port gap 6-99 is merged because of the budget.
    groups = {"a": ports(1, 5, 100), "b": ports(1000, 1100)}
    packed = pack_within_budget(groups, 2, 3)
    assert packed.ranges == {"a": (PortRange(1, 100),), "b": tuple(ports(1000, 1100))}
    assert packed.budget_bridged == {"a": (PortRange(6, 99),)}


def test_a_budget_below_one_rule_per_source_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold 2 groups"):
        pack_within_budget({"a": ports(1), "b": ports(2)}, 8, 1)


def _minimal_extra(groups: dict[int, list[PortRange]], max_ranges: int, budget: int) -> int:
    """Brute force: the fewest extra ports over every choice of gaps to keep open."""
    runs = {k: merge_ranges(v) for k, v in groups.items()}
    gaps = [
        (k, runs[k][i + 1].from_port - runs[k][i].to_port - 1) for k in runs for i in range(len(runs[k]) - 1)
    ]
    total = sum(size for _, size in gaps)
    best = total
    for keep in range(0, len(gaps) + 1):
        for chosen in itertools.combinations(range(len(gaps)), keep):
            per_group = [gaps[c][0] for c in chosen]
            if any(per_group.count(k) > max_ranges - 1 for k in runs):
                continue
            if len(runs) + keep > budget:
                continue
            best = min(best, total - sum(gaps[c][1] for c in chosen))
    return best


groups_strategy = st.dictionaries(
    st.integers(0, 3),
    st.lists(st.integers(30000, 30060).map(PortRange.single), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(groups=groups_strategy, max_ranges=st.integers(1, 4), spare=st.integers(0, 8))
def test_budget_packing_properties(groups: dict[int, list[PortRange]], max_ranges: int, spare: int) -> None:
    budget = len(groups) + spare
    packed = pack_within_budget(groups, max_ranges, budget)
    assert packed.rule_count <= budget
    extra_total = 0
    for key, needed in groups.items():
        ranges = packed.ranges[key]
        assert len(ranges) <= max_ranges
        needed_ports = covered(needed)
        opened = covered(ranges)
        # Every needed port is covered, and each range starts and ends on a needed port: nothing
        # is opened outside the gaps between this source's own needs.
        assert needed_ports <= opened
        assert all(r.from_port in needed_ports and r.to_port in needed_ports for r in ranges)
        # What the budget bridged is exactly what is opened beyond the per-source packing alone.
        alone = covered(pack_ranges(needed, max_ranges))
        assert covered(packed.budget_bridged.get(key, ())) == opened - alone
        extra_total += len(opened - needed_ports)
    # Minimal for the budget.
    assert extra_total == _minimal_extra(groups, max_ranges, budget)
    # A pure function of the input set.
    assert pack_within_budget(dict(reversed(list(groups.items()))), max_ranges, budget) == packed
