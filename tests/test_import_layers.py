"""The import-linter contracts in pyproject.toml (run by ``make lint``) hold on the real tree, and each
one fails on a copy of the tree with one planted import, so a contract that can never break (a typo in
a module name, a floor that no longer exists) cannot pass unnoticed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS = "controller floors only import downward"
FRAMEWORK_IS_GENERIC = "framework imports nothing from controller"
TESTING_STAYS_IN_TESTS = "only the sandbox imports framework.testing"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``lint-imports`` of this interpreter's environment in ``root``; it puts its working
    directory first on ``sys.path``, so the packages under ``root`` are the ones analysed."""
    executable = Path(sys.executable).with_name("lint-imports")
    command = [str(executable)] if executable.exists() else [shutil.which("lint-imports") or "lint-imports"]
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["COLUMNS"] = "300"  # rich wraps long import chains at the terminal width
    return subprocess.run(
        [*command, "--no-logo", "--no-cache"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def copy_of_the_tree(destination: Path) -> Path:
    for package in ("framework", "controller"):
        shutil.copytree(REPO / package, destination / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_contracts_hold_on_the_real_tree() -> None:
    result = lint_imports(REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for contract in (FRAMEWORK_IS_GENERIC, TESTING_STAYS_IN_TESTS, FLOORS):
        assert f"{contract} KEPT" in output


@pytest.mark.parametrize(
    ("planted_module", "source", "broken_contract", "reported"),
    [
        pytest.param(
            "controller/aws/planted.py",
            "import controller.ingress\n",
            FLOORS,
            "controller.aws is not allowed to import controller.ingress",
            id="aws-imports-a-feature",
        ),
        pytest.param(
            "controller/networking/planted.py",
            "from controller.targetgroupbinding import controller\n",
            FLOORS,
            "controller.networking is not allowed to import controller.targetgroupbinding",
            id="networking-imports-a-higher-floor",
        ),
        pytest.param(
            "controller/ingress/planted.py",
            "import controller.service\n",
            FLOORS,
            "controller.ingress is not allowed to import controller.service",
            id="one-feature-imports-its-sibling",
        ),
        pytest.param(
            "controller/planted.py",
            "",
            FLOORS,
            "- controller.planted",
            id="a-new-module-without-a-floor",
        ),
        pytest.param(
            "framework/planted.py",
            "from controller import naming\n",
            FRAMEWORK_IS_GENERIC,
            "framework.planted -> controller.naming",
            id="framework-imports-the-product",
        ),
        pytest.param(
            "controller/deploy/planted.py",
            "import framework.testing\n",
            TESTING_STAYS_IN_TESTS,
            "controller.deploy.planted -> framework.testing",
            id="product-imports-test-support",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    tmp_path: Path, planted_module: str, source: str, broken_contract: str, reported: str
) -> None:
    root = copy_of_the_tree(tmp_path)
    (root / planted_module).write_text(source)
    result = lint_imports(root)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{broken_contract} BROKEN" in output, output
    assert reported in output, output
