"""Who needs which rule on which endpoint SG (design.md Difference 2), and which SGs to re-check.

Each TargetGroupBinding publishes, per endpoint SG, the rules it needs (its *contributions*). A
packed desired rule is owned by the TGBs whose contributions it covers. Revoking is allowed only
once every TGB that has networking (``set_expected_tgbs``) has published since start-up: before
that, a rule on AWS may belong to a TGB we have not heard from yet, so we only add.

With ``--disable-restricted-sg-rules`` (``merge_port_ranges=False``) nothing is packed: as upstream,
every distinct (protocol, ports, source) some TGB asks for is one rule, even where ranges overlap
(``0-65535`` and ``80`` from the same SG stay two rules).

Every mutator enqueues exactly the endpoint SG ids whose desired state (or revoke permission)
changed on the per-SG work queue (``enqueue``), which coalesces bursts, and returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from controller.endpointsg.model import EndpointRule
from controller.endpointsg.packing import pack_rules


class RuleOwnership:
    """In-memory contributions of every TGB, indexed by endpoint SG. Not thread-safe: one event loop."""

    def __init__(
        self,
        enqueue: Callable[[str], None],
        *,
        max_port_ranges_per_source: int,
        merge_port_ranges: bool = True,
    ) -> None:
        if max_port_ranges_per_source < 1:
            raise ValueError("max_port_ranges_per_source must be at least 1")
        self._enqueue = enqueue
        self._max_ranges = max_port_ranges_per_source
        self._merge = merge_port_ranges
        # tgb key -> sg id -> contributions; a key with an empty mapping has published "nothing".
        self._by_tgb: dict[str, dict[str, frozenset[EndpointRule]]] = {}
        # sg id -> tgb key -> contributions (non-empty only): the index desired_rules() reads.
        self._by_sg: dict[str, dict[str, frozenset[EndpointRule]]] = {}
        # None until the informer cache told us which TGBs have networking.
        self._expected: frozenset[str] | None = None
        self._tracked: set[str] = set()

    # ----------------------------------------------------------------------------- mutators

    def publish(
        self, tgb_key: str, contributions_by_sg: Mapping[str, Iterable[EndpointRule]]
    ) -> frozenset[str]:
        """Replace ``tgb_key``'s contributions; enqueues and returns the SG ids that changed."""
        return self._enqueue_all(self._replace(tgb_key, contributions_by_sg))

    def withdraw(self, tgb_key: str) -> frozenset[str]:
        """``tgb_key`` was deleted or lost its networking: it needs nothing (and has published)."""
        return self.publish(tgb_key, {})

    def set_expected_tgbs(self, keys: Iterable[str]) -> frozenset[str]:
        """The TGBs that have networking, from the informer cache; enqueues and returns the SG ids
        that changed.

        Contributions of TGBs no longer in the cache are dropped, as upstream does: the publishes
        and this list come from the same cache, so a TGB absent here is gone.
        """
        was_allowed = self.revoke_allowed
        expected = frozenset(keys)
        self._expected = expected
        changed: set[str] = set()
        for gone in [k for k in self._by_tgb if k not in expected]:
            changed |= self._replace(gone, {})
            del self._by_tgb[gone]
        return self._enqueue_all(self._with_newly_allowed(frozenset(changed), was_allowed))

    def recheck(self, sg_ids: Iterable[str]) -> frozenset[str]:
        """Track ``sg_ids`` and enqueue every one of them, already tracked or not: cluster-tagged SGs
        found in AWS (GC seed), SGs still naming a security group we are deleting, the periodic
        re-check. They are reconciled even when nobody needs them; rules no binding needs are
        revoked once revoking is allowed."""
        ids = frozenset(sg_ids)
        self.track(ids)
        return self._enqueue_all(ids)

    def _replace(
        self, tgb_key: str, contributions_by_sg: Mapping[str, Iterable[EndpointRule]]
    ) -> frozenset[str]:
        new = {sg: frozenset(rules) for sg, rules in contributions_by_sg.items()}
        new = {sg: rules for sg, rules in new.items() if rules}
        was_allowed = self.revoke_allowed
        old = self._by_tgb.get(tgb_key, {})
        changed = {sg for sg in old.keys() | new.keys() if old.get(sg) != new.get(sg)}
        for sg in changed:
            per_sg = self._by_sg.setdefault(sg, {})
            if sg in new:
                per_sg[tgb_key] = new[sg]
            else:
                per_sg.pop(tgb_key, None)
            if not per_sg:
                del self._by_sg[sg]
        self._by_tgb[tgb_key] = new
        self._tracked.update(new)
        return self._with_newly_allowed(frozenset(changed), was_allowed)

    def track(self, sg_ids: Iterable[str]) -> frozenset[str]:
        """Track SGs without enqueuing them; returns the ones that were new."""
        new = set(sg_ids) - self._tracked
        self._tracked |= new
        return frozenset(new)

    def untrack(self, sg_id: str) -> None:
        """The SG no longer exists in AWS: forget it and every contribution to it."""
        self._tracked.discard(sg_id)
        for tgb in self._by_sg.pop(sg_id, {}):
            self._by_tgb[tgb].pop(sg_id, None)

    # ----------------------------------------------------------------------------- queries

    @property
    def all_expected_published(self) -> bool:
        """Every TGB with networking has published since start-up."""
        return self._expected is not None and self._expected <= self._by_tgb.keys()

    @property
    def revoke_allowed(self) -> bool:
        """Revoking waits for every TGB with networking to have published since start-up."""
        return self.all_expected_published

    @property
    def unpublished_tgbs(self) -> frozenset[str]:
        if self._expected is None:
            return frozenset()
        return frozenset(self._expected - self._by_tgb.keys())

    @property
    def tracked_sgs(self) -> frozenset[str]:
        return frozenset(self._tracked)

    def contributions(self, sg_id: str) -> frozenset[EndpointRule]:
        """Union of all live contributions to ``sg_id``."""
        return frozenset().union(*self._by_sg.get(sg_id, {}).values())

    def contributions_by_tgb(self, sg_id: str) -> dict[str, frozenset[EndpointRule]]:
        """Binding key → its live contributions to ``sg_id`` (to tell bindings what did not fit)."""
        return dict(self._by_sg.get(sg_id, {}))

    @property
    def max_ranges(self) -> int:
        return self._max_ranges

    @property
    def merge_port_ranges(self) -> bool:
        return self._merge

    def desired_rules(self, sg_id: str) -> frozenset[EndpointRule]:
        """The packed union of all live contributions to ``sg_id`` (unpacked without merging)."""
        return self.pack(self.contributions(sg_id))

    def pack(self, rules: frozenset[EndpointRule]) -> frozenset[EndpointRule]:
        """``rules`` packed as this SG engine packs contributions (as they are without merging)."""
        if not self._merge:
            return rules
        return pack_rules(rules, self._max_ranges)

    def owners(self, sg_id: str, rule: EndpointRule) -> frozenset[str]:
        """TGBs with a contribution that ``rule`` covers (same protocol and source, ports inside)."""
        return frozenset(
            tgb
            for tgb, rules in self._by_sg.get(sg_id, {}).items()
            if any(
                c.protocol == rule.protocol and c.source == rule.source and rule.ports.covers(c.ports)
                for c in rules
            )
        )

    def _with_newly_allowed(self, changed: frozenset[str], was_allowed: bool) -> frozenset[str]:
        # The moment revoking becomes allowed, every tracked SG may hold rules to revoke.
        if self.revoke_allowed and not was_allowed:
            return changed | frozenset(self._tracked)
        return changed

    def _enqueue_all(self, sg_ids: frozenset[str]) -> frozenset[str]:
        for sg in sorted(sg_ids):
            self._enqueue(sg)
        return sg_ids
