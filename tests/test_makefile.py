"""``make run`` installs only what running needs; after ``make test``'s set-up it installs nothing.

The venv is a stand-in whose ``pip`` writes down its arguments, so the tests see exactly what
``make`` would install without installing anything.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    pip = venv / "bin" / "pip"
    pip.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    pip.chmod(pip.stat().st_mode | stat.S_IXUSR)
    return venv, log


def make(venv: Path, target: str) -> None:
    subprocess.run(["make", "--no-print-directory", target, f"VENV={venv}"], cwd=REPO, check=True, timeout=60)


def test_run_setup_installs_the_sandbox_extra_only(tmp_path: Path) -> None:
    venv, log = fake_venv(tmp_path)
    make(venv, "run-setup")
    installs = [line for line in log.read_text().splitlines() if "-e" in line.split()]
    assert installs == ["install --quiet -e .[sandbox]"]
    assert (venv / ".run-installed-stamp").exists()


def test_make_run_uses_the_run_setup(tmp_path: Path) -> None:
    venv, _ = fake_venv(tmp_path)
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", f"VENV={venv}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert ".[sandbox]" in planned and "[test" not in planned and "bench]" not in planned
    assert "controller.sandbox.run" in planned
    # The Gateway API CRDs are fetched first: the sandbox installs them before the controller starts.
    lines = planned.splitlines()
    sandbox_line = next(i for i, line in enumerate(lines) if "controller.sandbox.run" in line)
    assert lines.index("tools/gateway-api/fetch.sh") < sandbox_line


def test_run_setup_installs_nothing_after_the_test_setup(tmp_path: Path) -> None:
    venv, log = fake_venv(tmp_path)
    stamp = venv / ".installed-stamp"
    stamp.touch()
    newer = (REPO / "pyproject.toml").stat().st_mtime + 10
    os.utime(stamp, (newer, newer))
    make(venv, "run-setup")
    assert not log.exists()
    assert (venv / ".run-installed-stamp").exists()


def test_make_unit_builds_the_control_plane_and_helm_before_the_tests(tmp_path: Path) -> None:
    venv, _ = fake_venv(tmp_path)
    planned = subprocess.run(
        ["make", "--no-print-directory", "-n", "unit", f"VENV={venv}"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.splitlines()
    pytest_line = next(i for i, line in enumerate(planned) if line.startswith(f"{venv}/bin/pytest"))
    assert planned.index("tools/kube/build.sh") < pytest_line
    assert planned.index("tools/helm/build.sh") < pytest_line
