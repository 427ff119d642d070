"""A real Kubernetes control plane for tests: etcd and kube-apiserver on 127.0.0.1.

This is what controller-runtime's envtest gives Go controllers: the real API server (real
validation, defaulting, admission, strategic merge, watch cache, RBAC) backed by a real etcd, with
no kubelet, scheduler or controller-manager. The binaries are built from the Go modules pinned in
``tools/kube/go.mod`` by ``make kube-binaries``.

Everything is private to one :class:`RealControlPlane`: a fresh certificate authority, free ports,
a temporary data directory that :meth:`RealControlPlane.stop` deletes. kube-apiserver serves only
TLS, authenticates client certificates signed by that CA, and authorises with RBAC alone, so a
test can mint a restricted identity (:meth:`RealControlPlane.mint_identity` or
:meth:`RealControlPlane.mint_service_account_identity`) and see real ``403 Forbidden`` answers.

Because there is no controller-manager, nothing runs that a cluster's controllers would do: no
EndpointSlices for Services, no garbage collection, no namespace finalisation (a deleted
namespace stays ``Terminating``) and no ``default`` ServiceAccount (the ServiceAccount admission
plugin is disabled so Pods can still be created).

Run it on its own with ``python -m framework.testing.controlplane --kubeconfig PATH``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Final, Literal

import yaml
from kubernetes_asyncio import client as k8s_client

from framework.testing.controlplane_pki import (
    LOOPBACK,
    CertificateAuthority,
    CertificatePaths,
    write_service_account_keys,
)

REPOSITORY_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR: Final = REPOSITORY_ROOT / ".cache" / "kube" / "bin"
BIN_DIR_ENV: Final = "KUBE_BIN_DIR"
"""Environment variable that overrides where the etcd and kube-apiserver binaries are looked up."""

ADMIN_USER: Final = "test-admin"
ADMIN_GROUPS: Final = ("system:masters",)
SERVICE_CLUSTER_IP_RANGE: Final = "10.0.0.0/24"
# The first address of the service range; kube-apiserver puts it on the `kubernetes` Service and
# refuses to start if its serving certificate does not cover it.
KUBERNETES_SERVICE_IP: Final = ipaddress.IPv4Address("10.0.0.1")
SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"

_POLL_INTERVAL_SECONDS: Final = 0.1
_PROBE_TIMEOUT_SECONDS: Final = 2.0
_STOP_GRACE_SECONDS: Final = 15.0
_PORT_ATTEMPTS: Final = 3
_LOG_TAIL_LINES: Final = 40
_PR_SET_PDEATHSIG: Final = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be started or used."""


class ControlPlaneBinariesMissing(ControlPlaneError):
    """etcd or kube-apiserver has not been built."""


class _PortInUse(ControlPlaneError):
    """A port picked as free was taken before the server bound it; starting again fixes it."""


@dataclass(frozen=True, slots=True)
class ControlPlaneBinaries:
    """Where the etcd and kube-apiserver executables are."""

    etcd: Path
    kube_apiserver: Path

    @classmethod
    def locate(
        cls, bin_dir: Path | None = None, environ: Mapping[str, str] = os.environ
    ) -> ControlPlaneBinaries:
        """Find the binaries in ``bin_dir``, ``$KUBE_BIN_DIR`` or ``.cache/kube/bin``, in that order.

        Raises :class:`ControlPlaneBinariesMissing` naming the command that builds them.
        """
        directory = bin_dir or Path(environ.get(BIN_DIR_ENV) or DEFAULT_BIN_DIR)
        binaries = cls(etcd=directory / "etcd", kube_apiserver=directory / "kube-apiserver")
        missing = [
            str(path) for path in (binaries.etcd, binaries.kube_apiserver) if not os.access(path, os.X_OK)
        ]
        if missing:
            raise ControlPlaneBinariesMissing(
                f"the real control plane binaries are not built ({', '.join(missing)} missing): run "
                "`make kube-binaries` (needs Go >= 1.26; see docs/control-plane.md)"
            )
        return binaries


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    describe: str,
    interval: float = _POLL_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll ``condition`` until it is true; raise :class:`ControlPlaneError` after ``timeout`` s.

    ``condition`` may itself raise to abort the wait early (a server process that exited).
    """
    deadline = clock() + timeout
    while not condition():
        remaining = deadline - clock()
        if remaining <= 0:
            raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {describe}")
        sleep(min(interval, remaining))


def pick_free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the caller must tolerate races)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((str(LOOPBACK), 0))
        port: int = sock.getsockname()[1]
        return port


# Loaded here, in the parent: between fork and exec only the prctl call itself is safe.
_LIBC: Final = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the test process dies, so no server outlives it.

    Linux ties this to the thread that started the child, so start the control plane from a
    thread that lives as long as it does (the main thread, as pytest fixtures do).
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:])


@dataclass(slots=True)
class _ServerProcess:
    """One child server with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def raise_if_exited(self) -> None:
        code = self.process.poll()
        if code is None:
            return
        tail = _log_tail(self.log_path)
        error_type = _PortInUse if "address already in use" in tail else ControlPlaneError
        raise error_type(f"{self.name} exited with status {code} during start-up; last log lines:\n{tail}")

    def stop(self, grace: float) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=grace)
        self.log_file.close()


