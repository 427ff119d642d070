"""The controller's RBAC (config/rbac) on a real kube-apiserver: all it needs, nothing more.

The manifests are applied as the admin, then the framework's client runs as the controller's
ServiceAccount with a token from the TokenRequest API, exactly as in a pod. The checks themselves
(``controller_rbac.rbac_mismatches``) are shared with the Helm chart's install test
(tests/charts/), which runs them against the chart's rendering of the same role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from controller_rbac import (
    CLUSTER_ROLE_BINDINGS,
    CONFIG_RBAC_IDENTITY,
    CONTROLLER_NAMESPACE,
    CONTROLLER_SERVICE_ACCOUNT,
    RBAC_DIR,
    TARGET_GROUP_BINDINGS,
    RbacScene,
    controller_checks,
    rbac_mismatches,
    rbac_scene,
)

from framework.kube import Resource
from framework.testing.controlplane import REPOSITORY_ROOT, RealControlPlane, wait_until

TARGET_GROUP_BINDING_CRD = REPOSITORY_ROOT / "config" / "crd" / "elbv2.k8s.aws_targetgroupbindings.yaml"

# Where each kind in config/rbac (and the CRD) is created; a new kind there must be added here.
_COLLECTIONS: dict[str, Resource] = {
    "ServiceAccount": Resource("", "v1", "serviceaccounts", "ServiceAccount"),
    "ClusterRole": Resource(
        "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False
    ),
    "ClusterRoleBinding": CLUSTER_ROLE_BINDINGS,
    "Role": Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    "RoleBinding": Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    "CustomResourceDefinition": Resource(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
    ),
}


def _manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((RBAC_DIR / "kustomization.yaml").read_text())
    files = [TARGET_GROUP_BINDING_CRD] + [RBAC_DIR / name for name in kustomization["resources"]]
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def _apply(control_plane: RealControlPlane, manifest: dict[str, Any]) -> None:
    kind = manifest["kind"]
    assert kind in _COLLECTIONS, f"no collection known for {kind}; add it to _COLLECTIONS"
    path = _COLLECTIONS[kind].collection_path(manifest["metadata"].get("namespace"))
    status, body = control_plane.admin_request("POST", path, manifest)
    # 409: another test of this session applied the same manifest first.
    assert status in (201, 409), f"applying {kind} {manifest['metadata']['name']}: {status} {body}"


def _served(control_plane: RealControlPlane, resource: Resource) -> bool:
    status, _ = control_plane.admin_request("GET", resource.collection_path())
    return status == 200


@pytest.fixture(scope="module")
def rbac_applied(real_control_plane: RealControlPlane) -> Iterator[RealControlPlane]:
    for manifest in _manifests():
        _apply(real_control_plane, manifest)
    wait_until(
        lambda: _served(real_control_plane, TARGET_GROUP_BINDINGS),
        timeout=30,
        describe="the TargetGroupBinding CRD to be served",
    )
    yield real_control_plane


@pytest_asyncio.fixture
async def scene(rbac_applied: RealControlPlane) -> AsyncIterator[RbacScene]:
    async with rbac_scene(rbac_applied, CONFIG_RBAC_IDENTITY) as opened:
        yield opened


async def test_the_controller_role_allows_what_it_needs_and_denies_the_rest(scene: RbacScene) -> None:
    mismatches = await rbac_mismatches(scene)

    assert not mismatches, "\n".join(mismatches)
    assert len(controller_checks(scene)) > 30


async def test_the_controller_token_authenticates_as_its_service_account(scene: RbacScene) -> None:
    review = await scene.controller.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )

    user = review["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_SERVICE_ACCOUNT}"
    assert "system:serviceaccounts:kube-system" in user["groups"]


def test_the_role_grants_nothing_on_secrets() -> None:
    """A static guard next to the live check: no rule may name secrets or use wildcards."""
    role = yaml.safe_load((RBAC_DIR / "role.yaml").read_text())
    for rule in role["rules"]:
        assert "secrets" not in rule["resources"], rule
        assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], rule


def test_manifests_are_the_ones_the_kustomization_lists() -> None:
    listed = set(yaml.safe_load((RBAC_DIR / "kustomization.yaml").read_text())["resources"])
    on_disk = {path.name for path in Path(RBAC_DIR).glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
