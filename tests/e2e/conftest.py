"""Fixtures for end-to-end tests: the world around the controller process.

* ``kube_api``: the Kubernetes API the controller talks to (an ``ApiServerHandle``): the session's
  real kube-apiserver, or a fresh stand-in per test with ``E2E_KUBE=standin``;
* ``kube``: a client for the test itself (the admin);
* ``cluster``: a seeded VPC with worker instances, their Nodes, our CRD and the ``alb`` class;
* ``start_controller``: runs ``python -m controller`` against all of it, as in a cluster: on the
  real server as the ServiceAccount ``kube-system/aws-load-balancer-controller`` with only the
  rights config/rbac grants it.

Test modules import their helpers by module name (pytest puts this directory on ``sys.path``):
``e2e_harness`` (the controller process and the ``StartController`` type of ``start_controller``, waiting for outcomes) and ``e2e_objects`` (manifests,
NodePort Services, AWS lookups, reading inbound rules); test modules never import each other. Every test uses its own namespace, so tests stay independent on a shared server.
The real server has no namespace controller, so the ``namespace`` fixture empties the namespace
itself (a later test's controller must not find this test's Ingresses, Services and bindings).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio
from controller_rbac import controller_kubeconfig
from e2e_harness import RunningController, StartController, controller_process

from controller.aws.client import AwsClient
from controller.gateway.resources import (
    GATEWAYS,
    GRPC_ROUTES,
    HTTP_ROUTES,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
    TCP_ROUTES,
    TLS_ROUTES,
    UDP_ROUTES,
)
from controller.sandbox.cluster import SandboxCluster, apply_gateway_crds, seed_cluster
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc
from framework.kube import (
    ENDPOINT_SLICES,
    INGRESSES,
    MERGE_PATCH_CONTENT_TYPE,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    KubeApiError,
    KubeClient,
    Resource,
)
from framework.testing.controlplane import RealControlPlane
from framework.testing.handle import ApiServerHandle

# "real" (default): the session's kube-apiserver; "standin": a fresh in-repo stand-in per test.
E2E_KUBE = os.environ.get("E2E_KUBE", "real")
GATEWAY_KINDS = (
    GATEWAYS,
    HTTP_ROUTES,
    GRPC_ROUTES,
    TCP_ROUTES,
    UDP_ROUTES,
    TLS_ROUTES,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
)
TARGET_GROUP_BINDINGS = Resource("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding")
# What the tests and the controller create in a test's namespace, emptied on teardown (Gateway API
# kinds first: their finalizers would otherwise keep TGBs coming back while the controller runs).
_NAMESPACED_KINDS = (
    *GATEWAY_KINDS,
    INGRESSES,
    TARGET_GROUP_BINDINGS,
    SERVICES,
    ENDPOINT_SLICES,
    PODS,
)


@pytest.fixture
def kube_api(request: pytest.FixtureRequest) -> ApiServerHandle:
    if E2E_KUBE not in ("real", "standin"):
        raise pytest.UsageError(f"E2E_KUBE must be 'real' or 'standin', not {E2E_KUBE!r}")
    handle: ApiServerHandle = request.getfixturevalue(
        "real_control_plane" if E2E_KUBE == "real" else "standin_server"
    )
    return handle


@pytest.fixture(scope="session")
def controller_service_account_kubeconfig(real_control_plane: RealControlPlane) -> Path:
    """config/rbac applied once per session; a token kubeconfig for the controller's ServiceAccount."""
    # Typed here: mypy run on tests/e2e alone sees controller_rbac (one level up) as untyped.
    kubeconfig: Path = controller_kubeconfig(real_control_plane)
    return kubeconfig


@pytest.fixture
def controller_identity(kube_api: ApiServerHandle, request: pytest.FixtureRequest) -> Path:
    """The kubeconfig the controller process runs with (the stand-in has no authorisation)."""
    if isinstance(kube_api, RealControlPlane):
        path: Path = request.getfixturevalue("controller_service_account_kubeconfig")
        return path
    return kube_api.kubeconfig_path


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
    await _empty_namespace(kube, name)
    with contextlib.suppress(KubeApiError):
        await kube.request("DELETE", NAMESPACES.object_path(name))


async def _empty_namespace(kube: KubeClient, namespace: str) -> None:
    """Do what the namespace controller would: delete everything in it, finalizers included (the
    controller that owned them has stopped), and pods at once (no kubelet confirms their end)."""
    for resource in _NAMESPACED_KINDS:
        try:
            listed = await kube.list(resource, namespace, request_timeout=10)
        except KubeApiError as error:
            if error.is_not_found and resource in GATEWAY_KINDS:
                continue  # the Gateway API CRDs are installed only by the tests that use them
            raise
        for item in listed.get("items", []):
            path = resource.object_path(item["metadata"]["name"], namespace)
            try:
                if item["metadata"].get("finalizers"):
                    await kube.request(
                        "PATCH",
                        path,
                        body={"metadata": {"finalizers": None}},
                        content_type=MERGE_PATCH_CONTENT_TYPE,
                        request_timeout=10,
                    )
                await kube.request("DELETE", path, query=[("gracePeriodSeconds", "0")], request_timeout=10)
            except KubeApiError as error:
                if not error.is_not_found:  # gone already is fine; anything else would leak
                    raise


@pytest_asyncio.fixture
async def gateway_crds(kube: KubeClient) -> None:
    """The Gateway API CRDs (``make gateway-api-crds``) and ours (config/crd/gateway) installed and
    Established, before the controller starts: it enables its Gateway controllers only when they are
    served. Idempotent (the session's server keeps them, as a cluster would)."""
    try:
        await apply_gateway_crds(kube)
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)


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
    controller_identity: Path, aws_proxy: AwsProxy, cluster: SandboxCluster, tmp_path: Path
) -> StartController:
    """``async with start_controller("--flag=value") as running:`` (SIGTERM and a clean exit on leave)."""

    def start(
        *extra_flags: str, log_name: str = "controller"
    ) -> AbstractAsyncContextManager[RunningController]:
        log_dir = tmp_path / log_name
        log_dir.mkdir(exist_ok=True)
        return controller_process(
            kubeconfig=controller_identity,
            aws_endpoint=aws_proxy.url,
            cluster=cluster,
            log_dir=log_dir,
            extra_flags=extra_flags,
        )

    return start
