"""``python -m controller`` as a process: start-up errors are one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_controller(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "AWS_ENDPOINT_URL")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "controller", "--cluster-name=c", "--aws-region=us-east-1", *flags],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0]


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (None, "no such file"),
        ("clusters: [\n", "while parsing"),  # not YAML
        ("apiVersion: v1\nkind: Config\n", "current-context"),  # YAML, but nothing to connect to
        ("apiVersion: v1\ncurrent-context: x\ncontexts: []\n", "x"),  # names a context it lacks
    ],
)
def test_unusable_kubeconfig_is_a_one_line_start_error(
    tmp_path: Path, content: str | None, phrase: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if content is not None:
        kubeconfig.write_text(content)
    result = run_controller(f"--kubeconfig={kubeconfig}")
    assert_one_line_error(result, 1, "Cannot start: kubeconfig", str(kubeconfig), phrase)


def test_kubeconfig_from_the_environment_is_checked_the_same_way(tmp_path: Path) -> None:
    result = run_controller(env={"KUBECONFIG": str(tmp_path / "missing")})
    assert_one_line_error(result, 1, "Cannot start: kubeconfig", "no such file")


@pytest.mark.parametrize(
    "flag", ["--metrics-bind-addr=localhost", "--health-probe-bind-addr=:70000", "--metrics-bind-addr=:x"]
)
def test_malformed_bind_address_is_a_one_line_usage_error(flag: str) -> None:
    result = run_controller(flag)
    assert_one_line_error(result, 2, f"argument {flag.split('=')[0]}:", "host:port")


def test_gc_is_a_subcommand_with_the_controllers_flags_and_its_own() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "gc", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: aws-lb-sg-controller gc")
    for flag in (
        "--apply",
        "--output",
        "--cluster-name",
        "--aws-vpc-id",
        "--aws-api-endpoints",
        "--aws-region",
    ):
        assert flag in result.stdout
    # A gc flag is not a controller flag: the controller itself still refuses it (exit 2, usage).
    refused = run_controller("--apply")
    assert refused.returncode == 2 and "--apply" in refused.stderr, refused.stderr


def test_gc_flag_errors_exit_1_since_2_means_leaks_found() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "gc", "--aws-region=us-east-1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cluster name must be specified" in result.stderr
