"""Pytest fixtures for an AWS that behaves like AWS.

Register with ``pytest_plugins = ["controller.sandbox.pytest_plugin"]``. Fixtures:

* ``moto_server`` (session): one moto subprocess for the whole run.
* ``fresh_moto`` (function): the same server, wiped (``/moto-api/reset``) before the test.
* ``aws_proxy`` (function, async): an ``AwsProxy`` in front of the wiped moto, in the test's loop.
* ``aws_registry`` (function): the Prometheus registry ``aws_api`` records into.
* ``aws_api`` (function, async): an ``AwsClient`` pointed at the proxy, with millisecond backoff
  and no client-side throttling, so error-path tests are fast.
* ``sandbox_vpc`` (function, async): a seeded VPC with two ELB-tagged subnets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from controller.aws.client import AwsClient, open_aws_client
from controller.sandbox.client_settings import sandbox_settings
from controller.sandbox.moto_server import MotoServer
from controller.sandbox.proxy import AwsProxy
from controller.sandbox.seed import SANDBOX_REGION, SandboxVpc, seed_vpc


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        server.warm_up(SANDBOX_REGION)
        yield server


@pytest.fixture
def fresh_moto(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    return moto_server


@pytest_asyncio.fixture
async def aws_proxy(fresh_moto: MotoServer) -> AsyncIterator[AwsProxy]:
    async with AwsProxy(fresh_moto.url) as proxy:
        yield proxy


@pytest.fixture
def aws_registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest_asyncio.fixture
async def aws_api(aws_proxy: AwsProxy, aws_registry: CollectorRegistry) -> AsyncIterator[AwsClient]:
    async with open_aws_client(sandbox_settings(aws_proxy.url), aws_registry) as client:
        yield client


@pytest_asyncio.fixture
async def sandbox_vpc(aws_api: AwsClient) -> SandboxVpc:
    return await seed_vpc(aws_api)
