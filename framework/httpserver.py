"""The aiohttp server that exposes ``/metrics``, ``/healthz`` and ``/readyz``.

Upstream runs two listeners, ``--metrics-bind-addr`` (default ``:8080``) and
``--health-probe-bind-addr`` (default ``:61779``); an address of ``0`` disables that listener.
``ObservabilityServer`` does the same, and when both addresses are identical it serves everything
from one listener. Like controller-runtime, it is meant to start before caches sync and to run on
every replica, leader or not.

``/metrics`` is ``prometheus_client``'s exposition of the injected registry (text or OpenMetrics,
by ``Accept`` header). Scraping runs the collectors on the event loop; they are cheap by design
(the work-queue collector only reads counters).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from framework.health import HealthChecks
from framework.metrics import default_registry

__all__ = ["BindAddress", "HttpServer", "ListenError", "ObservabilityServer", "build_app"]

logger = logging.getLogger(__name__)


class ListenError(OSError):
    """A listener could not bind its address (in use, not permitted, no such interface)."""


@dataclass(frozen=True)
class BindAddress:
    """Where to listen. ``host=None`` means every interface; ``port=0`` picks a free port."""

    host: str | None
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    @classmethod
    def parse(cls, value: str) -> BindAddress | None:
        """Parse an upstream-style bind address: ``:8080``, ``127.0.0.1:0``, ``[::1]:9090``.

        ``"0"`` returns None: upstream's way of disabling the listener.
        """
        text = value.strip()
        if text == "0":
            return None
        host, separator, port_text = text.rpartition(":")
        if not separator or not port_text.isdigit():
            raise ValueError(f"bind address must look like host:port or :port, got {value!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        return cls(host or None, int(port_text))

    def __str__(self) -> str:
        host = self.host or ""
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def build_app(
    *,
    registry: CollectorRegistry | None = None,
    serve_metrics: bool = True,
    probes: tuple[HealthChecks, ...] = (),
) -> web.Application:
    """An aiohttp app serving ``/metrics`` (if ``serve_metrics``) and each probe set."""
    app = web.Application()
    if serve_metrics:
        handler = make_aiohttp_handler(registry if registry is not None else default_registry())
        app.router.add_get("/metrics", handler)
    for checks in probes:
        checks.install(app)
    return app


class HttpServer:
    """One aiohttp listener with an explicit ``start`` / ``stop`` lifecycle."""

    def __init__(
        self, app: web.Application, address: BindAddress, *, name: str, shutdown_timeout: float = 5.0
    ) -> None:
        self._app = app
        self._address = address
        self._name = name
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError(f"{self._name} server already started")
        # No access log: probes and scrapes every few seconds would drown the real logs.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._address.host, self._address.port)
            await site.start()
        except OSError as error:
            await runner.cleanup()
            # The bare OSError names neither the listener nor the address; say both, in one line.
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise ListenError(
                error.errno, f"cannot serve {self._name} on {self._address}: {reason}"
            ) from error
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("Serving %s on %s (port %d)", self._name, self._address, self._port)

    @property
    def port(self) -> int:
        """The bound port (the real one when the address asked for port 0)."""
        if self._port is None:
            raise RuntimeError(f"{self._name} server is not started")
        return self._port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("Stopped %s server", self._name)


class ObservabilityServer:
    """The metrics and probe listeners, on one address or two (see the module docstring)."""

    def __init__(
        self,
        *,
        metrics_address: BindAddress | None,
        probe_address: BindAddress | None,
        healthz: HealthChecks,
        readyz: HealthChecks,
        registry: CollectorRegistry | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        probes = (healthz, readyz)
        self._metrics_server: HttpServer | None = None
        self._probe_server: HttpServer | None = None
        shared = (
            metrics_address is not None and metrics_address == probe_address and metrics_address.port != 0
        )
        if shared and metrics_address is not None:
            server = HttpServer(
                build_app(registry=registry, probes=probes),
                metrics_address,
                name="metrics and probes",
                shutdown_timeout=shutdown_timeout,
            )
            self._metrics_server = self._probe_server = server
            return
        if metrics_address is not None:
            self._metrics_server = HttpServer(
                build_app(registry=registry),
                metrics_address,
                name="metrics",
                shutdown_timeout=shutdown_timeout,
            )
        if probe_address is not None:
            self._probe_server = HttpServer(
                build_app(serve_metrics=False, probes=probes),
                probe_address,
                name="health probes",
                shutdown_timeout=shutdown_timeout,
            )

    def _servers(self) -> list[HttpServer]:
        servers = [self._metrics_server, self._probe_server]
        unique: list[HttpServer] = []
        for server in servers:
            if server is not None and server not in unique:
                unique.append(server)
        return unique

    async def start(self) -> None:
        started: list[HttpServer] = []
        try:
            for server in self._servers():
                await server.start()
                started.append(server)
        except BaseException:
            for server in reversed(started):
                await server.stop()
            raise

    async def stop(self) -> None:
        for server in reversed(self._servers()):
            await server.stop()

    @property
    def metrics_port(self) -> int | None:
        """Bound metrics port, or None when metrics are disabled."""
        return self._metrics_server.port if self._metrics_server is not None else None

    @property
    def probe_port(self) -> int | None:
        """Bound probe port, or None when probes are disabled."""
        return self._probe_server.port if self._probe_server is not None else None
