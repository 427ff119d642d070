"""The real control plane: start-up, identities, the command and the pytest fixture."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from framework.testing.controlplane import (
    BIN_DIR_ENV,
    REPOSITORY_ROOT,
    ControlPlaneBinaries,
    ControlPlaneBinariesMissing,
    ControlPlaneError,
    RealControlPlane,
    wait_until,
)
from framework.testing.handle import ApiServerHandle

# -- polling, in virtual time --------------------------------------------------------------------


class _VirtualClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_returns_as_soon_as_the_condition_holds() -> None:
    clock = _VirtualClock()
    answers = iter([False, False, True])

    wait_until(lambda: next(answers), timeout=10, describe="x", interval=0.5, clock=clock, sleep=clock.sleep)

    assert clock.sleeps == [0.5, 0.5]


def test_wait_until_gives_up_at_the_deadline_without_oversleeping() -> None:
    clock = _VirtualClock()

    with pytest.raises(ControlPlaneError, match=r"timed out after 2s waiting for the moon"):
        wait_until(
            lambda: False, timeout=2, describe="the moon", interval=0.75, clock=clock, sleep=clock.sleep
        )

    assert clock.sleeps == [0.75, 0.75, 0.5]
    assert clock.now == 102.0


def test_wait_until_stops_at_once_when_the_condition_raises() -> None:
    clock = _VirtualClock()

    def server_died() -> bool:
        raise ControlPlaneError("etcd exited")

    with pytest.raises(ControlPlaneError, match="etcd exited"):
        wait_until(server_died, timeout=60, describe="etcd", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


# -- finding the binaries ------------------------------------------------------------------------


def test_missing_binaries_name_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneBinariesMissing, match=r"run `make kube-binaries`"):
        ControlPlaneBinaries.locate(tmp_path)


def test_binaries_are_found_through_the_environment(tmp_path: Path) -> None:
    for name in ("etcd", "kube-apiserver"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)

    binaries = ControlPlaneBinaries.locate(environ={BIN_DIR_ENV: str(tmp_path)})

    assert binaries == ControlPlaneBinaries(tmp_path / "etcd", tmp_path / "kube-apiserver")


def test_the_fixture_fails_rather_than_skips_without_binaries(tmp_path: Path) -> None:
    (tmp_path / "test_needs_real.py").write_text(
        textwrap.dedent(
            """
            def test_needs_real(real_control_plane):
                pass
            """
        )
    )
    pytest_argv = ["-p", "framework.testing.controlplane_plugin", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_argv, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env={
            **os.environ,
            BIN_DIR_ENV: str(tmp_path / "empty"),
            "PYTHONPATH": str(REPOSITORY_ROOT),
            # Only the plugin under test: loading every installed plugin takes most of the time.
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout
    assert "skipped" not in result.stdout
    assert "make kube-binaries" in result.stdout


def test_building_without_go_fails_with_a_clear_message(tmp_path: Path) -> None:
    path_without_go = tmp_path / "bin"
    path_without_go.mkdir()
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found, tool
        (path_without_go / tool).symlink_to(found)

    result = subprocess.run(
        [str(path_without_go / "bash"), str(REPOSITORY_ROOT / "tools" / "kube" / "build.sh")],
        env={"PATH": str(path_without_go), BIN_DIR_ENV: str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 1
    assert "'go' is not on PATH" in result.stderr
    assert "make kube-binaries" in result.stderr
    assert not (tmp_path / "out").exists()


def _fake_binaries(tmp_path: Path, etcd_script: str) -> ControlPlaneBinaries:
    """An etcd that runs ``etcd_script`` (and counts its starts) and a kube-apiserver never reached."""
    etcd = tmp_path / "etcd"
    etcd.write_text(f"#!/bin/sh\necho started >> {tmp_path / 'starts'}\n{etcd_script}\n")
    apiserver = tmp_path / "kube-apiserver"
    apiserver.write_text("#!/bin/sh\nexit 99\n")
    for path in (etcd, apiserver):
        path.chmod(0o755)
    return ControlPlaneBinaries(etcd, apiserver)


def test_a_port_taken_before_the_server_binds_it_makes_start_retry(tmp_path: Path) -> None:
    binaries = _fake_binaries(
        tmp_path, "echo 'listen tcp 127.0.0.1:2379: bind: address already in use'; exit 1"
    )

    with pytest.raises(ControlPlaneError, match="address already in use"):
        RealControlPlane(binaries).start()

    assert (tmp_path / "starts").read_text().count("started") == 3


def test_a_server_that_dies_fails_start_at_once_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binaries = _fake_binaries(tmp_path, "echo 'invalid flag --unsafe-no-fsync' >&2; exit 2")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    control_plane = RealControlPlane(binaries, startup_timeout=60)

    began = time.monotonic()
    with pytest.raises(
        ControlPlaneError, match=r"etcd exited with status 2 during start-up(.|\n)*invalid flag"
    ):
        control_plane.start()

    assert time.monotonic() - began < 30, "a dead server must not be waited for until the timeout"
    assert (tmp_path / "starts").read_text().count("started") == 1
    with pytest.raises(ControlPlaneError, match="not running"):
        _ = control_plane.server
    assert list(scratch.iterdir()) == [], "a failed start must delete its certificates and data"


# -- the running control plane -------------------------------------------------------------------


def _pinned_kubernetes_version() -> str:
    go_mod = (REPOSITORY_ROOT / "tools" / "kube" / "go.mod").read_text()
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", go_mod, re.MULTILINE)
    assert match, "tools/kube/go.mod must require k8s.io/kubernetes"
    return match.group(1)


def test_it_runs_the_pinned_kubernetes_release_over_tls_only(real_control_plane: RealControlPlane) -> None:
    handle: ApiServerHandle = real_control_plane
    assert isinstance(handle, ApiServerHandle)
    assert handle.kind == "real"
    assert real_control_plane.server.startswith("https://127.0.0.1:")
    assert real_control_plane.startup_seconds is not None and real_control_plane.startup_seconds > 0

    status, version = real_control_plane.admin_request("GET", "/version")

    assert status == 200
    assert version["gitVersion"] == _pinned_kubernetes_version()


async def test_admin_kubeconfig_loads_in_kubernetes_asyncio(real_control_plane: RealControlPlane) -> None:
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(
        config_file=str(real_control_plane.kubeconfig_path), client_configuration=configuration
    )
    async with k8s_client.ApiClient(configuration) as api_client:
        namespaces = await k8s_client.CoreV1Api(api_client).list_namespace()

    assert {"default", "kube-system"} <= {ns.metadata.name for ns in namespaces.items}


async def test_a_minted_identity_has_no_rights_until_rbac_grants_them(
    real_control_plane: RealControlPlane,
) -> None:
    reader = real_control_plane.mint_identity("namespace-reader", groups=["readers"])
    status, _ = real_control_plane.admin_request(
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "metadata": {"name": "readers-view-namespaces"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:basic-user",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "readers"}],
        },
    )
    assert status == 201

    async with k8s_client.ApiClient(real_control_plane.client_configuration(reader)) as api_client:
        with pytest.raises(ApiException) as denied:
            await k8s_client.CoreV1Api(api_client).list_namespace()
        review = await k8s_client.AuthenticationV1Api(api_client).create_self_subject_review(
            k8s_client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1", kind="SelfSubjectReview")
        )

    assert denied.value.status == 403
    assert review.status.user_info.username == "namespace-reader"
    assert "readers" in review.status.user_info.groups


def test_a_restricted_identity_cannot_be_a_master(real_control_plane: RealControlPlane) -> None:
    with pytest.raises(ValueError, match="system:masters"):
        real_control_plane.mint_identity("sneaky", groups=["system:masters"])


# -- the command ---------------------------------------------------------------------------------


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout}s")
    return process.stdout.readline()


@pytest.fixture
def command(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "framework.testing.controlplane", "--kubeconfig", str(kubeconfig)],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, kubeconfig
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


async def _default_namespace_exists(kubeconfig: Path) -> str:
    """Connect with the kubeconfig the command wrote; returns the server it names."""
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    async with k8s_client.ApiClient(configuration) as api_client:
        await k8s_client.CoreV1Api(api_client).read_namespace("default")
    return str(configuration.host)


def test_the_command_serves_until_terminated_then_removes_everything(
    command: tuple[subprocess.Popen[str], Path],
) -> None:
    process, kubeconfig = command
    ready = _read_line(process, timeout=120)
    match = re.search(
        r"ready at (https://127\.0\.0\.1:\d+) in [\d.]+s; admin kubeconfig: (\S+); logs in (\S+);", ready
    )
    assert match, ready
    assert Path(match.group(2)) == kubeconfig
    data_dir = Path(match.group(3))
    assert data_dir.is_dir()

    assert asyncio.run(_default_namespace_exists(kubeconfig)) == match.group(1)

    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert time.monotonic() - began < 30, "stopping both servers should take seconds"
    assert not kubeconfig.exists()
    assert not data_dir.exists()


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_servers_die_with_a_killed_test_process(tmp_path: Path) -> None:
    script = (
        "import time\n"
        "from framework.testing.controlplane import RealControlPlane\n"
        "cp = RealControlPlane(); cp.start(); print(cp.data_dir, flush=True); time.sleep(120)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE, text=True
    )
    data_dir: Path | None = None
    try:
        data_dir = Path(_read_line(owner, timeout=120).strip())
        assert len(_processes_mentioning(str(data_dir))) == 2, "etcd and kube-apiserver should be running"

        owner.kill()
        owner.wait(timeout=30)

        wait_until(
            lambda: not _processes_mentioning(str(data_dir)), timeout=30, describe="the servers to die"
        )
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=30)
        if owner.stdout is not None:
            owner.stdout.close()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
