"""Drop listener rules that redirect to themselves or can never match (upstream ``rule_optimizer.go``).

It exists for the old ``actions.ssl-redirect`` pattern: the same redirect rule on an Ingress with
both an HTTP and an HTTPS listener would loop forever on the HTTPS one, so it is left out there; and
on the HTTP listener every later rule whose hosts and paths the redirect rule already covers is left
out too (it can never match, and would only use up the listener's rule quota).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from controller.ingress.actions import HOST_HEADER, PATH_PATTERN
from controller.model.load_balancer import Action, RedirectAction, RuleCondition

_KEEP_HOST: Final = "#{host}"
_KEEP_PATH: Final = "/#{path}"
_KEEP_PORT: Final = "#{port}"
_KEEP_PROTOCOL: Final = "#{protocol}"
_KEEP_QUERY: Final = "#{query}"


@dataclass(frozen=True)
class Rule:
    """A listener rule before it has a priority."""

    conditions: tuple[RuleCondition, ...]
    action: Action


def optimize_rules(port: int, protocol: str, rules: Sequence[Rule]) -> list[Rule]:
    kept = [rule for rule in rules if not _is_infinite_redirect(port, protocol, rule)]
    optimized: list[Rule] = []
    for rule in kept:
        shadowed = any(
            isinstance(earlier.action, RedirectAction) and _is_superset(earlier.conditions, rule.conditions)
            for earlier in optimized
        )
        if not shadowed:
            optimized.append(rule)
    return optimized


def _is_infinite_redirect(port: int, protocol: str, rule: Rule) -> bool:
    redirect = rule.action
    if not isinstance(redirect, RedirectAction):
        return False
    hosts: set[str] = set()
    paths: set[str] = set()
    for condition in rule.conditions:
        if condition.field == HOST_HEADER:
            hosts.update(condition.values)
        elif condition.field == PATH_PATTERN:
            if condition.regex_values:
                return False  # upstream does not reason about regex paths
            paths.update(condition.values)
    if redirect.host is not None and redirect.host != _KEEP_HOST and redirect.host not in hosts:
        return False
    if redirect.path is not None and redirect.path != _KEEP_PATH and redirect.path not in paths:
        return False
    if redirect.port is not None and redirect.port not in (_KEEP_PORT, str(port)):
        return False
    if redirect.protocol is not None and redirect.protocol not in (_KEEP_PROTOCOL, protocol):
        return False
    return redirect.query is None or redirect.query == _KEEP_QUERY


def _hosts_and_paths(conditions: Sequence[RuleCondition]) -> tuple[set[str], set[str], bool]:
    """Host values, path values (regex values if the path condition has them), and whether any
    other kind of condition is present."""
    hosts: set[str] = set()
    paths: set[str] = set()
    other = False
    for condition in conditions:
        if condition.field == HOST_HEADER:
            hosts.update(condition.values)
        elif condition.field == PATH_PATTERN:
            paths.update(condition.regex_values or condition.values)
        else:
            other = True
    return hosts, paths, other


def _is_superset(earlier: Sequence[RuleCondition], later: Sequence[RuleCondition]) -> bool:
    """Whether every request ``later`` matches is matched by ``earlier`` (host and path only; any
    other condition on ``earlier`` makes it not a superset)."""
    earlier_hosts, earlier_paths, earlier_other = _hosts_and_paths(earlier)
    if earlier_other:
        return False
    later_hosts, later_paths, _ = _hosts_and_paths(later)
    hosts_covered = not earlier_hosts or (bool(later_hosts) and earlier_hosts >= later_hosts)
    paths_covered = (
        not earlier_paths or "/*" in earlier_paths or (bool(later_paths) and earlier_paths >= later_paths)
    )
    return hosts_covered and paths_covered
