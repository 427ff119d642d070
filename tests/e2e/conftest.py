"""Fixtures for end-to-end tests: the world around the controller process.

* ``kube_api``: the Kubernetes API the controller talks to (an ``ApiServerHandle``);
* ``kube``: a client for the test itself;
* ``cluster``: a seeded VPC with worker instances, their Nodes, our CRD and the ``alb`` class;
* ``start_controller``: runs ``python -m controller`` against all of it, as in a cluster.

Test modules import their helpers from ``e2e_harness`` by module name (pytest puts this directory
on ``sys.path``). Every test uses its own namespace, so tests stay independent on a shared server.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio
from e2e_harness import RunningController, controller_process

from controller.aws.client import AwsClient
from controller.sandbox.cluster import SandboxCluster, seed_cluster
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.kube import NAMESPACES, NODES, KubeApiError, KubeClient
from framework.testing.apiserver import StandInApiServer
from framework.testing.handle import ApiServerHandle

StartController = Callable[..., AbstractAsyncContextManager[RunningController]]


@pytest.fixture
def kube_api(standin_server: StandInApiServer) -> ApiServerHandle:
    return standin_server


@pytest_asyncio.fixture
async def kube(kube_api: ApiServerHandle) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(kube_api.client_configuration()) as client:
        yield client


@pytest_asyncio.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace for this test's objects."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    with contextlib.suppress(KubeApiError):
        await kube.request("DELETE", NAMESPACES.object_path(name))


@pytest_asyncio.fixture
async def cluster(
    aws_api: AwsClient, kube: KubeClient, sandbox_vpc: SandboxVpc
) -> AsyncIterator[SandboxCluster]:
    seeded = await seed_cluster(aws_api, kube, sandbox_vpc, node_count=2)
    yield seeded
    # Nodes are cluster-scoped and point at this test's (reset) moto instances: remove them.
    for node in seeded.nodes:
        with contextlib.suppress(KubeApiError):
            await kube.request("DELETE", NODES.object_path(node.name))


@pytest.fixture
def start_controller(
    kube_api: ApiServerHandle, aws_proxy: AwsProxy, cluster: SandboxCluster, tmp_path: Path
) -> StartController:
    """``async with start_controller("--flag=value") as running:`` (SIGTERM and a clean exit on leave)."""

    def start(
        *extra_flags: str, log_name: str = "controller"
    ) -> AbstractAsyncContextManager[RunningController]:
        log_dir = tmp_path / log_name
        log_dir.mkdir(exist_ok=True)
        return controller_process(
            kubeconfig=kube_api.kubeconfig_path,
            aws_endpoint=aws_proxy.url,
            cluster=cluster,
            log_dir=log_dir,
            extra_flags=extra_flags,
        )

    return start
