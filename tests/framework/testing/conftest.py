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
    await core.delete_namespace(name)
