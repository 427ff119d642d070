"""A Kubernetes label selector (``metav1.LabelSelector``): IngressClassParams ``namespaceSelector``,
TargetGroupBinding ``nodeSelector``.

Semantics and error texts are apimachinery's ``LabelSelectorAsSelector``: ``matchLabels`` and
``matchExpressions`` (``In``, ``NotIn``, ``Exists``, ``DoesNotExist``) must all hold; an empty
selector selects everything. Whether an absent selector means "no restriction" is the caller's
business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")


class InvalidSelectorError(ValueError):
    """The selector cannot be evaluated; the message is apimachinery's."""


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> LabelSelector:
        """Raises ``InvalidSelectorError`` for an operator apimachinery rejects, or values that do
        not fit the operator (``In``/``NotIn`` need some, ``Exists``/``DoesNotExist`` take none)."""
        labels = tuple(sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items()))
        expressions: list[tuple[str, str, tuple[str, ...]]] = []
        for expression in raw.get("matchExpressions") or ():
            key = str(expression.get("key") or "")
            operator = str(expression.get("operator") or "")
            values = tuple(str(v) for v in expression.get("values") or ())
            if operator not in _OPERATORS:
                raise InvalidSelectorError(f'"{operator}" is not a valid label selector operator')
            if operator in ("In", "NotIn") and not values:
                raise InvalidSelectorError("for 'in', 'notin' operators, values set can't be empty")
            if operator in ("Exists", "DoesNotExist") and values:
                raise InvalidSelectorError("values set must be empty for exists and does not exist")
            expressions.append((key, operator, values))
        return cls(labels, tuple(expressions))

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels):
            return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True

    def __str__(self) -> str:
        """Kubernetes' selector string (``team=a,env in (prod,stage),!legacy``) for events."""
        parts = [f"{key}={value}" for key, value in self.match_labels]
        for key, operator, values in self.match_expressions:
            if operator == "In":
                parts.append(f"{key} in ({','.join(sorted(values))})")
            elif operator == "NotIn":
                parts.append(f"{key} notin ({','.join(sorted(values))})")
            elif operator == "Exists":
                parts.append(key)
            else:
                parts.append(f"!{key}")
        return ",".join(parts) or "<everything>"
