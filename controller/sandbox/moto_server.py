"""moto in server mode as a subprocess on a free 127.0.0.1 port (its own process, so its own GIL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import TracebackType

import botocore.config
import botocore.session

from controller.aws.session import shared_loader

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_GRACE_PERIOD = 0.5
_HTTP_TIMEOUT = 10.0


def free_port() -> int:
    """A port that was free a moment ago (the OS picks it; we release it for the child to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class MotoEndpoint:
    """moto's own control API (``/moto-api/``) at ``url``: the server, or the proxy in front of it,
    which relays every request that is not an AWS action (a sandbox whose moto runs in another
    process or container reaches it this way)."""

    url: str

    def reset(self) -> None:
        """Wipe every resource in every region (``POST /moto-api/reset``)."""
        self._post("/moto-api/reset", "reset")

    def seed_random(self, seed: int) -> None:
        """Seed moto's random generator (``POST /moto-api/seed``): the ids and ARNs it generates
        from now on are the same on every run that makes the same calls in the same order."""
        self._post(f"/moto-api/seed?a={seed}", "seed")

    def _post(self, path: str, what: str) -> None:
        request = urllib.request.Request(f"{self.url.rstrip('/')}{path}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT) as response:
            if response.status != 200:
                raise RuntimeError(f"moto {what} answered HTTP {response.status}")


class MotoServer:
    """``python -m moto.server`` bound to 127.0.0.1.

    Synchronous on purpose: it is a session-wide pytest fixture and a sandbox component, both of
    which start it once before any event loop exists. Use as a context manager or call
    ``start()``/``stop()``.
    """

    def __init__(self, port: int | None = None) -> None:
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self._port is None or self._process is None:
            raise RuntimeError("moto server is not running")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("moto server already started")
        self._port = self._port or free_port()
        # Loading moto's catalogue of public AMIs makes every reset, and the first EC2 call after
        # it, cost about 0.4 s each; without it both take about 10 ms. RunInstances still accepts
        # any well-formed AMI id.
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self._port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RuntimeError(f"moto server exited with code {code} during start-up")
            try:
                self.reset()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not answer within {_START_TIMEOUT:.0f} s") from None
                time.sleep(0.05)

    def warm_up(self, region: str = "us-west-2") -> None:
        """Make moto import its EC2 and ELBv2 backends now (several seconds on a busy machine), so
        the first test's first call is not the one that pays for it."""
        session = botocore.session.get_session()
        session.register_component("data_loader", shared_loader())
        for service, operation in (("ec2", "describe_security_groups"), ("elbv2", "describe_load_balancers")):
            client = session.create_client(
                service,
                region_name=region,
                endpoint_url=self.url,
                aws_access_key_id="warm-up",
                aws_secret_access_key="warm-up",
                config=botocore.config.Config(
                    connect_timeout=_HTTP_TIMEOUT, read_timeout=60, retries={"total_max_attempts": 1}
                ),
            )
            try:
                getattr(client, operation)()
            finally:
                client.close()

    def reset(self) -> None:
        """Wipe every resource in every region (``POST /moto-api/reset``)."""
        MotoEndpoint(self.url).reset()

    def seed_random(self, seed: int) -> None:
        """Seed moto's random generator: see ``MotoEndpoint.seed_random``."""
        MotoEndpoint(self.url).seed_random(seed)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # moto keeps everything in memory and has nothing to flush; its graceful shutdown takes
        # seconds, so give it a moment and then kill it.
        process.terminate()
        try:
            process.wait(timeout=_GRACE_PERIOD)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
