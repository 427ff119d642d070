"""A controller: N worker tasks draining a rate-limited work queue into a ``Reconciler``.

The reconciler protocol is controller-runtime's, with asyncio in place of goroutines:

* ``await reconciler.reconcile(key) -> Result``. Reconciles are level-based: the key says *what*
  to look at, never *what happened*; the reconciler reads current state and converges.
* Outcome handling (``reconcileHandler`` upstream):

  ====================================  ==========================================  ===============
  outcome                               queue action                                result label
  ====================================  ==========================================  ===============
  raises ``TerminalError``              ``forget`` (give up, no retry)              ``error``
  raises anything else / times out      ``add_rate_limited`` (exponential backoff)  ``error``
  ``Result(requeue_after=d)``           ``forget``, then ``add_after(key, d)``      ``requeue_after``
  ``Result()``                          ``forget``                                  ``success``
  ====================================  ==========================================  ===============

  ``requeue`` (upstream's deprecated ``Result.Requeue``) has no equivalent here; its series is
  still pre-initialised to 0 so upstream dashboards find every label value. Both error kinds count in ``controller_runtime_reconcile_errors_total``; terminal ones also in
  ``controller_runtime_terminal_reconcile_errors_total`` and timeouts in
  ``controller_runtime_reconcile_timeouts_total``. Upstream keeps a terminal key's backoff
  history; we forget it so a key that is given up on leaves no state behind.
* An exception never kills a worker: it is logged and the worker moves on. Unexpected errors are
  logged with their traceback. Errors the user has already been told about (the reconciler posted
  a Warning event naming the object and the cause, then called :func:`mark_reported`) and
  ``TerminalError`` (bad input by definition) are one log line each: a stack trace says nothing
  more about a wrong annotation, and one per retry would bury the real problems.
* Per-key exclusivity comes from the queue (a key is never handed to two workers at once);
  concurrency across keys is bounded by ``max_concurrent_reconciles`` worker tasks.

Lifecycle: ``start()`` attaches the watches and spawns the workers; ``await stop(timeout)`` detaches
the watches, shuts the queue down, lets in-flight reconciles finish within the budget, then cancels
whatever is left. Keys still queued at stop are not reconciled (the next leader or process start
relists and reconciles everything).

Watches (``watch(informer, handler)``, controller-runtime's ``Watch``) feed the queue only while the
controller runs. A standby replica never starts its controllers, so its informers keep their caches
warm while its queues stay empty (no work piles up where nobody will do it, and queue-depth alerts
stay quiet); when it starts leading, each informer replays its cache to the new handler, so every
cached object is enqueued once, as on a fresh start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from prometheus_client import CollectorRegistry

from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.informer import EventHandler, HandlerRegistration, SharedInformer
from framework.metrics import ControllerMetrics, framework_metrics
from framework.workqueue import QueueShutDown, RateLimiter, RateLimitingQueue

__all__ = [
    "Controller",
    "Reconciler",
    "Result",
    "TerminalError",
    "WorkerSettings",
    "is_reported",
    "mark_reported",
]

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


@dataclass(frozen=True)
class Result:
    """What a successful reconcile asks for next.

    ``requeue_after``: reconcile this key again after that many seconds (0 means as soon as
    possible), with the backoff history reset. ``None``: done until something changes.
    """

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"requeue_after must be >= 0, got {self.requeue_after}")


class TerminalError(Exception):
    """A failure that retrying cannot fix (bad user input, say): counted and logged as one line,
    not requeued."""


_REPORTED = "_reported_to_user"


def mark_reported(error: BaseException) -> None:
    """Record that ``error`` has been reported to the user already (for example as a Warning event
    naming the object and the cause), so the controller logs it as one line without a traceback.
    Mark only errors whose cause is known; an unexpected one (a bug) must keep its traceback."""
    setattr(error, _REPORTED, True)


def is_reported(error: BaseException) -> bool:
    return getattr(error, _REPORTED, False) is True


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


class Reconciler(Protocol[K_contra]):
    """Converges the world for one key."""

    async def reconcile(self, key: K_contra) -> Result:
        """Read the current state for ``key`` and act on it; raise to have it retried."""


@dataclass(frozen=True)
class WorkerSettings:
    """How one ``Controller`` runs its reconciles: how many workers, how long each may take.

    Named for what it configures, so that it is not taken for the product's ``ControllerSettings``
    (the whole process's flags); every default is controller-runtime's unless noted.
    """

    max_concurrent_reconciles: int = 1
    """Worker tasks, i.e. how many different keys may be reconciled at the same time."""

    reconcile_timeout: float | None = None
    """Seconds before a single reconcile is cancelled and treated as an error; None = no limit."""

    def __post_init__(self) -> None:
        if self.max_concurrent_reconciles < 1:
            raise ValueError(f"max_concurrent_reconciles must be >= 1, got {self.max_concurrent_reconciles}")
        if self.reconcile_timeout is not None and self.reconcile_timeout <= 0:
            raise ValueError(f"reconcile_timeout must be > 0, got {self.reconcile_timeout}")


@dataclass(frozen=True)
class _Watch:
    informer: SharedInformer
    handler: EventHandler
    name: str | None
    resync_period: float | None


class Controller(Generic[K]):
    """Runs ``reconciler`` for keys added to ``queue``; see the module docstring for the protocol.

    Event handlers feed it with ``controller.queue.add(key)``. The queue's metrics carry the
    controller's ``name``, which must be unique per registry among live controllers.
    """

    def __init__(
        self,
        name: str,
        reconciler: Reconciler[K],
        *,
        workers: WorkerSettings | None = None,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if not name:
            raise ValueError("a controller needs a name (it labels its metrics and logs)")
        self._name = name
        self._reconciler = reconciler
        self._worker_settings = workers if workers is not None else WorkerSettings()
        self._clock = clock if clock is not None else REAL_CLOCK
        metrics = framework_metrics(registry)
        self._metrics: ControllerMetrics = metrics.for_controller(name)
        self._queue: RateLimitingQueue[K] = RateLimitingQueue(
            rate_limiter, clock=self._clock, metrics=metrics.queue_metrics(name)
        )
        self._workers: list[asyncio.Task[None]] = []
        self._watches: list[_Watch] = []
        self._attached: list[tuple[SharedInformer, HandlerRegistration]] = []
        self._started = False
        self._stopping = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def queue(self) -> RateLimitingQueue[K]:
        return self._queue

    @property
    def worker_settings(self) -> WorkerSettings:
        return self._worker_settings

    @property
    def running(self) -> bool:
        return self._started and not self._stopping

    @property
    def has_synced(self) -> bool:
        """Running, and every watched informer has handed its initial list to this controller's
        handler, so the keys that list implies are queued (client-go's ``HasSynced`` of each
        handler registration)."""
        return self.running and all(registration.has_synced for _, registration in self._attached)

    def watch(
        self,
        informer: SharedInformer,
        handler: EventHandler,
        *,
        name: str | None = None,
        resync_period: float | None = None,
    ) -> None:
        """Feed this controller from ``informer`` through ``handler`` while it runs (see the module
        docstring): attached by ``start``, detached by ``stop``."""
        if self._started or self._stopping:
            raise RuntimeError(f"controller {self._name!r}: add watches before start()")
        self._watches.append(_Watch(informer, handler, name, resync_period))

    def start(self) -> None:
        """Attach the watches and spawn the worker tasks. A controller runs once: it cannot be
        restarted after ``stop``."""
        if self._started or self._stopping:
            raise RuntimeError(f"controller {self._name!r} was already started or stopped")
        self._started = True
        for watch in self._watches:
            registration = watch.informer.add_handler(
                watch.handler, name=watch.name, resync_period=watch.resync_period
            )
            self._attached.append((watch.informer, registration))
        workers = self._worker_settings.max_concurrent_reconciles
        self._metrics.max_concurrent_reconciles.set(workers)
        self._workers = [
            asyncio.create_task(self._work(), name=f"controller-{self._name}-worker-{index}")
            for index in range(workers)
        ]
        logger.info("Starting workers: controller=%s worker_count=%d", self._name, workers)

    # The budget is measured on the injected clock, which asyncio.timeout cannot do: hence the parameter.
    async def stop(self, timeout: float | None = 30.0) -> None:  # noqa: ASYNC109
        """Stop taking keys, wait up to ``timeout`` seconds (None: forever) for in-flight
        reconciles, then cancel the rest. Returns once no worker task is left. Idempotent."""
        if self._stopping:
            # A concurrent or repeated stop: the first call owns the budget; just wait for it.
            if self._workers:
                await asyncio.wait(self._workers)
            return
        self._stopping = True
        await self._detach_watches()
        self._queue.shutdown()
        if not self._workers:
            return
        try:
            if timeout is not None and timeout <= 0:
                raise TimeoutError  # no grace at all (for example after losing leadership)
            async with timeout_after(self._clock, timeout):
                await self._queue.shutdown_with_drain()
                await asyncio.wait(self._workers)
        except TimeoutError:
            busy = self._queue.processing_count
            if busy:
                logger.warning(
                    "Graceful stop of controller %s exceeded %ss; cancelling %d in-flight reconcile(s)",
                    self._name,
                    timeout,
                    busy,
                )
        finally:
            await self._cancel_workers()
        logger.info("All workers finished: controller=%s", self._name)

    async def _detach_watches(self) -> None:
        attached, self._attached = self._attached, []
        for informer, registration in attached:
            await informer.remove_handler(registration)

    async def _cancel_workers(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        queue = self._queue
        active_workers = self._metrics.active_workers
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                if self._stopping:
                    continue  # stopping: drain without starting new work (``done`` in finally)
                active_workers.inc()
                try:
                    await self._reconcile(key)
                finally:
                    active_workers.dec()
            finally:
                queue.done(key)

    async def _reconcile(self, key: K) -> None:
        metrics = self._metrics
        started = self._clock.now()
        deadline = timeout_after(self._clock, self._worker_settings.reconcile_timeout)
        try:
            async with deadline:
                result = await self._reconciler.reconcile(key)
            if not isinstance(result, Result):
                raise TypeError(f"reconcile() returned {result!r}, expected a Result")
        except TerminalError as error:
            metrics.terminal_reconcile_errors.inc()
            metrics.reconcile_errors.inc()
            metrics.reconcile_total["error"].inc()
            self._queue.forget(key)
            logger.error(
                "Terminal reconciler error, not retrying: controller=%s key=%r error=%s",
                self._name,
                key,
                _one_line(error),
            )
        except Exception as error:
            metrics.reconcile_errors.inc()
            metrics.reconcile_total["error"].inc()
            if deadline.expired and isinstance(error, TimeoutError):
                metrics.reconcile_timeouts.inc()
            retries = self._queue.num_requeues(key)
            self._queue.add_rate_limited(key)
            if is_reported(error):
                logger.error(
                    "Reconciler error: controller=%s key=%r retries=%d error=%s",
                    self._name,
                    key,
                    retries,
                    _one_line(error),
                )
            else:
                logger.exception(
                    "Reconciler error: controller=%s key=%r retries=%d", self._name, key, retries
                )
        else:
            if result.requeue_after is not None:
                self._queue.forget(key)
                self._queue.add_after(key, result.requeue_after)
                metrics.reconcile_total["requeue_after"].inc()
            else:
                self._queue.forget(key)
                metrics.reconcile_total["success"].inc()
        metrics.reconcile_time.observe(max(self._clock.now() - started, 0.0))

    def __repr__(self) -> str:
        return (
            f"Controller(name={self._name!r}, workers={len(self._workers)}, "
            f"running={self.running}, queue={self._queue!r})"
        )
