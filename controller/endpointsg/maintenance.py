"""The endpoint-SG maintenance loop: a leader-only task that keeps the tracked SGs checked."""

from __future__ import annotations

import logging

from controller.aws.errors import AwsApiError
from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.naming import cluster_tag_key
from controller.networking.sg_reader import SecurityGroupReader
from framework.clock import REAL_CLOCK, Clock
from framework.leader_task import LeaderTask

logger = logging.getLogger(__name__)

CLUSTER_TAG_VALUES = ("owned", "shared")


class EndpointSGMaintenance(LeaderTask):
    """While leading: find the endpoint SGs to look after, then re-check them every sync period.

    First it tracks every cluster-tagged SG in the VPC so stale rules of ours get revoked (GC,
    upstream-behaviour §4.8), retrying with backoff (AWS may be throttling right after a failover). Then,
    every ``--sync-period``, it forgets which SGs were converged, re-reads all tracked ones from AWS
    and enqueues them, so a rule someone deleted by hand is restored within one period, as
    upstream's resync does. The re-read goes around the reader's cache (a cached copy taken before
    the hand edit would show the rule still there) and is batched by id: one
    DescribeSecurityGroups per 200 SGs, whose answers the enqueued passes then read from the cache.
    Neither step blocks the controllers, which run meanwhile.
    """

    name = "endpointSecurityGroupMaintenance"

    def __init__(
        self,
        ownership: RuleOwnership,
        reconciler: EndpointSGReconciler,
        *,
        reader: SecurityGroupReader,
        vpc_id: str,
        cluster_name: str,
        sync_period: float,
        clock: Clock = REAL_CLOCK,
        retry_cap: float = 60.0,
    ) -> None:
        super().__init__()
        self._ownership = ownership
        self._reconciler = reconciler
        self._reader = reader
        self._vpc_id = vpc_id
        self._cluster_name = cluster_name
        self._sync_period = sync_period
        self._clock = clock
        self._retry_cap = retry_cap
        self._seeded = False

    def start(self) -> None:
        self._spawn(self._run())

    async def seed_from_aws(self) -> frozenset[str]:
        """Track and enqueue every SG in the VPC tagged ``kubernetes.io/cluster/<c>`` = owned|shared
        (once per process)."""
        if self._seeded:
            return frozenset()
        # Through the reader: the SGs found are cached, so their first reconciles read nothing more.
        groups = await self._reader.find_tagged(
            self._vpc_id, cluster_tag_key(self._cluster_name), CLUSTER_TAG_VALUES
        )
        self._seeded = True
        # Enqueue all of them, not only the new ones: each must be checked for stale rules once.
        return self._ownership.recheck(groups)

    async def _run(self) -> None:
        await self._seed()
        while True:
            await self._clock.sleep(self._sync_period)
            await self.recheck_all()

    async def recheck_all(self) -> None:
        """Re-read every tracked SG from AWS and enqueue it for a full pass."""
        self._reconciler.forget_converged()
        tracked = self._ownership.tracked_sgs
        logger.info("Periodic re-check of %d endpoint security groups", len(tracked))
        for group_id in tracked:
            # Also keeps any read still on the wire from refilling the cache with older rules.
            self._reader.invalidate(group_id)
        try:
            await self._reader.get_many(sorted(tracked))
        except AwsApiError as error:
            # Nothing stale is left in the cache: each pass reads its SG itself.
            logger.warning("Re-reading the endpoint security groups failed: %s", error)
        self._ownership.recheck(tracked)

    async def _seed(self) -> None:
        delay = 1.0
        while True:
            try:
                seeded = await self.seed_from_aws()
            except AwsApiError as error:
                logger.warning(
                    "Tracking cluster-tagged security groups failed, retrying in %.0fs: %s", delay, error
                )
                await self._clock.sleep(delay)
                delay = min(delay * 2, self._retry_cap)
                continue
            logger.info("Tracking %d cluster-tagged endpoint security groups", len(seeded))
            return
