"""Rate-limited work queues with client-go semantics, on asyncio.

Layers, each a small class adding one capability (as client-go's Interface -> DelayingInterface
-> RateLimitingInterface):

* ``WorkQueue``: dedup while queued, one worker per key at a time, re-add during processing runs
  exactly once more after ``done``; ``shutdown`` / ``shutdown_with_drain``.
* ``DelayingQueue``: ``add_after(key, delay)``, earliest ready time wins, on the injected clock.
* ``RateLimitingQueue``: ``add_rate_limited`` / ``forget`` / ``num_requeues`` over a ``RateLimiter``.

Typical worker::

    key = await queue.get()
    try:
        ...reconcile key...
        queue.forget(key)           # on success
    except Exception:
        queue.add_rate_limited(key) # on failure
    finally:
        queue.done(key)
"""

from framework.workqueue.delaying import DelayingQueue
from framework.workqueue.metrics import QueueMetrics, WorkqueueCollector
from framework.workqueue.queue import QueueShutDown, WorkQueue
from framework.workqueue.ratelimiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from framework.workqueue.ratelimiting import RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "DelayingQueue",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "QueueMetrics",
    "QueueShutDown",
    "RateLimiter",
    "RateLimitingQueue",
    "WorkQueue",
    "WorkqueueCollector",
    "default_controller_rate_limiter",
]
