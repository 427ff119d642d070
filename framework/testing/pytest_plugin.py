"""Pytest fixtures for the Kubernetes API stand-in (registered from tests/conftest.py).

`standin_server` is always the stand-in (for tests that need its fault hooks or compaction);
`apiserver` is the handle conformance tests use, so they can also run against a real
kube-apiserver."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from framework.testing.apiserver import StandInApiServer, StandInSettings
from framework.testing.handle import ApiServerHandle

# Tests want bookmarks within a fraction of a second, not a minute.
TEST_BOOKMARK_INTERVAL_SECONDS = 0.2


@pytest_asyncio.fixture
async def standin_server() -> AsyncIterator[StandInApiServer]:
    """A running stand-in API server on a free 127.0.0.1 port, fresh for each test."""
    async with StandInApiServer(
        StandInSettings(bookmark_interval_seconds=TEST_BOOKMARK_INTERVAL_SECONDS)
    ) as server:
        yield server


@pytest.fixture(params=["standin", "real"])
def apiserver(request: pytest.FixtureRequest) -> ApiServerHandle:
    """The API server conformance tests run against: each test runs on the stand-in (fresh per
    test) and on a real kube-apiserver (shared by the session; `framework.testing.controlplane_plugin`),
    so every difference between the two is a failing test."""
    fixture = "standin_server" if request.param == "standin" else "real_control_plane"
    handle: ApiServerHandle = request.getfixturevalue(fixture)
    return handle
