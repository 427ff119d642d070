"""The Gateway CRDs on the session's real kube-apiserver, installed with the real kubectl as a user
would (``kubectl apply --server-side -k``): the Gateway API's own (fetched by
tools/gateway-api/fetch.sh, ``make gateway-api-crds``) and upstream's gateway.k8s.aws ones
(config/crd/gateway).

Shared by the tests that need them served (the CRDs' own test, CRD detection, the RBAC checks).
Installing is idempotent: CRDs are cluster-wide, so whichever test comes first in a session
installs them; the others find every one Established and skip kubectl (seconds per call). Importable as ``gateway_api_crds`` because
``tests/`` is on ``sys.path`` (its conftest has no package).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from framework.testing.controlplane import RealControlPlane

REPO = Path(__file__).resolve().parents[1]
GATEWAY_API_CRDS = Path(os.environ.get("GATEWAY_API_DIR", REPO / ".cache" / "gateway-api")) / "crds"
OUR_GATEWAY_CRDS = REPO / "config" / "crd" / "gateway"
KUBECTL_TIMEOUT_S = 60
# The control planes (by URL) this process has seen every CRD Established on. No test deletes them.
_INSTALLED: set[str] = set()


class GatewayCrdsUnavailable(AssertionError):
    """The CRDs or kubectl are missing: the tests fail (never skip), naming how to get them."""


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_S,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, documents: list[dict[str, object]], namespace: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=yaml.safe_dump_all(documents),
            check=False,
        )


def crd_names(directory: Path) -> list[str]:
    names = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                names.append(str(document["metadata"]["name"]))
    return names


def _all_established(control_plane: RealControlPlane, names: list[str]) -> bool:
    for name in names:
        status, crd = control_plane.admin_request(
            "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
        )
        if status != 200:
            return False
        conditions = (crd.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return False
    return True


def install_gateway_crds(control_plane: RealControlPlane) -> Kubectl:
    """Apply both sets of CRDs, unless all are already served, and wait until every one is
    Established (served)."""
    if not (GATEWAY_API_CRDS / "kustomization.yaml").is_file():
        raise GatewayCrdsUnavailable(
            f"the Gateway API CRDs are not in {GATEWAY_API_CRDS}: run `make gateway-api-crds`"
        )
    if shutil.which("kubectl") is None:
        raise GatewayCrdsUnavailable("kubectl is not installed (.ci/run installs Debian's kubernetes-client)")
    kubectl = Kubectl(control_plane.kubeconfig_path)
    if control_plane.server in _INSTALLED:
        return kubectl
    if _all_established(control_plane, crd_names(GATEWAY_API_CRDS) + crd_names(OUR_GATEWAY_CRDS)):
        _INSTALLED.add(control_plane.server)
        return kubectl
    for directory in (GATEWAY_API_CRDS, OUR_GATEWAY_CRDS):
        kubectl.run("apply", "--server-side", "-k", str(directory))
    names = [
        f"crd/{name}" for directory in (GATEWAY_API_CRDS, OUR_GATEWAY_CRDS) for name in crd_names(directory)
    ]
    kubectl.run("wait", "--for", "condition=Established", "--timeout", "30s", *names)
    _INSTALLED.add(control_plane.server)
    return kubectl
