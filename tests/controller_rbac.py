"""The controller's identity on a real control plane: config/rbac applied, a ServiceAccount token.

Shared by the end-to-end tests (the controller process runs as this identity) and the framework
tests that show the library working under the controller's least-privilege role. Importable as
``controller_rbac`` because ``tests/`` is on ``sys.path`` (its conftest has no package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from framework.testing.controlplane import REPOSITORY_ROOT, RealControlPlane

RBAC_DIR = REPOSITORY_ROOT / "config" / "rbac"
CONTROLLER_NAMESPACE = "kube-system"
CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
LEADER_LEASE = "aws-load-balancer-controller-leader"

# The collection each kind in config/rbac is created in; a new kind there must be added here.
_COLLECTION_PATHS: dict[str, str] = {
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
}


def rbac_manifests() -> list[dict[str, Any]]:
    """Every document of the files config/rbac/kustomization.yaml lists, in that order."""
    kustomization = yaml.safe_load((RBAC_DIR / "kustomization.yaml").read_text())
    files = [RBAC_DIR / name for name in kustomization["resources"]]
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def apply_controller_rbac(control_plane: RealControlPlane) -> None:
    """Create the ServiceAccount, roles and bindings as the admin (409: already applied)."""
    for manifest in rbac_manifests():
        kind = manifest["kind"]
        if kind not in _COLLECTION_PATHS:
            raise AssertionError(f"no collection known for {kind}; add it to _COLLECTION_PATHS")
        path = _COLLECTION_PATHS[kind].format(namespace=manifest["metadata"].get("namespace"))
        status, body = control_plane.admin_request("POST", path, manifest)
        if status not in (201, 409):
            raise AssertionError(f"applying {kind} {manifest['metadata']['name']}: {status} {body}")


def controller_kubeconfig(control_plane: RealControlPlane) -> Path:
    """A kubeconfig acting as ``kube-system/aws-load-balancer-controller``, bound by config/rbac."""
    apply_controller_rbac(control_plane)
    return control_plane.mint_service_account_identity(CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT)
