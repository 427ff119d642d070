"""Port packing: at most R ranges, every needed port covered, fewest extra ports (design.md Difference 4)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.endpointsg.model import ALL_PORTS, EndpointRule, PortRange, Source, SourceKind
from controller.endpointsg.packing import extra_ports, merge_ranges, pack_ranges, pack_rules

BACKEND = Source.security_group("sg-backend")


def ports(*values: int) -> list[PortRange]:
    return [PortRange.single(v) for v in values]


def test_r1_reproduces_upstream_min_max_range() -> None:
    # Scenario 37: 30080 and 31443 from one source collapse into one min-max range.
    assert pack_ranges(ports(30080, 31443), 1) == [PortRange(30080, 31443)]


def test_r2_splits_at_the_largest_gap() -> None:
    needed = ports(30080, 30081, 30090, 31443)
    assert pack_ranges(needed, 2) == [PortRange(30080, 30090), PortRange(31443, 31443)]


def test_r8_keeps_up_to_eight_exact_ports() -> None:
    needed = ports(30000, 30100, 30200, 30300, 30400, 30500, 30600, 30700)
    assert pack_ranges(needed, 8) == needed


def test_r8_with_nine_ports_bridges_only_the_smallest_gap() -> None:
    needed = ports(30000, 30100, 30200, 30300, 30400, 30500, 30600, 30700, 30705)
    packed = pack_ranges(needed, 8)
    assert len(packed) == 8
    assert packed[-1] == PortRange(30700, 30705)
    assert extra_ports(needed, packed) == 4


def test_equal_gaps_break_ties_deterministically() -> None:
    needed = ports(10, 20, 30)
    assert pack_ranges(needed, 2) == [PortRange(10, 10), PortRange(20, 30)]
    assert pack_ranges(list(reversed(needed)), 2) == [PortRange(10, 10), PortRange(20, 30)]


def test_port_unset_contribution_forces_the_full_range() -> None:
    assert pack_ranges([*ports(80, 443), ALL_PORTS], 8) == [ALL_PORTS]


def test_overlapping_and_adjacent_ranges_merge_without_extra_ports() -> None:
    needed = [PortRange(80, 90), PortRange(85, 100), PortRange(101, 101), PortRange(200, 210)]
    assert merge_ranges(needed) == [PortRange(80, 101), PortRange(200, 210)]
    assert pack_ranges(needed, 1) == [PortRange(80, 210)]


def test_invalid_budget_is_rejected() -> None:
    with pytest.raises(ValueError):
        pack_ranges(ports(1), 0)


def test_pack_rules_groups_per_protocol_and_source_but_keeps_cidrs_one_by_one() -> None:
    other = Source.security_group("sg-other")
    cidr = Source(SourceKind.IPV4_CIDR, "10.0.0.0/8")
    rules = [
        EndpointRule("tcp", PortRange.single(30080), BACKEND),
        EndpointRule("tcp", PortRange.single(31443), BACKEND),
        EndpointRule("udp", PortRange.single(31000), BACKEND),
        EndpointRule("tcp", PortRange.single(30500), other),
        EndpointRule("tcp", PortRange.single(80), cidr),
        EndpointRule("tcp", PortRange.single(443), cidr),
    ]
    assert pack_rules(rules, 1) == {
        EndpointRule("tcp", PortRange(30080, 31443), BACKEND),
        EndpointRule("udp", PortRange.single(31000), BACKEND),
        EndpointRule("tcp", PortRange.single(30500), other),
        EndpointRule("tcp", PortRange.single(80), cidr),
        EndpointRule("tcp", PortRange.single(443), cidr),
    }


def brute_force_min_extra(needed: list[PortRange], max_ranges: int) -> int:
    """The fewest extra ports over every cover by <= max_ranges ranges (ends at needed boundaries).

    Restricting range ends to the needed ranges' ends loses nothing: the union of an optimal cover
    is a set of runs, and each run can shrink to the nearest needed boundary without uncovering.
    """
    needed_ports = {p for r in needed for p in range(r.from_port, r.to_port + 1)}
    ends = sorted({e for r in needed for e in (r.from_port, r.to_port)})
    candidates = [PortRange(a, b) for a, b in itertools.combinations_with_replacement(ends, 2)]
    best: int | None = None
    for count in range(1, max_ranges + 1):
        for cover in itertools.combinations(candidates, count):
            opened = {p for r in cover for p in range(r.from_port, r.to_port + 1)}
            if needed_ports <= opened:
                extra = len(opened) - len(needed_ports)
                best = extra if best is None else min(best, extra)
    assert best is not None
    return best


small_ranges = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 6)).map(lambda t: PortRange(t[0], min(t[0] + t[1], 60))),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(needed=small_ranges, max_ranges=st.sampled_from([1, 2, 3]))
def test_packing_is_optimal_against_brute_force(needed: list[PortRange], max_ranges: int) -> None:
    packed = pack_ranges(needed, max_ranges)
    assert len(packed) <= max_ranges
    assert all(any(p.covers(n) for p in packed) or _covered_by_union(n, packed) for n in needed)
    assert extra_ports(needed, packed) == brute_force_min_extra(needed, max_ranges)


def _covered_by_union(needed: PortRange, cover: list[PortRange]) -> bool:
    return all(
        any(r.from_port <= p <= r.to_port for r in cover) for p in range(needed.from_port, needed.to_port + 1)
    )


nodeport_lists = st.lists(st.integers(30000, 32767).map(PortRange.single), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(needed=nodeport_lists, max_ranges=st.sampled_from([1, 2, 8]))
def test_packing_properties_at_nodeport_scale(needed: list[PortRange], max_ranges: int) -> None:
    packed = pack_ranges(needed, max_ranges)
    assert len(packed) <= max_ranges
    assert packed == sorted(packed)
    assert all(a.to_port + 1 < b.from_port for a, b in itertools.pairwise(packed)), (
        "ranges disjoint, not adjacent"
    )
    assert all(any(p.covers(n) for p in packed) for n in needed)
    # Every range starts and ends on a needed port: nothing opened at the edges.
    needed_ports = {n.from_port for n in needed}
    assert all(p.from_port in needed_ports and p.to_port in needed_ports for p in packed)
    # More budget never opens more ports.
    assert extra_ports(needed, pack_ranges(needed, max_ranges + 1)) <= extra_ports(needed, packed)
