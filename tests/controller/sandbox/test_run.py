"""``make run`` (``python -m controller.sandbox.run``): every port is checked or chosen before the
sandbox reports ready, and the ready line lists them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PORT_FLAGS = ("--api-port", "--metrics-port", "--health-port", "--moto-port", "--proxy-port")
VARIABLES = {
    "--api-port": "API_PORT",
    "--metrics-port": "METRICS_PORT",
    "--health-port": "HEALTH_PORT",
    "--moto-port": "MOTO_PORT",
    "--proxy-port": "PROXY_PORT",
}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another program is listening on (bound to every interface, as a dev server would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def launcher(tmp_path: Path, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "controller.sandbox.run",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        *(f"{flag}=0" for flag in PORT_FLAGS),
        *flags,
    ]


@pytest.mark.parametrize("flag", PORT_FLAGS)
def test_a_busy_port_is_one_line_and_exit_1_before_anything_starts(
    tmp_path: Path, busy_port: int, flag: str
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        launcher(tmp_path, f"{flag}={busy_port}"), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stdout == ""  # never the ready line
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert f"cannot use port {busy_port}" in line
    assert f"({VARIABLES[flag]} / {flag})" in line and "Address already in use" in line
    assert time.monotonic() - started < 20  # checked up front, not after moto and the seeding
    assert not (tmp_path / "kubeconfig").exists()


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        launcher(tmp_path, "--metrics-port=18080", "--health-port=18080"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "cannot use port 18080" in line and "also asked for by METRICS_PORT" in line


def test_ready_line_lists_the_chosen_ports_and_they_answer(tmp_path: Path) -> None:
    process = subprocess.Popen(
        launcher(tmp_path, "--nodes=1"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        ports = ready["ports"]
        assert set(ports) == {"kubernetes_api", "metrics", "health", "moto", "aws_proxy"}
        assert all(isinstance(port, int) and port > 0 for port in ports.values())
        assert len(set(ports.values())) == len(ports)
        assert ready["kubernetes_api"].endswith(f":{ports['kubernetes_api']}")
        assert ready["aws_endpoint_url"].endswith(f":{ports['aws_proxy']}")
        assert ready["metrics"] == f"http://127.0.0.1:{ports['metrics']}/metrics"
        # Printed only once the controller is ready: both of its listeners answer at once.
        with urllib.request.urlopen(ready["health"], timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(ready["metrics"], timeout=5) as response:
            assert b"controller_runtime_reconcile_total" in response.read()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        if process.stdout is not None:
            process.stdout.close()
