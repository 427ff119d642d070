"""A leader-only runnable that is one background task: started on leadership, cancelled on loss.

The manager starts it with ``start()`` (synchronous, so a subclass can read the synced caches
before any controller worker runs) and cancels it with ``stop()``; nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class LeaderTask:
    name = "leaderTask"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(work, name=self.name)

    async def stop(self, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109 - LeaderRunnable
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
