"""Rule descriptions as labels, and the selector that says which existing rules we own.

Upstream reads a rule description as comma-separated ``key=value`` pairs with no whitespace
(upstream-behaviour §4.6); anything else (``"ops"``, ``"allow from vpn"``) has no labels. On endpoint SGs we
may revoke only rules labelled ``elbv2.k8s.aws/targetGroupBinding=shared``; on a managed frontend SG
we own every inbound rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from controller.naming import TGB_RULE_LABEL_KEY, TGB_RULE_LABEL_VALUE
from controller.networking.rules import Rule

_LABELLED_DESCRIPTION: Final = re.compile(r"[^\s,=]+=[^\s,=]*(?:,[^\s,=]+=[^\s,=]*)*")


def parse_description_labels(description: str) -> dict[str, str]:
    """``"a=1,b=2"`` → ``{"a": "1", "b": "2"}``; a description that is not such a list → ``{}``."""
    if not _LABELLED_DESCRIPTION.fullmatch(description):
        return {}
    return dict(pair.split("=", 1) for pair in description.split(","))


def render_description_labels(labels: Mapping[str, str]) -> str:
    """The inverse of ``parse_description_labels`` (keys sorted, so the text is stable)."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


@dataclass(frozen=True)
class OwnershipSelector:
    """Which existing rules a reconcile may revoke: those whose labels include all ``required_labels``.

    No required labels means "every rule" (the managed frontend SG).
    """

    required_labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def with_labels(cls, labels: Mapping[str, str]) -> OwnershipSelector:
        return cls(tuple(sorted(labels.items())))

    def owns(self, rule: Rule) -> bool:
        if not self.required_labels:
            return True
        labels = parse_description_labels(rule.description)
        return all(labels.get(key) == value for key, value in self.required_labels)


OWN_ALL_RULES: Final = OwnershipSelector()
OWN_TGB_SHARED_RULES: Final = OwnershipSelector.with_labels({TGB_RULE_LABEL_KEY: TGB_RULE_LABEL_VALUE})
