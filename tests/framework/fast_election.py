"""Helpers shared by the leader-election and manager tests: short leases and a polling wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from framework.leaderelection import LeaderElectionSettings


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def fast_election(
    identity: str, *, lease: str, namespace: str, release: bool = False
) -> LeaderElectionSettings:
    """A 2 s lease renewed within 1.5 s, retried every 0.3 s: hand-overs in test time."""
    return LeaderElectionSettings(
        lease,
        namespace,
        identity=identity,
        lease_duration=2.0,
        renew_deadline=1.5,
        retry_period=0.3,
        release_on_cancel=release,
    )
