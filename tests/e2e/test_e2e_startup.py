"""Start-up against a real kube-apiserver that lacks our CRD: the controller says so at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.testing.controlplane import ControlPlaneBinaries, RealControlPlane

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def control_plane_without_crds() -> Iterator[RealControlPlane]:
    """A fresh control plane of its own: the session's server gets our CRD from other tests."""
    with RealControlPlane(ControlPlaneBinaries.locate()) as control_plane:
        yield control_plane


def test_missing_targetgroupbinding_crd_is_one_line_at_once(
    control_plane_without_crds: RealControlPlane,
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    # Nothing listens here: the check comes before any AWS call.
    environment.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x"
    )
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "--cluster-name=c",
            "--aws-region=us-west-2",
            "--aws-vpc-id=vpc-0123456789abcdef0",
            f"--kubeconfig={control_plane_without_crds.kubeconfig_path}",
            "--metrics-bind-addr=0",
            "--health-probe-bind-addr=0",
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    # Before it: only the Gateway controllers' one-line notices that their CRDs are not installed.
    *notices, line = result.stderr.splitlines()
    assert all("Disabling" in n and "GatewayAPI: missing required CRDs" in n for n in notices), notices
    assert "Cannot start: the TargetGroupBinding CRD (targetgroupbindings.elbv2.k8s.aws" in line
    assert "install it with `kubectl apply -k config/crd`" in line
    assert elapsed < 30, f"took {elapsed:.0f}s: it must not wait for the cache-sync timeout"


@pytest.mark.parametrize(
    ("default_tags", "problem"),
    [
        ("team=two\nlines", "the value of tag key 'team' contains '\\n', which ELBv2 does not allow"),
        ("aws:owner=me", "tag key 'aws:owner' starts with 'aws:', which AWS reserves"),
        ("blob=" + "v" * 102400, "the value of tag key 'blob' is 102400 characters long"),
    ],
)
def test_default_tags_aws_would_refuse_are_one_line_at_start_up(default_tags: str, problem: str) -> None:
    """Every resource we create would carry them: refused before any Kubernetes or AWS call."""
    result = subprocess.run(
        [sys.executable, "-m", "controller", "--cluster-name=c", f"--default-tags={default_tags}"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert f"invalid --default-tags: {problem}" in line, line
    assert len(line) < 400, line
