"""The deployer's DependencyViolation hook: rules on endpoint SGs that still name an SG being deleted."""

from __future__ import annotations

from controller.endpointsg.ownership import RuleOwnership
from controller.endpointsg.reconciler import EndpointSGReconciler
from controller.networking.sg_reader import SecurityGroupReader


class EndpointReferenceStripper:
    """The deployer's DependencyViolation hook: a managed SG we want to delete is still the source of
    rules on endpoint SGs. Track those SGs and reconcile them now; rules no binding needs any more
    (the LB's bindings are deleted before its SG) are revoked, and the deployer's requeue retries."""

    def __init__(
        self,
        reader: SecurityGroupReader,
        *,
        vpc_id: str,
        ownership: RuleOwnership,
        reconciler: EndpointSGReconciler,
    ) -> None:
        self._reader = reader
        self._vpc_id = vpc_id
        self._ownership = ownership
        self._reconciler = reconciler

    async def __call__(self, group_id: str) -> object:
        # Always asked of AWS (the reader's queries are fresh): which SGs name ``group_id`` right now
        # is exactly what the deletion is waiting on. The answers fill the reader's cache, so the
        # reconciles queued below start from what we just read.
        referencing = await self._reader.find_referencing(self._vpc_id, group_id)
        ids = sorted(referencing.keys() - {group_id})
        self._reconciler.forget_converged()
        self._ownership.recheck(ids)
        return ids
