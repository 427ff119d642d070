"""The manager: runs informers, leader election, controllers and the observability server together.

Start-up order (controller-runtime's ``cm.Start``):

1. the metrics/probe HTTP server, *before* caches sync and on every replica, so probes answer
   and metrics are scraped while the process syncs or waits as a standby;
2. the informers, then wait until all of them have synced (``cache_sync_timeout``; a timeout
   fails :meth:`Manager.run` with :class:`CacheSyncTimeout`);
3. leader election (when configured); controllers start only on ``started leading``, or right
   away without leader election.

Health: ``/healthz`` has ``ping`` plus the leader-election adaptor (fails only when this process
believes it leads but has not renewed its lease long past expiry); ``/readyz`` has
``informer-sync`` (fails until every informer has synced).

Shutdown (SIGTERM/SIGINT, or :meth:`Manager.request_shutdown`) within ``graceful_shutdown_timeout``
(default 30 s) in a fixed order: controllers drain their in-flight reconciles → informers stop →
the lease is released (if ``release_on_cancel``) → HTTP servers stop. Losing the lease is not a
shutdown: controllers are cancelled at once (no drain: another replica may already be acting),
everything else is stopped and :meth:`Manager.run` raises :class:`LeaderElectionLost`; the process
is expected to exit and be restarted, as with controller-runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from framework import startup_gc
from framework.clock import REAL_CLOCK, Clock, timeout_after
from framework.health import HealthCheck, HealthChecks, ping
from framework.httpserver import BindAddress, ObservabilityServer
from framework.informer.factory import InformerFactory
from framework.informer.reflector import DEFAULT_REFLECTOR_SETTINGS, ReflectorSettings
from framework.informer.transform import Transform, strip_managed_fields
from framework.kube import KubeClient
from framework.leaderelection import LeaderElectionSettings, LeaderElector
from framework.metrics import framework_metrics

logger = logging.getLogger(__name__)


class LeaderElectionLost(RuntimeError):
    """This process stopped being the leader; it must not reconcile any more (exit and restart)."""


class CacheSyncTimeout(RuntimeError):
    """Informers did not sync within ``cache_sync_timeout``."""


class LeaderRunnable(Protocol):
    """What runs only on the leader: :class:`framework.controller.Controller` fits."""

    @property
    def name(self) -> str: ...

    def start(self) -> None: ...

    async def stop(self, timeout: float | None = ...) -> None: ...  # noqa: ASYNC109 - Controller.stop


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    metrics_address: BindAddress | None = field(default_factory=lambda: BindAddress(None, 8080))
    """``--metrics-bind-addr`` (upstream default ``:8080``); None disables."""
    probe_address: BindAddress | None = field(default_factory=lambda: BindAddress(None, 61779))
    """``--health-probe-bind-addr`` (upstream default ``:61779``); None disables."""
    graceful_shutdown_timeout: float = 30.0
    """Budget for the whole ordered shutdown."""
    cache_sync_timeout: float = 120.0
    leader_election: LeaderElectionSettings | None = None
    """None runs controllers without leader election (one replica only)."""
    leader_election_health_tolerance: float = 20.0

    def __post_init__(self) -> None:
        if self.graceful_shutdown_timeout < 0 or self.cache_sync_timeout <= 0:
            raise ValueError(f"invalid manager settings {self!r}")


class Manager:
    """Owns the shared informers and runs everything; see the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        settings: ManagerSettings = ManagerSettings(),
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock = REAL_CLOCK,
        informer_settings: ReflectorSettings = DEFAULT_REFLECTOR_SETTINGS,
        transform: Transform | None = strip_managed_fields,
        namespace: str | None = None,
        rng: random.Random | None = None,
    ):
        self._client = client
        self.settings = settings
        self._registry = registry
        self._clock = clock
        self.informers = InformerFactory(
            client, namespace=namespace, settings=informer_settings, transform=transform, clock=clock, rng=rng
        )
        self.healthz = HealthChecks("healthz", clock=clock)
        self.readyz = HealthChecks("readyz", clock=clock)
        self.healthz.add("ping", ping)
        self.readyz.add("informer-sync", self._check_informers_synced)
        self._runnables: list[LeaderRunnable] = []
        self._started_runnables: list[LeaderRunnable] = []
        self._server = ObservabilityServer(
            metrics_address=settings.metrics_address,
            probe_address=settings.probe_address,
            healthz=self.healthz,
            readyz=self.readyz,
            registry=registry,
        )
        self._elector: LeaderElector | None = None
        if settings.leader_election is not None:
            metrics = framework_metrics(registry)
            self._elector = LeaderElector(
                client,
                settings.leader_election,
                on_started_leading=self._start_runnables,
                on_stopped_leading=self._on_stopped_leading,
                report_status=lambda name, leading: metrics.leader_status(name).set(1 if leading else 0),
                clock=clock,
                rng=rng,
            )
            self.healthz.add("leaderElection", self._check_leader_election)
        self._shutdown_requested = asyncio.Event()
        self._leadership_lost = asyncio.Event()
        self._stopping = False
        self._running = False

    # --- configuration ---------------------------------------------------------------------------

    def add_controller(self, runnable: LeaderRunnable) -> None:
        """Run ``runnable`` while leading (or always without leader election)."""
        if self._running:
            raise RuntimeError("add controllers before run()")
        self._runnables.append(runnable)

    def add_healthz_check(self, name: str, check: HealthCheck) -> None:
        self.healthz.add(name, check)

    def add_readyz_check(self, name: str, check: HealthCheck) -> None:
        self.readyz.add(name, check)

    # --- what controllers are built with ------------------------------------------------------

    @property
    def client(self) -> KubeClient:
        """The API client the informers list and watch with; controllers write through it too."""
        return self._client

    @property
    def registry(self) -> CollectorRegistry | None:
        """Where the manager's and its controllers' metrics go (None: the process default)."""
        return self._registry

    # --- state -----------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True while controllers may run (always True once started without leader election)."""
        return bool(self._started_runnables)

    @property
    def elector(self) -> LeaderElector | None:
        return self._elector

    @property
    def metrics_port(self) -> int | None:
        """The bound metrics port; None while not serving (or disabled)."""
        try:
            return self._server.metrics_port
        except RuntimeError:
            return None

    @property
    def probe_port(self) -> int | None:
        """The bound probe port; None while not serving (or disabled)."""
        try:
            return self._server.probe_port
        except RuntimeError:
            return None

    def request_shutdown(self) -> None:
        """Begin the graceful shutdown (what SIGTERM/SIGINT do)."""
        self._shutdown_requested.set()

    # --- run -------------------------------------------------------------------------------------

    async def run(self, *, handle_signals: bool = True) -> None:
        """Run until shutdown is requested (returns) or leadership is lost (raises)."""
        if self._running:
            raise RuntimeError("manager is already running")
        self._running = True
        remove_signal_handlers = self._install_signal_handlers() if handle_signals else (lambda: None)
        elector_task: asyncio.Task[None] | None = None
        try:
            await self._server.start()
            startup_gc.end_pause()  # wired: what exists now lives as long as the process
            self.informers.start()
            if await self._wait_for_sync_or_shutdown():
                if self._elector is None:
                    self._start_runnables()
                else:
                    elector_task = asyncio.create_task(self._elector.run(), name="leader-election")
                await self._wait_until_done(elector_task)
            lost = self._leadership_lost.is_set() and not self._shutdown_requested.is_set()
            if lost:
                await self._stop_after_lost_lease(elector_task)
            else:
                await self._shutdown(elector_task)
        except BaseException:
            await self._force_stop(elector_task)
            raise
        finally:
            remove_signal_handlers()
        if lost:
            raise LeaderElectionLost("leader election lost")

    async def _wait_for_sync_or_shutdown(self) -> bool:
        """True once synced; False if shutdown came first; raises CacheSyncTimeout."""
        sync = asyncio.create_task(self.informers.wait_for_sync(self.settings.cache_sync_timeout))
        shutdown = asyncio.create_task(self._shutdown_requested.wait())
        try:
            await asyncio.wait({sync, shutdown}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sync, shutdown):
                task.cancel()
            await asyncio.gather(sync, shutdown, return_exceptions=True)
        if self._shutdown_requested.is_set():
            return False
        if not sync.result():
            raise CacheSyncTimeout(
                f"timed out after {self.settings.cache_sync_timeout:g}s waiting for informers to sync: "
                f"{', '.join(self.informers.unsynced())}"
            )
        logger.info("all informers synced")
        return True

    async def _wait_until_done(self, elector_task: asyncio.Task[None] | None) -> None:
        waiters = {
            asyncio.create_task(self._shutdown_requested.wait()),
            asyncio.create_task(self._leadership_lost.wait()),
        }
        try:
            watched = waiters | ({elector_task} if elector_task is not None else set())
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if elector_task is not None and elector_task in done:
            error = elector_task.exception()
            if error is not None:
                raise error
            # run() returned: leadership lost (on_stopped_leading has already set the event).
            self._leadership_lost.set()

    # --- leader callbacks ------------------------------------------------------------------------

    def _start_runnables(self) -> None:
        if self._stopping or self._started_runnables:
            return
        for runnable in self._runnables:
            logger.info("starting controller %s", runnable.name)
            runnable.start()
            self._started_runnables.append(runnable)

    def _on_stopped_leading(self) -> None:
        if not self._stopping:
            self._leadership_lost.set()

    # --- stopping --------------------------------------------------------------------------------

    async def _shutdown(self, elector_task: asyncio.Task[None] | None) -> None:
        """The graceful, ordered stop within the shutdown budget."""
        self._stopping = True
        budget = self.settings.graceful_shutdown_timeout
        deadline = self._clock.now() + budget
        logger.info("stopping: graceful shutdown budget %.0fs", budget)

        def remaining() -> float:
            return max(0.0, deadline - self._clock.now())

        # 1. Controllers drain in-flight reconciles (each gets what is left of the budget).
        started, self._started_runnables = self._started_runnables, []
        for runnable in started:
            await runnable.stop(timeout=remaining())
        # 2. Informers.
        await self._bounded(self.informers.stop(), remaining(), "stopping informers")
        # 3. Leader election: stop renewing, then release the lease if configured.
        await _cancel(elector_task)
        config = self.settings.leader_election
        if self._elector is not None and config is not None and config.release_on_cancel:
            await self._bounded(self._elector.release(), remaining(), "releasing the lease")
        # 4. HTTP servers last, so probes and metrics answer until the very end.
        await self._bounded(self._server.stop(), remaining(), "stopping the HTTP servers")
        logger.info("stopped")

    async def _stop_after_lost_lease(self, elector_task: asyncio.Task[None] | None) -> None:
        self._stopping = True
        started, self._started_runnables = self._started_runnables, []
        # No drain: another replica may already be reconciling the same objects.
        for runnable in started:
            await runnable.stop(timeout=0)
        await _cancel(elector_task)
        await self.informers.stop()
        await self._server.stop()

    async def _force_stop(self, elector_task: asyncio.Task[None] | None) -> None:
        """Failure or cancellation path: stop everything without waiting politely."""
        self._stopping = True
        started, self._started_runnables = self._started_runnables, []
        for runnable in started:
            with contextlib.suppress(Exception):
                await runnable.stop(timeout=0)
        await _cancel(elector_task)
        with contextlib.suppress(Exception):
            await self.informers.stop()
        with contextlib.suppress(Exception):
            await self._server.stop()

    async def _bounded(self, step: Coroutine[Any, Any, object], seconds: float, what: str) -> None:
        task = asyncio.ensure_future(step)
        try:
            async with timeout_after(self._clock, seconds):
                await task
        except TimeoutError:
            logger.warning("shutdown budget exhausted while %s", what)
            await _cancel(task)

    def _install_signal_handlers(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            logger.info("received %s: shutting down", sig.name)
            self.request_shutdown()

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                logger.debug("cannot handle %s in this thread", sig.name)

        def remove() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return remove

    # --- checks ----------------------------------------------------------------------------------

    async def _check_informers_synced(self) -> None:
        unsynced = self.informers.unsynced()
        if unsynced:
            raise RuntimeError(f"informers not synced: {', '.join(unsynced)}")

    async def _check_leader_election(self) -> None:
        assert self._elector is not None
        problem = self._elector.check_health(self.settings.leader_election_health_tolerance)
        if problem:
            raise RuntimeError(problem)


async def _cancel(task: asyncio.Future[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
