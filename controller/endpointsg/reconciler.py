"""Reconcile one endpoint SG to the packed union of its live contributions (design.md Differences 3, 5).

Keyed by SG id on a deduplicating work queue: any number of TGB publishes touching one SG collapse
into one pass here, and one pass is at most one AuthorizeSecurityGroupIngress and one
RevokeSecurityGroupIngress (authorize first). Only rules labelled
``elbv2.k8s.aws/targetGroupBinding=shared`` are ever revoked; before every TGB with networking has
published, only rules this process itself authorized that a wider range now replaces are revoked.

Why that exception is safe: before every TGB has published, a labelled rule may belong to a TGB we
have not heard from, so rules found on AWS are left alone. Rules we authorized in this process may
serve such a TGB too (from the moment we added them), so they are *held*: the pass packs them
together with the published needs, and the packing therefore covers each of them. A held rule is
revoked only when a wider range of the new packing covers its ports (same protocol and source), which
takes nothing from anybody. Start-up churn (each publish re-packing the ranges) thus never leaves more
than the packing's ranges per source (stale ranges would otherwise pile up until the SG hits its rule
quota), and a rule a known binding dropped stays until revoking is allowed.

A rule whose *source* SG does not exist makes AWS refuse the whole authorize with
``InvalidGroup.NotFound``, the same code as for a vanished endpoint SG. One fresh read of the endpoint
SG and of every source SG tells the two apart: only a missing endpoint SG untracks it. Missing sources
are left out of the pass, so every other binding's rules on the SG still converge (and rules nobody
needs are still revoked); the key is then retried with backoff, and each retry first re-reads the
missing sources, so their rules are added once the source SG exists.

At start-up, queued passes wait (``StartupHold``) until every binding has published or a short timeout
has passed, so each SG converges once instead of once per NodePort that arrives.

Each pass fits the SG's rules into ``--sg-rules-quota`` before calling AWS (``controller.endpointsg.budget``):
sources that do not fit at all are left out and their bindings get a ``FailedNetworkReconcile``
Warning naming the SG, the rules needed and the quota; ranges merged to fit are named to the bindings
whose ports they carry (``PortRangesMerged``). Everything that fits is applied as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.aws.errors import AwsApiError
from controller.config import DEFAULT_SG_RULES_QUOTA
from controller.endpointsg.aws_rules import from_rule, to_labelled_rules
from controller.endpointsg.budget import FittedRules, fit_rules
from controller.endpointsg.budget_report import BindingWarnings, BudgetReport
from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.packing import merge_ranges
from controller.endpointsg.startup_hold import StartupHold
from controller.metrics import SecurityGroupRuleMetrics
from controller.networking.errors import INVALID_GROUP_NOT_FOUND, SecurityGroupNotFoundError
from controller.networking.labels import OWN_TGB_SHARED_RULES, OwnershipSelector
from controller.networking.rule_reconciler import (
    RuleChanges,
    RulesQuotaExceededError,
    SecurityGroupRuleReconciler,
)
from controller.networking.rules import Rule, SecurityGroupSource
from framework.clock import REAL_CLOCK, Clock
from framework.controller import Result, mark_reported

DEFAULT_RECHECK_SECONDS = 600.0
"""How long a converged SG is trusted without reading AWS again (the SG info cache's TTL)."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointSGOutcome:
    """What one pass did: the changes, whether revoking was suppressed, or that the SG is gone."""

    changes: RuleChanges
    authorize_only: bool
    untracked: bool = False
    skipped: bool = False
    """Nothing to do: the packed rules equal those of the last successful pass (no AWS call)."""
    missing_sources: frozenset[str] = frozenset()
    """Source SGs that do not exist: their rules were left out of this pass."""
    fitted: FittedRules | None = None
    """How the rules were fitted into the quota (None when the pass did not get that far)."""


class SkippedMissingSourceRulesError(Exception):
    """Some rules of an endpoint SG name source SGs that do not exist; the rest was reconciled.

    Raised so that the work queue retries the SG with backoff until the sources appear (or no binding
    needs them any more).
    """

    def __init__(self, sg_id: str, missing: frozenset[str]) -> None:
        super().__init__(
            f"rules on {sg_id} from source security groups that do not exist were skipped: "
            f"[{' '.join(sorted(missing))}]"
        )
        self.sg_id = sg_id
        self.missing = missing


class _EndpointGroupGone(Exception):
    """The endpoint SG itself does not exist (any more)."""


def _source_group(rule: Rule) -> str | None:
    return rule.source.group_id if isinstance(rule.source, SecurityGroupSource) else None


def _held(authorized_here: Iterable[Rule]) -> frozenset[EndpointRule]:
    return frozenset(rule for rule in map(from_rule, authorized_here) if rule is not None)


@dataclass(frozen=True)
class _ReplacedHere(OwnershipSelector):
    """The authorize-only revoke set: labelled rules this process authorized itself whose ports the
    pass's desired rules cover (so revoking one takes nothing from anybody)."""

    authorized_here: frozenset[Rule] = field(default_factory=frozenset)
    desired: tuple[Rule, ...] = ()

    def owns(self, rule: Rule) -> bool:
        return rule in self.authorized_here and OWN_TGB_SHARED_RULES.owns(rule) and self._covered(rule)

    def _covered(self, rule: Rule) -> bool:
        need = from_rule(rule)
        if need is None:
            return False
        runs = merge_ranges(
            d.ports
            for d in map(from_rule, self.desired)
            if d is not None and d.protocol == need.protocol and d.source == need.source
        )
        return any(run.covers(need.ports) for run in runs)


class EndpointSGReconciler:
    """The framework ``Reconciler`` keyed by endpoint SG id (run it with N workers).

    AWS errors propagate so the controller retries the key with exponential backoff; a vanished SG
    is untracked and not retried. Rules from missing source SGs are retried with backoff as well,
    after the SG's other rules were reconciled. ``reconcile_sg`` is one pass with its outcome.
    """

    def __init__(
        self,
        ownership: RuleOwnership,
        rules: SecurityGroupRuleReconciler,
        *,
        clock: Clock = REAL_CLOCK,
        recheck_after: float = DEFAULT_RECHECK_SECONDS,
        startup_hold: StartupHold | None = None,
        quota: int = DEFAULT_SG_RULES_QUOTA,
        warnings: BindingWarnings | None = None,
        metrics: SecurityGroupRuleMetrics | None = None,
    ) -> None:
        self._ownership = ownership
        self._quota = quota
        self._report = BudgetReport(ownership, warnings, metrics)
        self._startup_hold = startup_hold
        self._rules = rules
        self._clock = clock
        self._recheck_after = recheck_after
        self._authorized_here: dict[str, set[Rule]] = {}
        # sg -> source SGs found missing by the last pass (re-read before the next one).
        self._missing_sources: dict[str, frozenset[str]] = {}
        # sg -> (packed rules without the quota, authorize_only, when): the last pass that fully succeeded.
        self._converged: dict[str, tuple[frozenset[EndpointRule], bool, float]] = {}

    async def reconcile(self, key: str) -> Result:
        # Only queued passes wait: a direct ``reconcile_sg`` (a DependencyViolation on a deletion)
        # must not be delayed by bindings that are still publishing.
        wait = self._startup_hold.wait_seconds() if self._startup_hold is not None else None
        if wait is not None:
            return Result(requeue_after=wait)
        try:
            outcome = await self.reconcile_sg(key)
        except RulesQuotaExceededError as over:
            # Only before every binding has published: labelled rules that may not be revoked yet
            # still use the quota. Nothing was sent; retried with backoff (one log line each) until
            # revoking is allowed and the fitted rules go through.
            mark_reported(over)
            raise
        if outcome.missing_sources:
            error = SkippedMissingSourceRulesError(key, outcome.missing_sources)
            # A known cause, named to the user by the bindings' FailedNetworkReconcile warnings:
            # each retry is one log line, not a traceback.
            mark_reported(error)
            raise error
        return Result()

    def forget_converged(self) -> None:
        """Make the next pass of every SG read AWS again (periodic drift repair, resync)."""
        self._converged.clear()

    async def reconcile_sg(self, sg_id: str) -> EndpointSGOutcome:
        """Converge ``sg_id``; raises ``AwsApiError`` for anything but a vanished SG or a missing source.

        Rules from missing source SGs are left out and named in ``missing_sources``.
        """
        # Snapshot before awaiting: a publish during the pass re-queues the key (the queue marks it
        # dirty while processing), so the next pass sees it.
        authorize_only = not self._ownership.revoke_allowed
        if sg_id not in self._ownership.tracked_sgs:
            return EndpointSGOutcome(RuleChanges(), authorize_only)
        needs = self._ownership.contributions(sg_id)
        mine = self._authorized_here.setdefault(sg_id, set())
        # The packing without the quota: what the quota makes of it depends on nothing else (but the
        # rules we do not own, re-read at every recheck), so an unchanged one needs no pass.
        packed = self._packing(needs, mine, authorize_only)
        converged = self._converged.get(sg_id)
        now = self._clock.now()
        if (
            converged is not None
            and converged[:2] == (packed, authorize_only)
            and now - converged[2] < self._recheck_after
        ):
            # A publish changed who needs what but not the packed rules (e.g. a new NodePort that an
            # existing range already covers): AWS was converged to exactly this moments ago.
            return EndpointSGOutcome(RuleChanges(), authorize_only, skipped=True)
        self._converged.pop(sg_id, None)
        try:
            try:
                existing = (await self._rules.reader.get(sg_id)).ingress
            except SecurityGroupNotFoundError:
                raise _EndpointGroupGone(sg_id) from None
            contributions = needs
            revocable: frozenset[Rule] | None = None
            if authorize_only:
                # Held rules someone else revoked are gone: they are not put back.
                mine.intersection_update(existing)
                contributions = needs | _held(mine)
                revocable = frozenset(mine)
            fitted = fit_rules(
                contributions,
                existing,
                quota=self._quota,
                max_ranges=self._ownership.max_ranges,
                merge=self._ownership.merge_port_ranges,
            )
            desired = to_labelled_rules(fitted.desired)
            missing = await self._still_missing(sg_id, desired)
            changes, missing = await self._apply_without_missing(sg_id, desired, revocable, missing)
        except _EndpointGroupGone:
            _log.info("endpoint security group %s no longer exists; untracking it", sg_id)
            self._ownership.untrack(sg_id)
            self._authorized_here.pop(sg_id, None)
            self._missing_sources.pop(sg_id, None)
            self._report.forget(sg_id)
            return EndpointSGOutcome(RuleChanges(), authorize_only, untracked=True)
        mine.update(changes.authorized)
        mine.difference_update(changes.revoked)
        self._report.after_pass(sg_id, fitted, existing, changes)
        if missing:
            # Not converged: the next pass (a retry with backoff) must look at AWS again.
            self._missing_sources[sg_id] = missing
            return EndpointSGOutcome(changes, authorize_only, missing_sources=missing, fitted=fitted)
        self._missing_sources.pop(sg_id, None)
        # Keyed by what the next pass will compute before reading AWS (the held rules changed here).
        self._converged[sg_id] = (self._packing(needs, mine, authorize_only), authorize_only, now)
        return EndpointSGOutcome(changes, authorize_only, fitted=fitted)

    def _packing(
        self, needs: frozenset[EndpointRule], mine: set[Rule], authorize_only: bool
    ) -> frozenset[EndpointRule]:
        return self._ownership.pack(needs | _held(mine) if authorize_only else needs)

    async def _still_missing(self, sg_id: str, desired: list[Rule]) -> frozenset[str]:
        """The source SGs the last pass found missing that are still needed and still missing.

        Only those are re-read (fresh): a source nobody needs any more must not keep the retries going.
        """
        needed = {_source_group(rule) for rule in desired}
        remembered = frozenset(self._missing_sources.get(sg_id, frozenset()) & needed)
        if not remembered:
            return remembered
        found = await self._rules.reader.get_many(sorted(remembered), fresh=True)
        return remembered - found.keys()

    async def _apply_without_missing(
        self,
        sg_id: str,
        desired: list[Rule],
        authorized_here: frozenset[Rule] | None,
        missing: frozenset[str],
    ) -> tuple[RuleChanges, frozenset[str]]:
        """Reconcile ``desired`` minus the rules from missing sources; find newly missing ones.

        ``authorized_here`` is None once revoking is allowed; before that, the rules this process
        authorized on ``sg_id`` (only those the usable rules cover may go).
        """
        while True:
            usable = [rule for rule in desired if _source_group(rule) not in missing]
            selector: OwnershipSelector = (
                OWN_TGB_SHARED_RULES
                if authorized_here is None
                else _ReplacedHere(authorized_here=authorized_here, desired=tuple(usable))
            )
            try:
                return await self._rules.reconcile(sg_id, usable, selector=selector), missing
            except AwsApiError as error:
                if error.code != INVALID_GROUP_NOT_FOUND:
                    raise
                newly = await self._missing_groups(sg_id, usable)
                if not newly:
                    raise  # AWS said not found, a fresh read disagrees: retry the key with backoff
                _log.info("source security groups of rules on %s do not exist: %s", sg_id, sorted(newly))
                missing |= newly

    async def _missing_groups(self, sg_id: str, rules: list[Rule]) -> frozenset[str]:
        """Which of ``sg_id`` and the source SGs of ``rules`` do not exist (one fresh read).

        AWS names only the first missing group in its error, so we read all of them instead.
        Raises ``_EndpointGroupGone`` when ``sg_id`` itself is missing.
        """
        sources = {gid for gid in map(_source_group, rules) if gid is not None and gid != sg_id}
        found = await self._rules.reader.get_many([sg_id, *sorted(sources)], fresh=True)
        if sg_id not in found:
            raise _EndpointGroupGone(sg_id)
        return frozenset(sources - found.keys())
