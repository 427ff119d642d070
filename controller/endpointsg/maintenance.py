"""The endpoint-SG maintenance loop: a leader-only task that keeps the tracked SGs checked."""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller.aws.errors import AwsApiError
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.endpointsg.registry import ContributionRegistry
from framework.clock import REAL_CLOCK, Clock
from framework.leader_task import LeaderTask

logger = logging.getLogger(__name__)


class EndpointSGMaintenance(LeaderTask):
    """While leading: find the endpoint SGs to look after, then re-check them every sync period.

    First it tracks every cluster-tagged SG in the VPC so stale rules of ours get revoked (GC,
    upstream-behaviour §4.8), retrying with backoff (AWS may be throttling right after a failover). Then,
    every ``--sync-period``, it forgets which SGs were converged and enqueues all tracked ones, so
    a rule someone deleted by hand is restored within one period, as upstream's resync does.
    Neither step blocks the controllers, which run meanwhile.
    """

    name = "endpointSecurityGroupMaintenance"

    def __init__(
        self,
        contribution_registry: ContributionRegistry,
        reconciler: EndpointSGReconciler,
        enqueue: Callable[[str], None],
        *,
        sync_period: float,
        clock: Clock = REAL_CLOCK,
        retry_cap: float = 60.0,
    ) -> None:
        super().__init__()
        self._endpoint_rules = contribution_registry
        self._reconciler = reconciler
        self._enqueue = enqueue
        self._sync_period = sync_period
        self._clock = clock
        self._retry_cap = retry_cap

    def start(self) -> None:
        self._spawn(self._run())

    async def _run(self) -> None:
        await self._seed()
        while True:
            await self._clock.sleep(self._sync_period)
            self._reconciler.forget_converged()
            tracked = sorted(self._endpoint_rules.ownership.tracked_sgs)
            logger.info("Periodic re-check of %d endpoint security groups", len(tracked))
            for group_id in tracked:
                self._enqueue(group_id)

    async def _seed(self) -> None:
        delay = 1.0
        while True:
            try:
                seeded = await self._endpoint_rules.seed_from_aws()
            except AwsApiError as error:
                logger.warning(
                    "Tracking cluster-tagged security groups failed, retrying in %.0fs: %s", delay, error
                )
                await self._clock.sleep(delay)
                delay = min(delay * 2, self._retry_cap)
                continue
            logger.info("Tracking %d cluster-tagged endpoint security groups", len(seeded))
            return
