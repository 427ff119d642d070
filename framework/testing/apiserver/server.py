"""`StandInApiServer`: the stand-in as an async context manager on a free port, and
`ThreadedStandIn`, the same server on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import pathlib
import random
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiohttp import web

from .app import ServerState, build_app
from .conversion import to_view
from .defaults import ServiceAllocator
from .faults import FaultInjector, RequestLog
from .kubeconfig import write_kubeconfig
from .patching import copy_json
from .registry import ObjectRegistry
from .resources import ResourceRegistry
from .store import JsonObject, Store
from .watch import WatchHub

if TYPE_CHECKING:
    from kubernetes_asyncio.client import Configuration

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StandInSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0 picks a free port
    # How many watch events stay replayable; older resourceVersions answer 410 Expired.
    retained_events: int = 250_000
    # A real server bookmarks about once a minute; tests want it sooner.
    bookmark_interval_seconds: float = 5.0
    service_cidr: str = "10.96.0.0/12"
    node_port_range: tuple[int, int] = (30000, 32767)
    seed: int = 0
    request_log_size: int = 20_000
    initial_namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")
    clock: Callable[[], datetime] = field(default=utc_now)
    # The server URL the kubeconfig names; empty: the address it listens on. Clients that reach it
    # by another name (a compose service name, while it listens on 0.0.0.0) need that name.
    kubeconfig_server: str = ""


class StandInApiServer:
    """A strict in-process Kubernetes API server over plain HTTP on 127.0.0.1.

    It implements the `ApiServerHandle` protocol (kind, server, kubeconfig_path,
    client_configuration()) and adds the test hooks: `faults`, `requests`, `compact()`,
    `drop_watches()`, `stall_watches()`/`resume_watches()` and `get_object()`.
    Call the hooks from the server's own event loop (or through `ThreadedStandIn`)."""

    kind: Literal["standin"] = "standin"

    def __init__(
        self, settings: StandInSettings | None = None, *, kubeconfig_path: pathlib.Path | None = None
    ) -> None:
        self.settings = settings or StandInSettings()
        rng = random.Random(self.settings.seed)
        self.store = Store(retained_events=self.settings.retained_events)
        self.resources = ResourceRegistry()
        allocator = ServiceAllocator(self.settings.service_cidr, self.settings.node_port_range, rng)
        self.registry = ObjectRegistry(self.store, self.resources, allocator, self.settings.clock, rng)
        self.faults = FaultInjector()
        self.requests = RequestLog(self.settings.request_log_size)
        self._hub = WatchHub(self.store, self.registry.render, self.settings.bookmark_interval_seconds)
        self._state = ServerState(self.registry, self._hub, self.faults, self.requests)
        for namespace in self.settings.initial_namespaces:
            self.registry.ensure_namespace(namespace)
        self._requested_kubeconfig = kubeconfig_path
        self._kubeconfig_path: pathlib.Path | None = None
        self._temporary_dir: pathlib.Path | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0

    # --------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("server already started")
        # handler_cancellation: when a client goes away, its watch handler is cancelled at once, so
        # abandoned watches do not linger until their next write fails.
        runner = web.AppRunner(
            build_app(self._state),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        self._state.server_address = f"{self.settings.host}:{self._port}"
        if self._requested_kubeconfig is None:
            self._temporary_dir = pathlib.Path(tempfile.mkdtemp(prefix="standin-apiserver-"))
            self._kubeconfig_path = self._temporary_dir / "kubeconfig"
        else:
            self._kubeconfig_path = self._requested_kubeconfig
        write_kubeconfig(self._kubeconfig_path, self.settings.kubeconfig_server or self.server)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._hub.resume()
        self._hub.drop()
        await runner.cleanup()
        if self._temporary_dir is not None:
            shutil.rmtree(self._temporary_dir, ignore_errors=True)
            self._temporary_dir = None

    async def __aenter__(self) -> StandInApiServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------ handle

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("server not started")
        return self._port

    @property
    def server(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def kubeconfig_path(self) -> pathlib.Path:
        if self._kubeconfig_path is None:
            raise RuntimeError("server not started")
        return self._kubeconfig_path

    def client_configuration(self) -> Configuration:
        # Imported here: the client package is large and the server itself does not need it.
        from kubernetes_asyncio.client import Configuration

        configuration = Configuration(host=self.server)
        configuration.api_key = {"BearerToken": "standin"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration

    # ------------------------------------------------------------------------------------- hooks

    def compact(self, keep_last: int = 0) -> int:
        """Forget watch history (all but the newest `keep_last` events), like an etcd compaction:
        watches and paged lists from older resourceVersions then get 410 Expired. Returns the
        oldest resourceVersion that can still be watched from."""
        return self.store.compact(keep_last)

    @property
    def resource_version(self) -> int:
        return self.store.current_rv

    @property
    def open_watches(self) -> int:
        return self._hub.open_watches

    def drop_watches(self, resource: str | None = None, *, abort: bool = False) -> int:
        """End open watch streams (all, or those on one plural); `abort` resets the connection."""
        return self._hub.drop(resource, abort=abort)

    def stall_watches(self, resource: str | None = None) -> None:
        """Stop delivering events (and bookmarks) on watches until `resume_watches()`; events queue up."""
        self._hub.stall(resource)

    def resume_watches(self) -> None:
        self._hub.resume()

    def get_object(self, group: str, plural: str, namespace: str, name: str) -> JsonObject | None:
        """A copy of a stored object, for assertions that must not go through the API; a resource
        that is a view of another's store (events.k8s.io Events) answers in its own shape."""
        resource = self.resources.get(group, plural)
        if resource is None:
            return None
        entry = self.store.get(resource.storage_key, namespace, name)
        if entry is None:
            return None
        copied: JsonObject = copy_json(
            to_view(resource, entry.obj, resource.api_version(resource.preferred_version))
        )
        return copied


class ThreadedStandIn:
    """A `StandInApiServer` running on its own event loop in a daemon thread, so synchronous code,
    session-scoped fixtures or other event loops can use it. Hooks run on the server's loop via
    `call()`; the convenience wrappers below do that for the common ones."""

    kind: Literal["standin"] = "standin"

    def __init__(
        self,
        settings: StandInSettings | None = None,
        *,
        kubeconfig_path: pathlib.Path | None = None,
        start_timeout_seconds: float = 10.0,
    ) -> None:
        self._settings = settings
        self._kubeconfig = kubeconfig_path
        self._timeout = start_timeout_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: StandInApiServer | None = None

    def start(self) -> ThreadedStandIn:
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="standin-apiserver", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def create() -> StandInApiServer:
            server = StandInApiServer(self._settings, kubeconfig_path=self._kubeconfig)
            await server.start()
            return server

        try:
            self._server = asyncio.run_coroutine_threadsafe(create(), loop).result(self._timeout)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(self._timeout)
            self._server = None
        self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self._timeout)
        loop.close()

    def __enter__(self) -> ThreadedStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def wrapped(self) -> StandInApiServer:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server

    def call(self, function: Callable[[StandInApiServer], T]) -> T:
        """Run `function(server)` on the server's loop and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("not started")
        server = self.wrapped

        async def run() -> T:
            return function(server)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(self._timeout)

    @property
    def server(self) -> str:
        return self.wrapped.server

    @property
    def kubeconfig_path(self) -> pathlib.Path:
        return self.wrapped.kubeconfig_path

    def client_configuration(self) -> Configuration:
        return self.wrapped.client_configuration()

    @property
    def faults(self) -> FaultInjector:
        return self.wrapped.faults  # thread-safe on its own

    @property
    def requests(self) -> RequestLog:
        return self.wrapped.requests  # thread-safe on its own

    def compact(self, keep_last: int = 0) -> int:
        return self.call(lambda server: server.compact(keep_last))

    def drop_watches(self, resource: str | None = None, *, abort: bool = False) -> int:
        return self.call(lambda server: server.drop_watches(resource, abort=abort))

    def stall_watches(self, resource: str | None = None) -> None:
        self.call(lambda server: server.stall_watches(resource))

    def resume_watches(self) -> None:
        self.call(lambda server: server.resume_watches())

    def get_object(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.call(lambda server: server.get_object(group, plural, namespace, name))
