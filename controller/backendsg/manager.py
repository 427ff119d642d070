"""The shared backend SG: lazy single-flight creation, users from cluster state, deletion with backoff.

Differences from upstream (upstream-behaviour §3), each deliberate:

* Users survive restarts (design.md Difference 1). The controller calls ``resync_users`` once the
  informers have synced, with the objects carrying our finalizers whose model needs the backend
  SG. Until then nothing is deleted; after it, "no user" means no user, whether or not this process
  ever called ``get`` (upstream needs an in-memory id, so after a restart the SG could leak:
  scenario 34).
* The SG to delete is found by its tags, not only from memory.
* A ``DependencyViolation`` on delete (an LB ENI or a node-SG rule still refers to the SG) is not
  waited out in a worker (design.md Difference 6): ``reconcile_deletion`` returns how long to wait, and
  the caller requeues. The wait doubles from 2 s up to a cap.
* With ``--enable-backend-security-group=false`` an auto-created SG left from earlier is deleted
  once nothing uses it (upstream leaks it, #4526). Nothing can use it while disabled.

A custom ``--backend-security-group`` is returned as given and never created, tagged or deleted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from controller.aws.api import AwsApi
from controller.aws.errors import AwsApiError
from controller.backendsg.settings import BackendSGSettings
from controller.naming import BACKEND_SG_DESCRIPTION, backend_sg_name, backend_sg_tags
from controller.networking.errors import DEPENDENCY_VIOLATION
from controller.networking.sg_manager import SecurityGroupManager
from controller.networking.sg_reader import SecurityGroupReader
from controller.networking.tags import reconcile_security_group_tags
from framework.workqueue.ratelimiters import ItemExponentialFailureRateLimiter

_log = logging.getLogger(__name__)
_DELETE_RETRY_KEY = "backend-sg-delete"


class BackendSGDisabledError(Exception):
    """A model asked for the backend SG while ``--enable-backend-security-group=false``."""


@dataclass(frozen=True)
class DeletionOutcome:
    """What ``reconcile_deletion`` did. ``requeue_after`` set: call again after that many seconds."""

    deleted: tuple[str, ...] = ()
    requeue_after: float | None = None
    reason: str = ""


class BackendSGManager:
    """One per process. All state changes happen under one lock, so get and delete never interleave."""

    def __init__(
        self,
        settings: BackendSGSettings,
        api: AwsApi,
        *,
        sg_manager: SecurityGroupManager,
        reader: SecurityGroupReader,
    ) -> None:
        self._settings = settings
        self._api = api
        self._sg_manager = sg_manager
        self._reader = reader
        self._lock = asyncio.Lock()
        self._group_id: str | None = None
        self._users: set[str] = set()
        self._synced = False
        self._delete_backoff = ItemExponentialFailureRateLimiter(
            settings.delete_retry_base_seconds, settings.delete_retry_max_seconds
        )

    @property
    def users(self) -> frozenset[str]:
        return frozenset(self._users)

    @property
    def cached_group_id(self) -> str | None:
        return self._settings.custom_group_id or self._group_id

    async def get(self, users: Iterable[str]) -> str:
        """The backend SG id for an LB whose model needs it; registers ``users`` (``service/ns/name``).

        Creates the SG on first use; concurrent first callers share one creation.
        """
        if self._settings.is_custom:
            return self._settings.custom_group_id
        if not self._settings.enabled:
            raise BackendSGDisabledError(
                "backend security group is disabled (--enable-backend-security-group)"
            )
        async with self._lock:
            self._users.update(users)
            if self._group_id is None:
                self._group_id = await self._find_or_create()
            return self._group_id

    def release(self, users: Iterable[str]) -> bool:
        """These objects no longer need the SG (deleted, or their model changed).

        Returns True when no user is left: the caller should run ``reconcile_deletion`` (enqueue it).
        """
        self._users.difference_update(users)
        return not self._users

    async def resync_users(self, users: set[str]) -> DeletionOutcome:
        """Replace the users with those computed from the synced informer cache; delete if none."""
        self._users = set(users)
        self._synced = True
        return await self.reconcile_deletion()

    async def reconcile_deletion(self) -> DeletionOutcome:
        """Every auto-created backend SG is deleted if nobody needs one; never sleeps.

        Callers must only release users after their load balancers stopped referring to the SG;
        AWS enforces the rest (a rule or ENI still referring to it → ``DependencyViolation``).
        """
        if self._settings.is_custom:
            return DeletionOutcome(reason="custom backend security group is never deleted")
        if not self._synced:
            return DeletionOutcome(reason="users not yet computed from cluster state")
        async with self._lock:
            if self._users:
                return DeletionOutcome(reason=f"still used by {len(self._users)} object(s)")
            found = await self._sg_manager.find_by_tags(
                vpc_id=self._settings.vpc_id, tags=backend_sg_tags(self._settings.cluster_name)
            )
            group_ids = sorted({g.group_id for g in found} | ({self._group_id} if self._group_id else set()))
            deleted: list[str] = []
            for group_id in group_ids:
                try:
                    await self._sg_manager.delete(group_id)
                except AwsApiError as error:
                    if error.code != DEPENDENCY_VIOLATION:
                        raise
                    delay = self._delete_backoff.when(_DELETE_RETRY_KEY)
                    _log.info(
                        "backend security group %s still in use (%s); retrying in %.0fs",
                        group_id,
                        error,
                        delay,
                    )
                    return DeletionOutcome(
                        tuple(deleted), delay, f"{group_id}: {error.message or error.code}"
                    )
                deleted.append(group_id)
                if group_id == self._group_id:
                    self._group_id = None
            self._delete_backoff.forget(_DELETE_RETRY_KEY)
            if deleted:
                _log.info("deleted backend security group(s) %s", ", ".join(deleted))
            return DeletionOutcome(tuple(deleted))

    async def _find_or_create(self) -> str:
        cluster = self._settings.cluster_name
        tracking = backend_sg_tags(cluster)
        # Default tags first (sorted by key), then the tracking tags, as upstream orders them.
        desired_tags = {**dict(sorted(self._settings.default_tags.items())), **tracking}
        found = await self._sg_manager.find_first_by_tags(vpc_id=self._settings.vpc_id, tags=tracking)
        if found is not None:
            # Upstream resets every non-aws: tag of a discovered backend SG (upstream-behaviour §3.3).
            await reconcile_security_group_tags(
                self._api, self._reader, found.group_id, desired_tags, current=found.tags
            )
            return found.group_id
        group_id = await self._sg_manager.create(
            name=backend_sg_name(cluster),
            description=BACKEND_SG_DESCRIPTION,
            vpc_id=self._settings.vpc_id,
            tags=desired_tags,
        )
        _log.info("created backend security group %s", group_id)
        return group_id
