"""The Helm chart as the tests see it: the real helm CLI, rendered objects, the kustomize manifests.

Importable as ``helm_chart`` from the tests in this directory (pytest puts it on ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.config import ControllerSettings, build_parser, parse_config
from framework.testing.controlplane import REPOSITORY_ROOT

CHART_DIR = REPOSITORY_ROOT / "charts" / "aws-lb-sg-controller"
CONFIG_DIR = REPOSITORY_ROOT / "config"
HELM_BIN_DIR_ENV = "HELM_BIN_DIR"
DEFAULT_HELM_BIN_DIR = REPOSITORY_ROOT / ".cache" / "helm" / "bin"
_HELM_TIMEOUT_SECONDS = 60

Manifest = dict[str, Any]


class HelmMissing(RuntimeError):
    """The helm CLI has not been built."""


def locate_helm(environ: Mapping[str, str] = os.environ) -> Path:
    """helm in ``$HELM_BIN_DIR`` or .cache/helm/bin; raises :class:`HelmMissing` naming the command
    that builds it (the chart tests fail rather than skip without it)."""
    helm = Path(environ.get(HELM_BIN_DIR_ENV) or DEFAULT_HELM_BIN_DIR) / "helm"
    if not os.access(helm, os.X_OK):
        raise HelmMissing(f"{helm} is not built: run `make helm-binary` (needs Go >= 1.26)")
    return helm


@dataclass(frozen=True, slots=True)
class Helm:
    """The helm CLI with its own (empty) config, cache and data directories, so nothing of the
    user's helm set-up (repositories, plugins, registries) takes part."""

    binary: Path
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        result = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=_HELM_TIMEOUT_SECONDS,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def values_file(self, values: Mapping[str, Any]) -> Path:
        path = self.home / f"values-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(yaml.safe_dump(dict(values)))
        return path

    def template(
        self,
        values: Mapping[str, Any],
        *,
        release: str = "aws-lb-sg-controller",
        namespace: str = "kube-system",
    ) -> list[Manifest]:
        """Every object ``helm template`` renders (CRDs included), parsed."""
        result = self.run(
            "template",
            release,
            str(CHART_DIR),
            "--namespace",
            namespace,
            "--include-crds",
            "--values",
            str(self.values_file(values)),
        )
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kustomize_objects(directory: Path) -> list[Manifest]:
    """The objects ``kustomize build directory`` gives for our kustomizations, which only list
    ``resources`` (files or directories); anything else there fails, not silently misrenders."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - {"apiVersion", "kind", "resources"}
    assert not unsupported, f"{directory}/kustomization.yaml uses {unsupported}; teach kustomize_objects"
    objects: list[Manifest] = []
    for entry in kustomization["resources"]:
        path = directory / entry
        if path.is_dir():
            objects += kustomize_objects(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def only(objects: Sequence[Manifest], kind: str) -> Manifest:
    """The single object of ``kind``."""
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[obj['metadata']['name'] for obj in found]}"
    return found[0]


def kinds(objects: Sequence[Manifest]) -> list[str]:
    return sorted(obj["kind"] for obj in objects)


def controller_container(deployment: Manifest) -> Manifest:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container_spec: Manifest = container
    return container_spec


def controller_flag_names() -> set[str]:
    """Every option string of the controller's own argument parser."""
    return {option for action in build_parser()._actions for option in action.option_strings}


def parse_controller_args(args: Sequence[str]) -> ControllerSettings:
    """The settings the controller would run with, parsed by its own parser and validation.

    argparse would also accept an unambiguous prefix of a flag (``--max-port-ranges``); the names
    must be exact, so each is checked against the parser's option strings first.
    """
    known = controller_flag_names()
    unknown = [arg for arg in args if arg.partition("=")[0] not in known]
    assert not unknown, f"not flags of the controller: {unknown}"
    return parse_config(list(args))
