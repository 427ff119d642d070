"""Test-wide fixtures: every test must leave no asyncio task behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

pytest_plugins = [
    "controller.sandbox.pytest_plugin",
    "framework.testing.controlplane_plugin",
    "framework.testing.pytest_plugin",
]


@pytest_asyncio.fixture(autouse=True)
async def _no_leaked_asyncio_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves asyncio tasks running on its loop.

    Autouse fixtures from the root conftest are set up first and torn down last, so by the time
    this check runs every other fixture (servers, clients) has already been stopped.
    """
    before = asyncio.all_tasks()
    yield
    # Let tasks that were cancelled during teardown process their cancellation.
    for _ in range(5):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(f"test left {len(leaked)} asyncio task(s) running: {leaked!r}")