def _start_server(name: str, argv: Sequence[str], log_path: Path) -> _ServerProcess:
    log_file = log_path.open("wb")
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only us, and we stop the servers
            # in order (kube-apiserver before the etcd it writes to).
            start_new_session=True,
            # prctl only: safe between fork and exec even in a threaded process.
            preexec_fn=_die_with_parent,
        )
    except BaseException:
        log_file.close()
        raise
    return _ServerProcess(name, process, log_path, log_file)


def _pem_data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_cert: Path,
    user: str,
    client_cert: CertificatePaths | None = None,
    token: str | None = None,
) -> Path:
    """Write a self-contained kubeconfig (certificates embedded) for one user of one server."""
    credentials: dict[str, str] = {}
    if client_cert is not None:
        credentials["client-certificate-data"] = _pem_data(client_cert.cert)
        credentials["client-key-data"] = _pem_data(client_cert.key)
    if token is not None:
        credentials["token"] = token
    if not credentials:
        raise ValueError(f"kubeconfig for {user!r} needs a client certificate or a token")
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "real", "cluster": {"server": server, "certificate-authority-data": _pem_data(ca_cert)}}
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": {"cluster": "real", "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass(frozen=True, slots=True)
class _Identity:
    """How to authenticate as one user: a client certificate or a bearer token."""

    client_cert: CertificatePaths | None = None
    token: str | None = None


@dataclass(slots=True)
class _Running:
    """Everything that exists only while the control plane runs."""

    data_dir: Path
    ca: CertificateAuthority
    admin: CertificatePaths
    server: str
    processes: list[_ServerProcess]
    identities: dict[Path, _Identity] = field(default_factory=dict)


