"""Fixtures for the TargetGroupBinding controller tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from tgb_harness import Harness, build_harness, install_crd

from controller.aws.api import AwsApi
from controller.sandbox.seed import SandboxVpc
from framework.kube import KubeClient
from framework.testing.apiserver import StandInApiServer


@pytest_asyncio.fixture
async def kube(standin_server: StandInApiServer) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_configuration(standin_server.client_configuration()) as client:
        await install_crd(client)
        yield client


@pytest_asyncio.fixture
async def harness(kube: KubeClient, aws_api: AwsApi, sandbox_vpc: SandboxVpc) -> AsyncIterator[Harness]:
    built = build_harness(kube, aws_api, sandbox_vpc)
    try:
        yield built
    finally:
        await built.stop()
