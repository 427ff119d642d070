"""Fixtures for framework tests that run against the session's real kube-apiserver.

The server is shared by the whole session, so each test gets a fresh namespace (and, for Leases,
a name of its own). Tests that need a stand-in-only hook (injected faults, stalled or dropped
watches, compaction, the request log) keep using ``standin_server``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from controller_rbac import CONTROLLER_NAMESPACE, LEADER_LEASE, controller_kubeconfig
from real_kube import RealKube, RestrictedKube

from framework.kube import LEASES, NAMESPACES, KubeApiError, KubeClient
from framework.testing.controlplane import RealControlPlane


@pytest_asyncio.fixture
async def real_kube(real_control_plane: RealControlPlane) -> AsyncIterator[RealKube]:
    namespace = f"fw-{uuid.uuid4().hex[:8]}"
    async with KubeClient.from_configuration(real_control_plane.client_configuration()) as admin:
        await admin.create(NAMESPACES, {"metadata": {"name": namespace}}, request_timeout=10)
        yield RealKube(admin, namespace, real_control_plane)
        # No namespace controller: the namespace stays Terminating, its objects stay too (harmless,
        # nothing else looks in it).
        with contextlib.suppress(KubeApiError):
            await admin.request("DELETE", NAMESPACES.object_path(namespace), request_timeout=10)


@pytest.fixture(scope="session")
def controller_service_account_kubeconfig(real_control_plane: RealControlPlane) -> Path:
    """config/rbac applied once; a token kubeconfig for ``kube-system/aws-load-balancer-controller``."""
    return controller_kubeconfig(real_control_plane)


@pytest_asyncio.fixture
async def restricted_kube(
    real_kube: RealKube, controller_service_account_kubeconfig: Path
) -> AsyncIterator[RestrictedKube]:
    # The one Lease the role allows is shared by the session (the end-to-end controllers use it
    # too): start from no Lease so the test sees a first acquisition.
    with contextlib.suppress(KubeApiError):
        await real_kube.admin.request(
            "DELETE", LEASES.object_path(LEADER_LEASE, CONTROLLER_NAMESPACE), request_timeout=10
        )
    configuration = real_kube.control_plane.client_configuration(controller_service_account_kubeconfig)
    async with KubeClient.from_configuration(configuration) as client:
        yield RestrictedKube(client, LEADER_LEASE, CONTROLLER_NAMESPACE)
