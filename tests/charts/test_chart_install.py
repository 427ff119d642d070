"""`helm install` of the chart into the session's real kube-apiserver, then the controller's calls
run as the ServiceAccount the chart created, under the roles the chart bound to it.

One install serves every check. There is no kubelet, so the Deployment never gets pods and nothing
waits for them. Names are unique to this test (release, namespace, IngressClass): the session's
server is shared, and config/rbac's objects may already be there under the default names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from controller_rbac import TARGET_GROUP_BINDINGS, ControllerIdentity, rbac_mismatches, rbac_scene
from helm_chart import CHART_DIR, Helm

from framework.testing.controlplane import RealControlPlane, wait_until


@dataclass(frozen=True, slots=True)
class Installed:
    control_plane: RealControlPlane
    release: str
    namespace: str
    fullname: str
    ingress_class: str


@pytest.fixture
def installed(helm: Helm, real_control_plane: RealControlPlane) -> Iterator[Installed]:
    suffix = uuid.uuid4().hex[:8]
    release, namespace = f"lbsg-{suffix}", f"helm-{suffix}"
    installation = Installed(
        real_control_plane, release, namespace, f"{release}-aws-lb-sg-controller", f"alb-{suffix}"
    )
    kubeconfig = str(real_control_plane.kubeconfig_path)
    helm.run(
        "install",
        release,
        str(CHART_DIR),
        "--kubeconfig",
        kubeconfig,
        "--namespace",
        namespace,
        "--create-namespace",
        "--set",
        "clusterName=helm-test",
        "--set",
        f"ingressClass={installation.ingress_class}",
    )
    yield installation
    # Removes the cluster-scoped objects (ClusterRole, binding, IngressClass); CRDs stay, as Helm
    # never deletes them. The namespace stays Terminating (no namespace controller), unused.
    helm.run("uninstall", release, "--kubeconfig", kubeconfig, "--namespace", namespace)


def _get(control_plane: RealControlPlane, path: str) -> dict[str, object]:
    status, body = control_plane.admin_request("GET", path)
    assert status == 200, f"GET {path}: {status} {body}"
    assert isinstance(body, dict)
    return body


async def test_install_creates_the_controller_and_a_role_that_covers_exactly_its_calls(
    installed: Installed,
) -> None:
    control_plane, ns, name = installed.control_plane, installed.namespace, installed.fullname
    deployment = _get(control_plane, f"/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    for path in (
        f"/api/v1/namespaces/{ns}/serviceaccounts/{name}",
        f"/api/v1/namespaces/{ns}/services/{name}-metrics",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}-role",
        f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}-rolebinding",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/{name}-leader-election-role",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/{name}-leader-election-rolebinding",
        f"/apis/networking.k8s.io/v1/ingressclasses/{installed.ingress_class}",
    ):
        _get(control_plane, path)
    for crd in (CHART_DIR / "crds").glob("*.yaml"):
        crd_name = yaml.safe_load(crd.read_text())["metadata"]["name"]
        _get(control_plane, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd_name}")
    wait_until(
        lambda: control_plane.admin_request("GET", TARGET_GROUP_BINDINGS.collection_path())[0] == 200,
        timeout=30,
        describe="the TargetGroupBinding CRD to be served",
    )
    # The server accepted the pod template as the chart rendered it (admission and validation).
    template = deployment["spec"]["template"]  # type: ignore[index]
    assert template["spec"]["serviceAccountName"] == name
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True

    identity = ControllerIdentity(ns, name, "aws-load-balancer-controller-leader")
    async with rbac_scene(control_plane, identity) as scene:
        mismatches = await rbac_mismatches(scene)

    assert not mismatches, "\n".join(mismatches)
