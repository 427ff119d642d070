"""What the framework tests' real-server fixtures (tests/framework/conftest.py) yield.

Importable as ``real_kube`` because ``tests/`` is on ``sys.path`` (its conftest has no package).
"""

from __future__ import annotations

from dataclasses import dataclass

from framework.kube import LEASES, KubeApiError, KubeClient, KubeObject
from framework.testing.controlplane import RealControlPlane


@dataclass(frozen=True)
class RealKube:
    """The admin's client on the real server and a namespace that belongs to this test alone."""

    admin: KubeClient
    namespace: str
    control_plane: RealControlPlane

    async def lease(self, name: str, namespace: str | None = None) -> KubeObject | None:
        """The Lease as the server has it (None when absent), read as the admin."""
        try:
            return await self.admin.get(LEASES, name, namespace or self.namespace, request_timeout=5)
        except KubeApiError as error:
            if error.is_not_found:
                return None
            raise


@dataclass(frozen=True)
class RestrictedKube:
    """A client acting as the controller's ServiceAccount, which config/rbac allows only its own
    Lease (``LEADER_LEASE`` in ``CONTROLLER_NAMESPACE``), reading pods and the like."""

    client: KubeClient
    lease_name: str
    lease_namespace: str
