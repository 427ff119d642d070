"""Run backend SG deletion on the framework's work queue: one key, requeued while AWS says "in use"."""

from __future__ import annotations

from typing import Final

from controller.backendsg.manager import BackendSGManager
from framework.controller import Result

BACKEND_SG_KEY: Final = "backend-sg"
"""The only key: enqueue it after ``resync_users`` and whenever ``release`` reports no users left."""


class BackendSGReconciler:
    def __init__(self, manager: BackendSGManager) -> None:
        self._manager = manager

    async def reconcile(self, key: str) -> Result:
        outcome = await self._manager.reconcile_deletion()
        return Result(requeue_after=outcome.requeue_after)
