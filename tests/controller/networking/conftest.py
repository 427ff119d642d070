"""Fixtures for SG engine tests: a reader on a virtual clock over the sandbox's ``aws_api``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from controller.aws.api import AwsApi
from controller.networking.sg_reader import SecurityGroupReader
from framework.clock import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture
async def sg_reader(aws_api: AwsApi, fake_clock: FakeClock) -> AsyncIterator[SecurityGroupReader]:
    reader = SecurityGroupReader(aws_api, clock=fake_clock)
    yield reader
    await reader.aclose()
