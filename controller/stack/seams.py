"""The seams the Ingress-group and Service reconcilers call, so tests and the app can plug in the
real deployer, backend-SG manager and informer stores (or stand-ins)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from controller.deploy.result import DeletionResult, DeployResult
from controller.model.stack import StackModel
from controller.naming import StackTags
from framework.kube import KubeObject


class StackDeployerLike(Protocol):
    """``controller.deploy.StackDeployer``."""

    async def deploy(self, model: StackModel, *, backend_sg_id: str | None) -> DeployResult: ...

    async def load_balancer_names(self, stack: StackTags) -> tuple[str, ...]: ...

    async def delete_load_balancers(self, stack: StackTags) -> tuple[str, ...]: ...

    async def delete_stack(self, stack: StackTags) -> DeletionResult: ...


class BackendSGUsers(Protocol):
    """``controller.backendsg.BackendSGManager``: users are ``ingress/ns/name`` / ``service/ns/name``."""

    async def get(self, users: Iterable[str]) -> str: ...

    def release(self, users: Iterable[str]) -> bool:
        """True when no user is left (the caller then triggers the backend SG's deletion check)."""
        ...


class ObjectCache(Protocol):
    """Read access to an informer store (``framework.informer.Store``)."""

    def get(self, key: str) -> KubeObject | None: ...

    def list(self) -> list[KubeObject]: ...


class TargetGroupBindingCache(Protocol):
    """The TargetGroupBinding informer's cache, by stack (``controller.stack.binding_cache``)."""

    @property
    def has_synced(self) -> bool: ...

    @property
    def resource_version(self) -> str:
        """The resourceVersion the cache is current to: it shows every change up to it."""
        ...

    def of_stack(self, stack: StackTags) -> list[KubeObject]:
        """The cached TGBs carrying ``stack``'s tracking labels (every namespace the cache watches),
        by namespace and name."""
        ...
