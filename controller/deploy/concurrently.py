"""``concurrently()``: a ``TaskGroup`` for the independent steps of one deploy that fails as one
step would.

``asyncio.TaskGroup`` cancels the other steps when one fails (what we want: no step goes on
writing for a deploy that already failed) but raises an ``ExceptionGroup``, which the deployer's
callers do not expect: they look at the error itself (``UnexpectedResourceError``, an
``AwsApiError``'s code, ``SubnetResolutionError``). So the first failure is raised alone, as the
sequential code raised it; the errors of steps that failed at the same moment are only logged.
A cancellation of the deploy itself still comes out as ``CancelledError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_log = logging.getLogger(__name__)


@asynccontextmanager
async def concurrently() -> AsyncIterator[asyncio.TaskGroup]:
    """``async with concurrently() as group: group.create_task(...)``; see the module."""
    first: BaseException | None = None
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        first, *others = failed.exceptions
        for other in others:
            _log.debug("a concurrent step failed too: %r", other)
    if first is not None:
        # Raised outside the ``except`` so its own cause and context stay as they were.
        raise first
