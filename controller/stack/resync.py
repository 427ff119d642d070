"""Periodic resync of the Ingress-group and Service stacks: upstream's ``--sync-period``.

controller-runtime re-delivers every cached object to its controllers once per SyncPeriod, so
every stack is reconciled again and whatever drifted in AWS (a listener deleted by hand, a rule
revoked by hand on a managed SG) is repaired. ``StackResync`` does the same while leading: every
``sync_period`` it first lets the caches that could hide drift refresh themselves, then replays
every cached Ingress and Service to its controller's handler as ``on_update(obj, obj)`` (what an
informer resync delivers), which enqueues each Ingress group and Service key once.

Pacing: the keys are enqueued together and the work queue does the rest. It de-duplicates keys,
runs at most ``max_concurrent_reconciles`` of them at a time, and every AWS call passes its
operation's token bucket (``controller.aws.throttle``), so a resync of a large fleet is spread
out by the same limits as a cold start instead of bursting past AWS's read buckets.

The reconciles read AWS afresh: they describe the stack's ELBv2 resources, and the tag query that
finds the managed SG (never answered from a cache) returns its rules as AWS holds them, so a
converged stack costs reads only (0 mutating calls).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from framework.clock import REAL_CLOCK, Clock
from framework.informer.handlers import EventHandler
from framework.informer.store import Store
from framework.leader_task import LeaderTask

logger = logging.getLogger(__name__)


class ResyncRefresher(Protocol):
    """A cache the stack reconciles read through that could hide drift (e.g. an index of our
    ELBv2 resources): refreshed from AWS before each periodic resync enqueues the stacks."""

    async def refresh(self) -> None: ...


@dataclass(frozen=True)
class ResyncSource:
    """The objects to re-deliver (an informer's store) and the handler their controller watches
    them with."""

    name: str
    store: Store
    handler: EventHandler


class StackResync(LeaderTask):
    """While leading: every ``sync_period``, refresh the registered caches, then re-deliver every
    cached object of every registered source to its handler (see the module docstring).

    Sources and refreshers are registered by the features during set-up, before leadership.
    """

    name = "stackResync"

    def __init__(self, *, sync_period: float, clock: Clock = REAL_CLOCK) -> None:
        super().__init__()
        self._sync_period = sync_period
        self._clock = clock
        self._sources: list[ResyncSource] = []
        self._refreshers: list[ResyncRefresher] = []

    def add_source(self, source: ResyncSource) -> None:
        self._sources.append(source)

    def add_refresher(self, refresher: ResyncRefresher) -> None:
        """Hook for caches of AWS state (the ELBv2 resource index registers here)."""
        self._refreshers.append(refresher)

    @property
    def sources(self) -> Sequence[ResyncSource]:
        return tuple(self._sources)

    @property
    def refreshers(self) -> Sequence[ResyncRefresher]:
        return tuple(self._refreshers)

    def start(self) -> None:
        self._spawn(self._run())

    async def _run(self) -> None:
        # The first period starts at leadership: the initial list has just enqueued everything.
        while True:
            await self._clock.sleep(self._sync_period)
            await self.resync_once()

    async def resync_once(self) -> None:
        """One resync: refresh the caches, then re-deliver every cached object."""
        for refresher in self._refreshers:
            try:
                await refresher.refresh()
            except Exception:
                # A failed refresh must not cancel the resync: the reconciles that follow still
                # describe what they need, and the next period refreshes again.
                logger.exception("Refreshing %r before the periodic resync failed", refresher)
        for source in self._sources:
            objects = source.store.list()
            logger.info("Periodic resync of %d %s", len(objects), source.name)
            for obj in objects:
                result = source.handler.on_update(obj, obj)
                if inspect.isawaitable(result):
                    await result
