"""Where bindings publish their contributions: record them in the ``RuleOwnership``, enqueue SGs.

It adds to the pure ownership bookkeeping what needs the outside world: the per-SG work queue (every
call enqueues exactly the SG ids whose desired state changed) and the AWS read that finds the
cluster-tagged SGs to look after. The TGB reconciler calls ``publish``/``withdraw`` (through its
``ContributionPublisher``); the TGB controller calls ``set_expected_tgbs`` with the
TGBs that have networking (from the informer cache) after sync and on every TGB change, and
``seed_from_aws`` once after start-up so cluster-tagged SGs nobody needs any more are cleaned (GC,
upstream-behaviour §4.8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from controller.endpointsg.model import EndpointRule
from controller.endpointsg.ownership import RuleOwnership
from controller.naming import cluster_tag_key
from controller.networking.sg_reader import SecurityGroupReader

CLUSTER_TAG_VALUES = ("owned", "shared")


class ContributionRegistry:
    """The contributions of every binding, each change enqueued on the ``endpointSecurityGroup`` queue."""

    def __init__(
        self,
        ownership: RuleOwnership,
        enqueue: Callable[[str], None],
        *,
        reader: SecurityGroupReader,
        vpc_id: str,
        cluster_name: str,
    ) -> None:
        self._ownership = ownership
        self._enqueue = enqueue
        self._reader = reader
        self._vpc_id = vpc_id
        self._cluster_name = cluster_name
        self._seeded = False

    @property
    def ownership(self) -> RuleOwnership:
        return self._ownership

    def publish(
        self, tgb_key: str, contributions_by_sg: Mapping[str, Iterable[EndpointRule]]
    ) -> frozenset[str]:
        return self._enqueue_all(self._ownership.publish(tgb_key, contributions_by_sg))

    def withdraw(self, tgb_key: str) -> frozenset[str]:
        return self._enqueue_all(self._ownership.withdraw(tgb_key))

    def set_expected_tgbs(self, keys: Iterable[str]) -> frozenset[str]:
        return self._enqueue_all(self._ownership.set_expected_tgbs(keys))

    def recheck(self, sg_ids: Iterable[str]) -> frozenset[str]:
        """Track ``sg_ids`` and reconcile them now (say, a security group we are deleting is still
        the source of rules on them); rules no binding needs are revoked once revoking is allowed."""
        ids = frozenset(sg_ids)
        self._ownership.track(ids)
        return self._enqueue_all(ids)

    async def seed_from_aws(self) -> frozenset[str]:
        """Track every SG in the VPC tagged ``kubernetes.io/cluster/<c>`` = owned|shared (once)."""
        if self._seeded:
            return frozenset()
        # Through the reader: the SGs found are cached, so their first reconciles read nothing more.
        groups = await self._reader.find_tagged(
            self._vpc_id, cluster_tag_key(self._cluster_name), CLUSTER_TAG_VALUES
        )
        self._seeded = True
        self._ownership.track(groups)
        # Enqueue all of them, not only the new ones: each must be checked for stale rules once.
        return self._enqueue_all(frozenset(groups))

    def _enqueue_all(self, sg_ids: frozenset[str]) -> frozenset[str]:
        for sg in sorted(sg_ids):
            self._enqueue(sg)
        return sg_ids
