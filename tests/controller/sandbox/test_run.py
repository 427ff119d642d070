"""``make run`` (``python -m controller.sandbox.run``): every port is checked or chosen before the
sandbox reports ready, and the ready line lists them; ``--once`` converges on every sample, the
Gateway sample included when the Gateway API CRDs were fetched, and the sandbox runs without
Gateways (saying so) when they were not."""

from __future__ import annotations

import itertools
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
    # Also: without the fetched Gateway API CRDs the sandbox runs, without Gateways, and says so.
    no_crds = tmp_path / "no-gateway-api"
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            launcher(tmp_path, "--nodes=1"),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "GATEWAY_API_DIR": str(no_crds)},
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
        assert ready["aws_region"] == "us-west-2"
        assert (ready["aws_access_key_id"], ready["aws_secret_access_key"]) == ("testing", "testing")
        assert ready["aws_cli"] == (
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"aws --endpoint-url {ready['aws_endpoint_url']} --region us-west-2 ec2 describe-security-groups"
        )
        # Printed only once the controller is ready: both of its listeners answer at once.
        with urllib.request.urlopen(ready["health"], timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(ready["metrics"], timeout=5) as response:
            assert b"controller_runtime_reconcile_total" in response.read()
        assert ready["gateway_api"] is False and "try_gateway" not in ready
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        if process.stdout is not None:
            process.stdout.close()
    logged = stderr_path.read_text()
    [hint] = [line for line in logged.splitlines() if "Gateway API CRDs" in line]
    assert hint == (
        f"python -m controller.sandbox.run: no Gateway API CRDs in {no_crds / 'crds'}, so Gateways are off "
        "in this sandbox; `make gateway-api-crds` fetches them (needs Go), `make run` does that first"
    )
    # The controller found no Gateway kinds served, so it left its Gateway controllers off.
    assert "Disabling ALBGatewayAPI: missing required CRDs" in logged
    assert "Traceback" not in logged


def test_help_tells_the_region_the_credentials_and_an_aws_cli_example() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller.sandbox.run", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing" in result.stdout
    assert (
        "aws --endpoint-url http://127.0.0.1:PROXY_PORT --region us-west-2 ec2 describe-security-groups"
        in result.stdout
    )
    for flag in (*PORT_FLAGS, "--once", "--timeout"):
        assert flag in result.stdout


def run_once(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        launcher(tmp_path, "--once", *flags), cwd=REPO, capture_output=True, text=True, timeout=240
    )


def summary_rules(lines: list[str]) -> dict[str, tuple[str, str, list[list[str]]]]:
    """The summary table as {sg: (name, role, [[protocol, ports, source, ...], ...])}."""
    groups: dict[str, tuple[str, str, list[list[str]]]] = {}
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["security", "group"])
    current: list[list[str]] = []
    for line in lines[header + 2 :]:
        cells = line.split()
        if not cells or cells[0] == "converged:":
            continue
        if cells[0].startswith("sg-") and len(cells) > 3:
            current = []
            groups[cells[0]] = (cells[1], cells[2], current)
            cells = cells[3:]
        if cells[:2] != ["-", "-"]:
            current.append(cells)
    return groups


def test_once_applies_the_samples_converges_and_prints_every_sg_and_its_rules(tmp_path: Path) -> None:
    result = run_once(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    lines = result.stdout.splitlines()
    ready = json.loads(lines[0])
    node_sg = ready["node_security_group"]
    assert ready["gateway_api"] is True  # the repository's .cache has them (make gateway-api-crds)
    assert lines[1] == "applied 9 objects from config/samples/ and config/samples/gateway/"
    # Plain progress lines (stdout is a pipe), each different from the one before.
    progress = [line for line in lines if line.startswith("reconciled ")]
    assert progress and all(a != b for a, b in itertools.pairwise(progress))
    assert f"rules on {node_sg} 3" in progress[-1] and "load balancers 2" in progress[-1]
    groups = summary_rules(lines)
    names = {sg: name for sg, (name, _, _) in groups.items()}
    assert set(names.values()) >= {"default", "echo-clients", "sandbox-cluster-nodes"}
    [frontend] = [sg for sg, name in names.items() if name.startswith("k8s-default-echo-")]
    # The Gateway's LB's managed SG: k8s-<namespace>-<Gateway name>-<hash>, each part cut to 8 characters.
    [gateway_frontend] = [sg for sg, name in names.items() if name.startswith("k8s-default-echogate-")]
    [backend] = [sg for sg, name in names.items() if name.startswith("k8s-traffic-sandboxcluster-")]
    # The Ingress's frontend SG: port 80 from the inbound-cidrs annotation; the Gateway's: its
    # listener's port 80 from the LoadBalancerConfiguration's sourceRanges.
    assert groups[frontend][1:] == ("ours", [["tcp", "80", "10.0.0.0/8"]])
    assert groups[gateway_frontend][1:] == ("ours", [["tcp", "80", "10.0.0.0/8"]])
    # The node SG: the NodePorts of the Ingress's and the Gateway's Services from the backend SG,
    # and all TCP from the sample binding's source SG (created with the id the sample names).
    name, role, rules = groups[node_sg]
    assert (name, role) == ("sandbox-cluster-nodes", "node")
    assert sorted(rule[2] for rule in rules) == sorted(["sg-8e6f9833288305d32", backend, backend]), rules
    backend_ports = {rule[1] for rule in rules if rule[2] == backend}
    assert len(backend_ports) == 2 and all(30000 <= int(port) <= 32767 for port in backend_ports)
    assert ["tcp", "all", "sg-8e6f9833288305d32", "(echo-clients)"] in [rule[:4] for rule in rules]
    assert lines[-1].startswith("converged: every sample applied, 6 security groups")
    assert "Traceback" not in result.stderr


def test_once_names_what_did_not_converge_and_exits_1(tmp_path: Path) -> None:
    result = run_once(tmp_path, "--timeout=0")
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "not converged" in line]
    assert line.startswith("python -m controller.sandbox.run: not converged within 0s: ")
    assert "Traceback" not in result.stderr
