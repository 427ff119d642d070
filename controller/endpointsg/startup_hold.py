"""Hold the first passes of the endpoint SGs until the bindings have published (design.md Difference 2).

At start-up every TargetGroupBinding with ``spec.networking`` publishes its contributions one by
one, and each publish that changes a packed range re-queues the SGs it touches. Reconciling in
between converges each SG many times over: every new NodePort re-packs the ranges, which is one
more Authorize and, for the range it replaces, one more Revoke. Holding the passes until every
binding the informer cache expects has published turns that into one pass per SG.

At a cold start the bindings do not exist yet: the Ingress and Service controllers create them,
one stack at a time, over the whole initial pass. So the hold also waits for the registered
*upstream* work (``add_upstream``: the stack controllers) to have started and to have nothing
queued or running; only then is the set of bindings complete. Without that, each binding created
during the initial pass re-packs the ranges: at 22 load balancers that was 56 Authorize and 22
Revoke calls on 3 node SGs where 3 Authorize do.

The hold is bounded: a binding that cannot publish (its networking spec is invalid, say) must not
keep every SG waiting, so ``timeout`` seconds after the upstream work last had keys queued or
running (or after the first pass was due, without upstream work) the passes run with whatever has
been published. The stacks' first pass itself is not cut short: each of its reconciles ends (AWS
and API calls have timeouts, a failure is requeued with a delay, which no longer counts as
pending), and a cold start of a thousand stacks against a slow AWS took minutes between the
first stacks and the last. So the first load balancers' targets wait that long for their node
rules; the price of one pass per SG instead of one per binding. Once released (all published or
timed out) the hold never applies again, so later changes and deletions are reconciled at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from framework.clock import REAL_CLOCK, Clock
from framework.controller import Controller

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartupHoldSettings:
    timeout: float = 10.0
    """Longest hold, in seconds from the first pass that was due; 0 disables the hold."""
    poll_interval: float = 1.0
    """How often a held SG looks again. Only a safety net: the publish that completes the set
    enqueues every tracked SG (``RuleOwnership``), which releases them at once."""

    def __post_init__(self) -> None:
        if self.timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {self.timeout}")
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0, got {self.poll_interval}")


DEFAULT_STARTUP_HOLD = StartupHoldSettings()


class PublishProgress(Protocol):
    """What the hold needs to know of the rule ownership."""

    @property
    def all_expected_published(self) -> bool:
        """Every binding with networking in the informer cache has published since start-up."""
        ...


class UpstreamWork(Protocol):
    """Work that creates bindings (a stack controller): done once started and with nothing left."""

    @property
    def started(self) -> bool: ...

    @property
    def pending(self) -> int:
        """Keys queued or being reconciled now (not those waiting for a requeue delay)."""
        ...


class ControllerWork:
    """A controller as ``UpstreamWork``: started once its handlers have the initial lists, pending
    while keys are queued or reconciling."""

    def __init__(self, controller: Controller[Any]) -> None:
        self._controller = controller

    @property
    def started(self) -> bool:
        return self._controller.has_synced

    @property
    def pending(self) -> int:
        queue = self._controller.queue
        return len(queue) + queue.processing_count


class StartupHold:
    """Decides whether an endpoint SG pass may run now or must wait for the bindings to publish.

    The clock starts at the first pass that is due rather than at the leader's start: the two are
    moments apart (the leader's first controllers are the endpoint-SG controller and then the
    bindings, whose cache replay is what enqueues SGs), and a standby, which reconciles nothing,
    never starts it.
    """

    def __init__(
        self,
        progress: PublishProgress,
        *,
        clock: Clock = REAL_CLOCK,
        settings: StartupHoldSettings = DEFAULT_STARTUP_HOLD,
    ) -> None:
        self._progress = progress
        self._clock = clock
        self._settings = settings
        self._deadline: float | None = None
        self._released = settings.timeout == 0
        self._upstreams: list[UpstreamWork] = []

    def add_upstream(self, work: UpstreamWork) -> None:
        """Also hold until ``work`` has started and drained (registered before leadership)."""
        self._upstreams.append(work)

    @property
    def released(self) -> bool:
        return self._released

    def wait_seconds(self) -> float | None:
        """None: the pass may run now. Otherwise: look again after that many seconds."""
        if self._released:
            return None
        now = self._clock.now()
        state = tuple((work.started, work.pending) for work in self._upstreams)
        upstream_done = all(started and not pending for started, pending in state)
        if self._deadline is None or not upstream_done:
            # The first pass due starts the clock; upstream work still to do restarts it.
            self._deadline = max(self._deadline or now, now + self._settings.timeout)
        remaining = self._deadline - now
        if upstream_done and self._progress.all_expected_published:
            _log.info("Every binding has published; endpoint security group passes start")
            self._released = True
            return None
        if remaining <= 0:
            _log.warning(
                "Not every binding published within %.0fs (of start-up, or of the stacks' first pass); "
                "endpoint security group passes start with what has been published",
                self._settings.timeout,
            )
            self._released = True
            return None
        return min(self._settings.poll_interval, remaining)
