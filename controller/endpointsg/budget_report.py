"""What a pass on an endpoint SG tells about the rules quota: metrics, a log line, Warnings.

After every pass the SG's ``awslbc_security_group_rules`` (what it holds now, ours and others') and
``awslbc_security_group_rules_over_quota`` are set. Bindings whose rules did not fit get a
``FailedNetworkReconcile`` Warning naming the SG, the rules needed, the quota and the rules left out;
bindings whose ports share a rule merged to fit get a ``PortRangesMerged`` Warning naming the ports it
also opens. Events are deduplicated by the recorder, so a pass that changes nothing repeats nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, Protocol

from controller.endpointsg.budget import FittedRules, merged_by_binding, unfit_by_binding
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.metrics import SecurityGroupRuleMetrics
from controller.networking.quota import rules_used
from controller.networking.rule_reconciler import RuleChanges
from controller.networking.rules import Rule

REASON_FAILED_NETWORK_RECONCILE: Final = "FailedNetworkReconcile"
"""Upstream's reason for a binding whose rules could not be applied: here, they do not fit the quota."""
REASON_PORT_RANGES_MERGED: Final = "PortRangesMerged"
"""Ours: a binding's ports share a rule with ports nobody asked for, to stay within the quota."""
MAX_RULES_NAMED: Final = 8
"""Rules listed by name in one Warning (a Warning's note is limited to 1 KiB)."""

_log = logging.getLogger(__name__)


class BindingWarnings(Protocol):
    """Posts a Warning on the TargetGroupBinding ``tgb_key`` (and the object its stack serves)."""

    def warn(self, tgb_key: str, reason: str, note: str) -> None: ...


class ForwardedWarnings:
    """``BindingWarnings`` that forwards to ``target`` once set: the TargetGroupBinding feature, which
    knows the bindings, is built after this one (and sets it)."""

    def __init__(self) -> None:
        self.target: BindingWarnings | None = None

    def warn(self, tgb_key: str, reason: str, note: str) -> None:
        if self.target is not None:
            self.target.warn(tgb_key, reason, note)


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - MAX_RULES_NAMED} more" if len(items) > MAX_RULES_NAMED else ""
    return ", ".join(items[:MAX_RULES_NAMED]) + more


def unfit_note(sg_id: str, fitted: FittedRules, rules: Iterable[EndpointRule]) -> str:
    return (
        f"security group {sg_id} would need {fitted.needed} inbound rules, more than the quota of "
        f"{fitted.quota} (--sg-rules-quota; {fitted.foreign} used by rules the controller does not "
        f"manage): not applied: {_listed([str(r) for r in sorted(rules)])}"
    )


def merged_note(sg_id: str, fitted: FittedRules, merged: str) -> str:
    return (
        f"security group {sg_id}: to stay within the quota of {fitted.quota} inbound rules "
        f"(--sg-rules-quota), port ranges were merged, opening ports no binding asked for: {merged}"
    )


class BudgetReport:
    """Reports each endpoint-SG pass's fit (see the module docstring); either seam may be absent."""

    def __init__(
        self,
        ownership: RuleOwnership,
        warnings: BindingWarnings | None,
        metrics: SecurityGroupRuleMetrics | None,
    ) -> None:
        self._ownership = ownership
        self._warnings = warnings
        self._metrics = metrics

    def forget(self, sg_id: str) -> None:
        """The SG is gone: drop its series."""
        if self._metrics is not None:
            self._metrics.forget(sg_id)

    def after_pass(
        self, sg_id: str, fitted: FittedRules, existing: Iterable[Rule], changes: RuleChanges
    ) -> None:
        if self._metrics is not None:
            after = (set(existing) - set(changes.revoked)) | set(changes.authorized)
            self._metrics.observe(sg_id, used=rules_used(after), over_quota=fitted.over_quota)
        if not fitted.unfit and not fitted.merged:
            return
        by_tgb = self._ownership.contributions_by_tgb(sg_id)
        unfit = unfit_by_binding(fitted, by_tgb)
        merged = merged_by_binding(fitted, by_tgb)
        if unfit:
            _log.warning(
                "security group %s: %d rules needed, quota %d: rules of %s not applied",
                sg_id,
                fitted.needed,
                fitted.quota,
                ", ".join(unfit),
            )
        if fitted.merged:
            _log.info(
                "security group %s: merged to fit the quota of %d: %s",
                sg_id,
                fitted.quota,
                "; ".join(m.describe() for m in fitted.merged),
            )
        if self._warnings is None:
            return
        for tgb, rules in unfit.items():
            self._warnings.warn(tgb, REASON_FAILED_NETWORK_RECONCILE, unfit_note(sg_id, fitted, rules))
        for tgb, ranges in merged.items():
            described = "; ".join(m.describe() for m in ranges)
            self._warnings.warn(tgb, REASON_PORT_RANGES_MERGED, merged_note(sg_id, fitted, described))
