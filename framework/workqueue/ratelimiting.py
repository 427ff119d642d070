"""A delaying queue that asks a ``RateLimiter`` for retry delays (client-go ``rate_limiting_queue.go``).

``add_rate_limited`` is ``add_after(key, limiter.when(key))``. The caller decides when a key's
failure history ends: ``forget`` on success or when giving up. Forgetting is what keeps the
limiter's per-key state from growing; the controller does it for every outcome but a plain error.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from framework.clock import Clock
from framework.workqueue.delaying import DelayingQueue
from framework.workqueue.metrics import QueueMetrics
from framework.workqueue.ratelimiters import RateLimiter, default_controller_rate_limiter

__all__ = ["RateLimitingQueue"]

K = TypeVar("K", bound=Hashable)


class RateLimitingQueue(DelayingQueue[K]):
    """``DelayingQueue`` plus per-key retry backoff.

    ``rate_limiter`` defaults to ``default_controller_rate_limiter`` on the same clock.
    """

    def __init__(
        self,
        rate_limiter: RateLimiter | None = None,
        *,
        clock: Clock | None = None,
        metrics: QueueMetrics | None = None,
    ) -> None:
        super().__init__(clock=clock, metrics=metrics)
        self._rate_limiter = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self._clock)
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._rate_limiter

    def add_rate_limited(self, item: K) -> None:
        """Add ``item`` after the delay its failure history calls for (and record one more failure)."""
        if self._shutting_down:
            return  # don't grow the limiter's history for a key that will never run again
        self.add_after(item, self._rate_limiter.when(item))

    def forget(self, item: K) -> None:
        """Clear ``item``'s failure history; it does not remove the key from the queue."""
        self._rate_limiter.forget(item)

    def num_requeues(self, item: K) -> int:
        return self._rate_limiter.num_requeues(item)