class RealControlPlane:
    """etcd plus kube-apiserver as child processes; use as a context manager or start()/stop().

    Implements the control-plane handle protocol of ``framework.testing.handle``: ``kind``,
    ``kubeconfig_path`` (the admin's), ``server`` and ``client_configuration()``.
    """

    kind: Final[Literal["real"]] = "real"

    def __init__(
        self,
        binaries: ControlPlaneBinaries | None = None,
        *,
        kubeconfig_path: Path | None = None,
        startup_timeout: float = 120.0,
        extra_apiserver_args: Sequence[str] = (),
    ) -> None:
        self._binaries = binaries
        self._requested_kubeconfig = kubeconfig_path
        self._startup_timeout = startup_timeout
        self._extra_apiserver_args = tuple(extra_apiserver_args)
        self._running: _Running | None = None
        self._kubeconfig_path: Path | None = None
        self.startup_seconds: float | None = None
        """Wall-clock seconds the last start() took until kube-apiserver was ready."""

    # -- the handle protocol ------------------------------------------------------------------

    @property
    def kubeconfig_path(self) -> Path:
        """The admin identity's kubeconfig (``system:masters``: everything is allowed)."""
        if self._kubeconfig_path is None:
            raise ControlPlaneError("the control plane is not running")
        return self._kubeconfig_path

    @property
    def server(self) -> str:
        return self._require_running().server

    @property
    def data_dir(self) -> Path:
        """Where the certificates, etcd's data and both servers' logs are while running."""
        return self._require_running().data_dir

    def client_configuration(self, kubeconfig_path: Path | None = None) -> k8s_client.Configuration:
        """A kubernetes_asyncio configuration for the admin, or for an identity minted here."""
        running = self._require_running()
        if kubeconfig_path is None or kubeconfig_path == self._kubeconfig_path:
            identity = _Identity(client_cert=running.admin)
        else:
            try:
                identity = running.identities[kubeconfig_path]
            except KeyError:
                raise ControlPlaneError(
                    f"{kubeconfig_path} is not an identity of this control plane"
                ) from None
        configuration = k8s_client.Configuration(host=running.server)
        configuration.ssl_ca_cert = str(running.ca.cert_path)
        configuration.verify_ssl = True
        if identity.client_cert is not None:
            configuration.cert_file = str(identity.client_cert.cert)
            configuration.key_file = str(identity.client_cert.key)
        if identity.token is not None:
            configuration.api_key = {"BearerToken": identity.token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return configuration

    # -- identities -----------------------------------------------------------------------------

    def mint_identity(self, name: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for user ``name`` in ``groups``, authenticated by a client certificate.

        The user has no permissions until RBAC grants some. To act as a ServiceAccount without
        a token, use ``name="system:serviceaccount:<namespace>:<name>"``: RBAC matches
        ServiceAccount subjects by that user name.
        """
        if "system:masters" in groups:
            raise ValueError("a restricted identity must not be in system:masters")
        running = self._require_running()
        stem = f"user-{len(running.identities)}"
        cert = running.ca.issue(stem, name, organizations=groups)
        path = write_kubeconfig(
            running.data_dir / "identities" / f"{stem}.kubeconfig",
            server=running.server,
            ca_cert=running.ca.cert_path,
            user=name,
            client_cert=cert,
        )
        running.identities[path] = _Identity(client_cert=cert)
        return path

    def mint_service_account_identity(
        self, namespace: str, name: str, expiration_seconds: int = 3600
    ) -> Path:
        """A kubeconfig holding a token the TokenRequest API issued for an existing ServiceAccount.

        This is the path a pod's projected token takes: kube-apiserver signs it with its service
        account key and authenticates it as ``system:serviceaccount:<namespace>:<name>`` in the
        groups ``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>``.
        """
        running = self._require_running()
        status, body = self.admin_request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        if status != 201:
            raise ControlPlaneError(f"TokenRequest for {namespace}/{name} failed with {status}: {body}")
        token = str(body["status"]["token"])
        path = write_kubeconfig(
            running.data_dir / "identities" / f"sa-{len(running.identities)}.kubeconfig",
            server=running.server,
            ca_cert=running.ca.cert_path,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
        )
        running.identities[path] = _Identity(token=token)
        return path

    def admin_request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One synchronous JSON request as the admin; for set-up code outside an event loop."""
        running = self._require_running()
        return _https_json(running.server, running.ca.cert_path, running.admin, method, path, body)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._running is not None:
            raise ControlPlaneError("the control plane is already running")
        binaries = self._binaries or ControlPlaneBinaries.locate()
        began = time.monotonic()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            try:
                self._running = self._start_once(binaries)
                break
            except _PortInUse:
                if attempt == _PORT_ATTEMPTS:
                    raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, and delete their data, certificates and kubeconfigs."""
        running, self._running = self._running, None
        if running is None:
            return
        try:
            for server in reversed(running.processes):
                server.stop(_STOP_GRACE_SECONDS)
        finally:
            if self._kubeconfig_path is not None and self._requested_kubeconfig is not None:
                self._kubeconfig_path.unlink(missing_ok=True)
            self._kubeconfig_path = None
            shutil.rmtree(running.data_dir, ignore_errors=True)

    def __enter__(self) -> RealControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _require_running(self) -> _Running:
        if self._running is None:
            raise ControlPlaneError("the control plane is not running")
        return self._running

    def _start_once(self, binaries: ControlPlaneBinaries) -> _Running:
        data_dir = Path(tempfile.mkdtemp(prefix="real-control-plane-"))
        processes: list[_ServerProcess] = []
        try:
            running = self._launch(binaries, data_dir, processes)
            self._kubeconfig_path = write_kubeconfig(
                self._requested_kubeconfig or data_dir / "admin.kubeconfig",
                server=running.server,
                ca_cert=running.ca.cert_path,
                user=ADMIN_USER,
                client_cert=running.admin,
            )
            return running
        except BaseException:
            for server in reversed(processes):
                server.stop(_STOP_GRACE_SECONDS)
            shutil.rmtree(data_dir, ignore_errors=True)
            raise

    def _launch(
        self, binaries: ControlPlaneBinaries, data_dir: Path, processes: list[_ServerProcess]
    ) -> _Running:
        pki_dir = data_dir / "pki"
        ca = CertificateAuthority(pki_dir)
        etcd_cert = ca.issue("etcd", "etcd", server_hosts=["localhost"], server_ips=[LOOPBACK])
        apiserver_etcd_client = ca.issue("apiserver-etcd-client", "kube-apiserver-etcd-client")
        apiserver_cert = ca.issue(
            "apiserver",
            "kube-apiserver",
            server_hosts=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
            server_ips=[LOOPBACK, KUBERNETES_SERVICE_IP],
            client=False,
        )
        admin = ca.issue("admin", ADMIN_USER, organizations=ADMIN_GROUPS)
        service_account_keys = write_service_account_keys(pki_dir)
        etcd_client_port, etcd_peer_port, apiserver_port = _distinct_free_ports(3)
        deadline = time.monotonic() + self._startup_timeout

        etcd_url = f"https://{LOOPBACK}:{etcd_client_port}"
        peer_url = f"https://{LOOPBACK}:{etcd_peer_port}"
        etcd = _start_server(
            "etcd",
            [
                str(binaries.etcd),
                "--name=test",
                f"--data-dir={data_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                "--initial-cluster-state=new",
                f"--cert-file={etcd_cert.cert}",
                f"--key-file={etcd_cert.key}",
                f"--trusted-ca-file={ca.cert_path}",
                "--client-cert-auth",
                f"--peer-cert-file={etcd_cert.cert}",
                f"--peer-key-file={etcd_cert.key}",
                f"--peer-trusted-ca-file={ca.cert_path}",
                "--peer-client-cert-auth",
                # Test data is thrown away: skipping fsync makes every write much faster.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            data_dir / "etcd.log",
        )
        processes.append(etcd)
        # etcd's /health reads through raft, so it is true only once the member leads its cluster.
        wait_until(
            lambda: _ready(etcd, etcd_url, ca.cert_path, apiserver_etcd_client, "/health"),
            timeout=deadline - time.monotonic(),
            describe=f"etcd at {etcd_url} to become healthy",
        )

        server = f"https://{LOOPBACK}:{apiserver_port}"
        apiserver = _start_server(
            "kube-apiserver",
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                f"--etcd-cafile={ca.cert_path}",
                f"--etcd-certfile={apiserver_etcd_client.cert}",
                f"--etcd-keyfile={apiserver_etcd_client.key}",
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={apiserver_port}",
                f"--tls-cert-file={apiserver_cert.cert}",
                f"--tls-private-key-file={apiserver_cert.key}",
                f"--client-ca-file={ca.cert_path}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={service_account_keys.public_key}",
                f"--service-account-signing-key-file={service_account_keys.private_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                # No controller-manager creates the `default` ServiceAccount in new namespaces,
                # so with this plugin no Pod could ever be created.
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                # The `kubernetes` Service's endpoints must not be a loopback address, and nothing
                # in the tests reaches the API server through that Service.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={data_dir / 'apiserver-certs'}",
                "--profiling=false",
                *self._extra_apiserver_args,
            ],
            data_dir / "kube-apiserver.log",
        )
        processes.append(apiserver)
        # /readyz turns 200 only after the bootstrap post-start hooks (RBAC default roles,
        # priority-and-fairness configuration, the `kubernetes` Service) have finished.
        wait_until(
            lambda: _ready(apiserver, server, ca.cert_path, admin, "/readyz"),
            timeout=deadline - time.monotonic(),
            describe=f"kube-apiserver at {server} to become ready",
        )
        return _Running(data_dir=data_dir, ca=ca, admin=admin, server=server, processes=processes)


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = pick_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _ssl_context(ca_cert: Path, client_cert: CertificatePaths) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.load_cert_chain(str(client_cert.cert), str(client_cert.key))
    return context


def _https_json(
    server: str,
    ca_cert: Path,
    client_cert: CertificatePaths,
    method: str,
    path: str,
    body: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    host_port = server.removeprefix("https://")
    host, _, port = host_port.partition(":")
    connection = http.client.HTTPSConnection(
        host, int(port), context=_ssl_context(ca_cert, client_cert), timeout=timeout
    )
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        decoded = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        decoded = {"raw": raw.decode(errors="replace")}
    return response.status, decoded if isinstance(decoded, dict) else {"items": decoded}


def _ready(
    server_process: _ServerProcess, url: str, ca_cert: Path, client_cert: CertificatePaths, path: str
) -> bool:
    """One readiness probe; raises if the process has died so the wait stops at once."""
    server_process.raise_if_exited()
    try:
        status, body = _https_json(url, ca_cert, client_cert, "GET", path, timeout=_PROBE_TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException):
        return False
    if path == "/health":
        return status == 200 and body.get("health") == "true"
    return status == 200


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so `kill` shuts the servers down like Ctrl-C does."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m framework.testing.controlplane",
        description="Run a real etcd + kube-apiserver on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument(
        "--bin-dir", type=Path, default=None, help=f"default: ${BIN_DIR_ENV} or {DEFAULT_BIN_DIR}"
    )
    args = parser.parse_args(argv)
    try:
        binaries = ControlPlaneBinaries.locate(args.bin_dir)
    except ControlPlaneBinariesMissing as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    control_plane = RealControlPlane(binaries, kubeconfig_path=args.kubeconfig.resolve())
    with _stop_on_sigterm():
        try:
            with control_plane:
                print(
                    f"kube-apiserver ready at {control_plane.server} in {control_plane.startup_seconds:.1f}s; "
                    f"admin kubeconfig: {control_plane.kubeconfig_path}; logs in {control_plane.data_dir}; "
                    "Ctrl-C stops it",
                    flush=True,
                )
                signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
