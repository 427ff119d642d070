"""A leader task is one background task: spawned by ``start``, cancelled and awaited by ``stop``."""

from __future__ import annotations

import asyncio

from framework.leader_task import LeaderTask
from framework.manager import LeaderRunnable


class Waiter(LeaderTask):
    name = "waiter"

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.cancelled = False

    def start(self) -> None:
        self._spawn(self._run())

    async def _run(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_stop_cancels_the_task_and_waits_for_it() -> None:
    task: LeaderRunnable = Waiter()
    assert isinstance(task, Waiter)
    task.start()
    await asyncio.wait_for(task.started.wait(), timeout=5)
    await task.stop()
    assert task.cancelled
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "waiter"]
    await task.stop()  # stopping twice (or before start) is a no-op
