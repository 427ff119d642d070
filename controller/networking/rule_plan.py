"""Pure diff of desired vs existing rules of one SG: what to authorize and what to revoke."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controller.networking.labels import OwnershipSelector
from controller.networking.rules import Rule, dedupe_rules


@dataclass(frozen=True)
class RulePlan:
    """``to_authorize`` never contains a rule already present (by identity); ``to_revoke`` holds only
    owned existing rules, exactly as AWS reported them (descriptions included)."""

    to_authorize: tuple[Rule, ...]
    to_revoke: tuple[Rule, ...]

    @property
    def is_empty(self) -> bool:
        return not self.to_authorize and not self.to_revoke


def plan_rule_changes(
    desired: Iterable[Rule],
    existing: Iterable[Rule],
    selector: OwnershipSelector,
    *,
    authorize_only: bool = False,
) -> RulePlan:
    """Plans to authorize desired rules missing from ``existing``; revoke owned existing rules not desired.

    Identity ignores descriptions, so an existing rule equal to a desired one except for its
    description is left alone (no call), whoever owns it.
    """
    desired_rules = dedupe_rules(desired)
    desired_set = set(desired_rules)
    existing_rules = list(existing)
    existing_set = set(existing_rules)
    to_authorize = tuple(sorted((r for r in desired_rules if r not in existing_set), key=Rule.sort_key))
    if authorize_only:
        return RulePlan(to_authorize, ())
    to_revoke = tuple(
        sorted((r for r in existing_rules if r not in desired_set and selector.owns(r)), key=Rule.sort_key)
    )
    return RulePlan(to_authorize, to_revoke)
