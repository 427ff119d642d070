"""Finding and building the helm CLI the chart tests run (tools/helm/build.sh, `make helm-binary`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helm_chart import HELM_BIN_DIR_ENV, HelmMissing, locate_helm

from framework.testing.controlplane import REPOSITORY_ROOT


def test_missing_helm_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(HelmMissing, match=r"run `make helm-binary`"):
        locate_helm({HELM_BIN_DIR_ENV: str(tmp_path)})


def test_helm_is_found_through_the_environment(tmp_path: Path) -> None:
    (tmp_path / "helm").write_text("#!/bin/sh\n")
    (tmp_path / "helm").chmod(0o755)

    assert locate_helm({HELM_BIN_DIR_ENV: str(tmp_path)}) == tmp_path / "helm"


def test_building_without_go_fails_with_a_clear_message(tmp_path: Path) -> None:
    path_without_go = tmp_path / "bin"
    path_without_go.mkdir()
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found, tool
        (path_without_go / tool).symlink_to(found)

    result = subprocess.run(
        [str(path_without_go / "bash"), str(REPOSITORY_ROOT / "tools" / "helm" / "build.sh")],
        env={"PATH": str(path_without_go), HELM_BIN_DIR_ENV: str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 1
    assert "'go' is not on PATH" in result.stderr
    assert "make helm-binary" in result.stderr
    assert not (tmp_path / "out").exists()
