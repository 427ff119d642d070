"""Fit the rules of one endpoint SG into its rules quota (``--sg-rules-quota``).

AWS refuses an authorize that would take an SG past its quota, and refuses all of it. Instead of
letting it fail, each pass decides what fits before calling AWS:

* rules on the SG that we do not own (not labelled ``elbv2.k8s.aws/targetGroupBinding=shared``) use
  part of the quota and are never touched;
* each of our *units* needs at least one rule: a CIDR rule is one unit (as upstream, never packed), and
  each (protocol, source SG or prefix list) is one unit however many ports it needs. Units already on
  AWS come first (a new need never pushes out one that works), then sources before CIDR rules (one
  rule of a source carries every port of every binding it serves), each in a stable order. A unit
  that does not fit is left out whole: its contributions are *unfit*, named to their bindings in a
  Warning, and never sent to AWS;
* what is left of the quota goes to the packed ranges of the units that fit: the smallest gaps are
  merged first until they fit (``pack_within_budget``), and the ports that opens are named to the
  bindings whose ports those rules carry.

Rules are counted as AWS counts them (``controller.networking.quota``): a CIDR on its IPv4 or IPv6
side, an SG or prefix list on both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.endpointsg.aws_rules import from_rule
from controller.endpointsg.model import EndpointRule, PortRange, Source
from controller.endpointsg.packing import pack_rules, pack_within_budget
from controller.networking.labels import OWN_TGB_SHARED_RULES
from controller.networking.quota import RuleCount
from controller.networking.rules import Rule

GroupKey = tuple[str, Source]
"""(protocol, source) of the rules packed together."""


@dataclass(frozen=True)
class MergedRange:
    """A rule whose range the budget widened: ``extra`` are the ports opened for no binding."""

    rule: EndpointRule
    extra: tuple[PortRange, ...]

    @property
    def extra_ports(self) -> int:
        return sum(gap.size for gap in self.extra)

    def describe(self) -> str:
        gaps = ", ".join(str(g.from_port) if g.size == 1 else str(g) for g in self.extra)
        return (
            f"{self.rule.protocol} {self.rule.ports} from {self.rule.source.value} "
            f"(also opens {gaps}: {self.extra_ports} ports)"
        )


@dataclass(frozen=True)
class FittedRules:
    """The outcome of fitting one SG's contributions into its quota."""

    desired: frozenset[EndpointRule]
    unfit: frozenset[EndpointRule]
    """Contributions left out: their source (or CIDR rule) has no room at all."""
    merged: tuple[MergedRange, ...]
    needed: int
    """Rules the SG would use with every contribution applied as packed without the quota."""
    used: int
    """Rules the SG uses once ``desired`` is applied (with the rules we do not own)."""
    foreign: int
    """Rules we do not own on the SG (they count against the quota too)."""
    quota: int

    @property
    def over_quota(self) -> int:
        return max(0, self.needed - self.quota)


def _cost(source: Source) -> RuleCount:
    if source.kind.value == "ipv4":
        return RuleCount(ipv4=1)
    if source.kind.value == "ipv6":
        return RuleCount(ipv6=1)
    return RuleCount(both=1)


def _count(rules: Iterable[EndpointRule]) -> RuleCount:
    total = RuleCount()
    for rule in set(rules):
        total = total + _cost(rule.source)
    return total


def fit_rules(
    contributions: Iterable[EndpointRule],
    existing: Iterable[Rule],
    *,
    quota: int,
    max_ranges: int,
    merge: bool = True,
) -> FittedRules:
    """What to ask AWS for on one SG: ``contributions`` (the union of every binding's needs) fitted
    into ``quota`` next to the ``existing`` rules we do not own. ``merge=False``
    (``--disable-restricted-sg-rules``): every contribution is its own unit and nothing is packed."""
    existing_rules = list(existing)
    foreign = RuleCount.of(r for r in existing_rules if not OWN_TGB_SHARED_RULES.owns(r))
    present = {
        rule for rule in map(from_rule, (r for r in existing_rules if OWN_TGB_SHARED_RULES.owns(r))) if rule
    }
    present_groups = {(r.protocol, r.source) for r in present}
    wanted = frozenset(contributions)
    unpacked = wanted if not merge else pack_rules(wanted, max_ranges)
    needed = (foreign + _count(unpacked)).used

    singles: set[EndpointRule] = set()
    groups: defaultdict[GroupKey, list[EndpointRule]] = defaultdict(list)
    for rule in wanted:
        if not merge or rule.source.is_cidr:
            singles.add(rule)
        else:
            groups[(rule.protocol, rule.source)].append(rule)

    # Units already on AWS first, then sources before CIDR rules (see the module docstring).
    units: list[tuple[bool, int, str, EndpointRule | GroupKey]] = []
    units.extend((key not in present_groups, 0, f"{key[0]} {key[1]}", key) for key in groups)
    units.extend((rule not in present, 1, str(rule), rule) for rule in singles)
    units.sort(key=lambda unit: unit[:3])
    count = foreign
    fitting_singles: set[EndpointRule] = set()
    fitting_groups: dict[GroupKey, list[PortRange]] = {}
    unfit: set[EndpointRule] = set()
    for *_, unit in units:
        if isinstance(unit, EndpointRule):
            source, members = unit.source, [unit]
        else:
            source, members = unit[1], groups[unit]
        if (count + _cost(source)).used > quota:
            unfit.update(members)
            continue
        count = count + _cost(source)
        if isinstance(unit, EndpointRule):
            fitting_singles.update(members)
        else:
            fitting_groups[unit] = [m.ports for m in members]

    room = quota - count.used  # every extra range costs one rule on both sides
    packed = pack_within_budget(fitting_groups, max_ranges, len(fitting_groups) + room)
    desired = set(fitting_singles)
    merged: list[MergedRange] = []
    for key, ranges in packed.ranges.items():
        bridged = packed.budget_bridged.get(key, ())
        for ports in ranges:
            rule = EndpointRule(key[0], ports, key[1])
            desired.add(rule)
            extra = tuple(gap for gap in bridged if ports.covers(gap))
            if extra:
                merged.append(MergedRange(rule, extra))
    used = (foreign + _count(desired)).used
    return FittedRules(
        desired=frozenset(desired),
        unfit=frozenset(unfit),
        merged=tuple(sorted(merged, key=lambda m: m.rule)),
        needed=needed,
        used=used,
        foreign=foreign.used,
        quota=quota,
    )


def unfit_by_binding(
    fitted: FittedRules, contributions_by_tgb: Mapping[str, frozenset[EndpointRule]]
) -> dict[str, frozenset[EndpointRule]]:
    """Binding key → its contributions that were left out (bindings with none are absent)."""
    return {
        tgb: left_out
        for tgb, rules in sorted(contributions_by_tgb.items())
        if (left_out := rules & fitted.unfit)
    }


def merged_by_binding(
    fitted: FittedRules, contributions_by_tgb: Mapping[str, frozenset[EndpointRule]]
) -> dict[str, tuple[MergedRange, ...]]:
    """Binding key → the widened rules that carry one of its ports."""
    result: dict[str, tuple[MergedRange, ...]] = {}
    for tgb, rules in sorted(contributions_by_tgb.items()):
        mine = tuple(
            m
            for m in fitted.merged
            if any(
                c.protocol == m.rule.protocol and c.source == m.rule.source and m.rule.ports.covers(c.ports)
                for c in rules
            )
        )
        if mine:
            result[tgb] = mine
    return result
