"""Hold the first passes of the endpoint SGs until the bindings have published (design.md Difference 2).

At start-up every TargetGroupBinding with ``spec.networking`` publishes its contributions one by
one, and each publish that changes a packed range re-queues the SGs it touches. Reconciling in
between converges each SG many times over: every new NodePort re-packs the ranges, which is one
more Authorize and, for the range it replaces, one more Revoke. Holding the passes until every
binding the informer cache expects has published turns that into one pass per SG.

The hold is bounded: a binding that cannot publish (its networking spec is invalid, say) must not
keep every SG waiting, so after ``timeout`` seconds the passes run with whatever has been
published. Once released (all published or timed out) the hold never applies again, so later
changes and deletions are reconciled at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from framework.clock import REAL_CLOCK, Clock

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

    @property
    def released(self) -> bool:
        return self._released

    def wait_seconds(self) -> float | None:
        """None: the pass may run now. Otherwise: look again after that many seconds."""
        if self._released:
            return None
        now = self._clock.now()
        if self._deadline is None:
            self._deadline = now + self._settings.timeout
        remaining = self._deadline - now
        if self._progress.all_expected_published:
            _log.info("Every binding has published; endpoint security group passes start")
            self._released = True
            return None
        if remaining <= 0:
            _log.warning(
                "Not every binding published within %.0fs of start-up; endpoint security group passes "
                "start with what has been published",
                self._settings.timeout,
            )
            self._released = True
            return None
        return min(self._settings.poll_interval, remaining)
