"""Once per leadership: the backend SG's users are recomputed from the cluster.

Every Ingress and Service carrying one of our finalizers counts as a user, so an unused backend SG is
deleted even after a restart (upstream cannot: design.md Difference 1). The features that use the
backend SG each register a ``BackendSGUserSource`` over their informer cache; this package knows
nothing of Ingresses or Services.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from controller.aws.errors import AwsApiError
from controller.backendsg.manager import BackendSGManager
from controller.backendsg.reconciler import BACKEND_SG_KEY
from framework.controller import Controller
from framework.leader_task import LeaderTask

logger = logging.getLogger(__name__)

BackendSGUserSource = Callable[[], Iterable[str]]
"""The backend SG users one feature sees in its synced informer cache (say, ``ingress/ns/name``).

A superset of the true users is safe: each object's next reconcile releases what it does not need,
and the SG is deleted only when the set is empty. A subset is not (upstream-behaviour §3.4).
"""


class BackendSGUsersResync(LeaderTask):
    """On leadership: hand the backend SG manager its users from the synced caches.

    ``start`` computes the set synchronously and the task's first step installs it, so no Ingress
    or Service worker (started after this runnable) can register a user that the resync then drops.
    """

    name = "backendSecurityGroupUsers"

    def __init__(self, manager: BackendSGManager, backend_sg_controller: Controller[str]) -> None:
        super().__init__()
        self._manager = manager
        self._controller = backend_sg_controller
        self._sources: list[BackendSGUserSource] = []

    def add_source(self, source: BackendSGUserSource) -> None:
        """Count ``source``'s users too; call while wiring, before leadership starts."""
        self._sources.append(source)

    def start(self) -> None:
        users = {user for source in self._sources for user in source()}
        self._spawn(self._resync(users))

    async def _resync(self, users: set[str]) -> None:
        logger.info("Backend security group users from the cluster: %d", len(users))
        try:
            outcome = await self._manager.resync_users(users)
        except AwsApiError as error:
            logger.warning("Backend security group deletion check failed, retrying: %s", error)
            self._controller.queue.add_rate_limited(BACKEND_SG_KEY)
            return
        if outcome.requeue_after is not None:
            self._controller.queue.add_after(BACKEND_SG_KEY, outcome.requeue_after)
