"""Fixtures for the endpoint SG tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from endpoint_stack import EndpointStack, build_stack

from controller.aws.api import AwsApi
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SandboxVpc


@pytest_asyncio.fixture
async def stack(
    aws_api: AwsApi, aws_proxy: AwsProxy, sandbox_vpc: SandboxVpc
) -> AsyncIterator[EndpointStack]:
    built = build_stack(aws_api, aws_proxy, sandbox_vpc)
    yield built
    await built.reader.aclose()
