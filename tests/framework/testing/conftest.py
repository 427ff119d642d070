"""Fixtures shared by the API server tests: a kubernetes_asyncio client and a fresh namespace.
Helpers the tests call directly (unique names, raw requests) are in ``apiserver_test_helpers``.

Conformance tests use `apiserver` (which may be a shared real kube-apiserver), so every test
works in its own uniquely named namespace and gives cluster-scoped objects unique names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from apiserver_test_helpers import unique_name
from kubernetes_asyncio import client

from framework.testing.handle import ApiServerHandle


@pytest_asyncio.fixture
async def kube_client(apiserver: ApiServerHandle) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(apiserver.client_configuration()) as api_client:
        yield api_client


@pytest_asyncio.fixture
async def namespace(kube_client: client.ApiClient) -> AsyncIterator[str]:
    name = unique_name("t")
    core = client.CoreV1Api(kube_client)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    await _delete_what_a_controller_would_see(kube_client, name)
    await core.delete_namespace(name)


async def _delete_what_a_controller_would_see(kube_client: client.ApiClient, namespace: str) -> None:
    """The real kube-apiserver of the suite runs no namespace controller, so a deleted namespace
    keeps its objects for the rest of the session, where the controller processes of the
    end-to-end tests (which may share that server) would see them: an `alb` Ingress left here
    would count as a backend SG user there. Delete the kinds the controller watches first."""
    core = client.CoreV1Api(kube_client)
    networking = client.NetworkingV1Api(kube_client)
    kinds = (
        (networking.list_namespaced_ingress, networking.delete_namespaced_ingress),
        (core.list_namespaced_service, core.delete_namespaced_service),
        (core.list_namespaced_pod, core.delete_namespaced_pod),
    )
    for list_objects, delete_object in kinds:
        for item in (await list_objects(namespace)).items:
            if item.metadata.finalizers:
                continue  # a conformance test's own finalizer: deleting would only mark it
            try:
                await delete_object(item.metadata.name, namespace, grace_period_seconds=0)
            except client.ApiException as error:
                if error.status != 404:
                    raise
