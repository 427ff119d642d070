"""The controller's RBAC (config/rbac) on a real kube-apiserver: all it needs, nothing more.

The manifests are applied as the admin, then the framework's client runs as the controller's
ServiceAccount with a token from the TokenRequest API, exactly as in a pod. Every check runs and
the test reports all that differ at once, so one run shows the whole gap between the role and
what the controller does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio
import yaml

from framework.kube import (
    ENDPOINT_SLICES,
    ENDPOINTS,
    EVENTS,
    INGRESS_CLASSES,
    INGRESSES,
    LEASES,
    MERGE_PATCH_CONTENT_TYPE,
    NAMESPACES,
    NODES,
    PODS,
    SECRETS,
    SERVICES,
    KubeApiError,
    KubeClient,
    Resource,
)
from framework.testing.controlplane import REPOSITORY_ROOT, RealControlPlane, wait_until

RBAC_DIR = REPOSITORY_ROOT / "config" / "rbac"
TARGET_GROUP_BINDING_CRD = REPOSITORY_ROOT / "config" / "crd" / "elbv2.k8s.aws_targetgroupbindings.yaml"
CONTROLLER_NAMESPACE = "kube-system"
CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
LEADER_LEASE = "aws-load-balancer-controller-leader"

TARGET_GROUP_BINDINGS = Resource("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS_V1 = Resource("events.k8s.io", "v1", "events", "Event")
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)

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


@dataclass(frozen=True, slots=True)
class Scene:
    namespace: str
    controller: KubeClient
    admin: KubeClient


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
async def scene(rbac_applied: RealControlPlane) -> AsyncIterator[Scene]:
    """A namespace with one object of each kind, and clients for the admin and the controller."""
    control_plane = rbac_applied
    token_kubeconfig = control_plane.mint_service_account_identity(
        CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT
    )
    namespace = f"rbac-{uuid.uuid4().hex[:8]}"
    async with (
        KubeClient.from_configuration(control_plane.client_configuration()) as admin,
        KubeClient.from_configuration(control_plane.client_configuration(token_kubeconfig)) as controller,
    ):
        await admin.create(NAMESPACES, {"metadata": {"name": namespace}})
        await admin.create(CONFIG_MAPS, {"metadata": {"name": "settings"}}, namespace)
        await admin.create(
            SECRETS, {"metadata": {"name": "credentials"}, "stringData": {"k": "v"}}, namespace
        )
        await admin.create(
            SERVICES,
            {"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
            namespace,
        )
        await admin.create(
            INGRESSES,
            {
                "metadata": {"name": "web"},
                "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
            },
            namespace,
        )
        await admin.create(
            LEASES, {"metadata": {"name": "someone-elses-lease"}, "spec": {"holderIdentity": "x"}}, namespace
        )
        yield Scene(namespace, controller, admin)


Expectation = Literal["allowed", "denied"]
Check = tuple[str, Expectation, Callable[[], Awaitable[object]]]


async def _watch_opens(client: KubeClient, resource: Resource, namespace: str | None = None) -> None:
    async with client.watch(
        resource, namespace, [("timeoutSeconds", "1")], read_timeout=10, total_timeout=15
    ):
        pass


def _merge_patch(client: KubeClient, path: str, body: dict[str, Any]) -> Awaitable[object]:
    return client.request("PATCH", path, body=body, content_type=MERGE_PATCH_CONTENT_TYPE)


def _list_and_watch(client: KubeClient, resource: Resource) -> list[Check]:
    """What an informer does: list everything, then watch from there."""
    return [
        (f"list {resource}", "allowed", lambda: client.list(resource)),
        (f"watch {resource}", "allowed", lambda: _watch_opens(client, resource)),
    ]


def _controller_checks(scene: Scene) -> list[Check]:
    c, ns = scene.controller, scene.namespace
    checks: list[Check] = []
    # Informers list and watch across all namespaces.
    for resource in (
        PODS,
        SERVICES,
        ENDPOINTS,
        NODES,
        NAMESPACES,
        ENDPOINT_SLICES,
        INGRESSES,
        INGRESS_CLASSES,
    ):
        checks += _list_and_watch(c, resource)
    checks += [
        *_list_and_watch(c, TARGET_GROUP_BINDINGS),
        ("get ingress", "allowed", lambda: c.get(INGRESSES, "web", ns)),
        (
            "add a finalizer to an ingress",
            "allowed",
            lambda: _merge_patch(
                c,
                INGRESSES.object_path("web", ns),
                {"metadata": {"finalizers": ["ingress.k8s.aws/resources"]}},
            ),
        ),
        (
            "patch ingress status",
            "allowed",
            lambda: _merge_patch(
                c,
                INGRESSES.object_path("web", ns) + "/status",
                {"status": {"loadBalancer": {"ingress": [{"hostname": "k8s-web.elb.amazonaws.com"}]}}},
            ),
        ),
        (
            "add a finalizer to a service",
            "allowed",
            lambda: _merge_patch(
                c,
                SERVICES.object_path("web", ns),
                {"metadata": {"finalizers": ["service.k8s.aws/resources"]}},
            ),
        ),
        (
            "patch service status",
            "allowed",
            lambda: _merge_patch(
                c,
                SERVICES.object_path("web", ns) + "/status",
                {"status": {"loadBalancer": {"ingress": [{"hostname": "k8s-web.elb.amazonaws.com"}]}}},
            ),
        ),
        (
            "record a core event and count a repeat",
            "allowed",
            lambda: _record_event(c, EVENTS, _core_event(ns)),
        ),
        (
            "record an events.k8s.io event and count a repeat",
            "allowed",
            lambda: _record_event(c, EVENTS_V1, _event_v1(ns)),
        ),
        ("leader lease: create, read and renew", "allowed", lambda: _take_leader_lease(c)),
        ("target group binding: create, patch status, delete", "allowed", lambda: _own_binding(c, ns)),
        # What it must not do.
        ("read a secret", "denied", lambda: c.get(SECRETS, "credentials", ns)),
        ("list secrets", "denied", lambda: c.list(SECRETS)),
        ("watch secrets", "denied", lambda: _watch_opens(c, SECRETS, ns)),
        ("list configmaps", "denied", lambda: c.list(CONFIG_MAPS)),
        ("delete an ingress", "denied", lambda: c.request("DELETE", INGRESSES.object_path("web", ns))),
        (
            "create a service",
            "denied",
            lambda: c.create(SERVICES, {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}]}}, ns),
        ),
        ("delete a namespace", "denied", lambda: c.request("DELETE", NAMESPACES.object_path(ns))),
        (
            "renew another component's lease",
            "denied",
            lambda: _merge_patch(
                c, LEASES.object_path("someone-elses-lease", ns), {"spec": {"holderIdentity": "controller"}}
            ),
        ),
        (
            "create a lease outside its namespace",
            "denied",
            lambda: c.create(LEASES, {"metadata": {"name": LEADER_LEASE}}, ns),
        ),
        (
            "grant itself more rights",
            "denied",
            lambda: c.create(
                CLUSTER_ROLE_BINDINGS,
                {
                    "metadata": {"name": "escalate"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "admin",
                    },
                    "subjects": [
                        {
                            "kind": "ServiceAccount",
                            "name": CONTROLLER_SERVICE_ACCOUNT,
                            "namespace": "kube-system",
                        }
                    ],
                },
            ),
        ),
    ]
    return checks


def _core_event(namespace: str) -> dict[str, Any]:
    return {
        "metadata": {"generateName": "web-"},
        "involvedObject": {"kind": "Ingress", "namespace": namespace, "name": "web"},
        "reason": "SuccessfullyReconciled",
        "message": "Successfully reconciled",
        "type": "Normal",
        "count": 1,
    }


def _event_v1(namespace: str) -> dict[str, Any]:
    return {
        "metadata": {"generateName": "web-"},
        "regarding": {"kind": "Ingress", "namespace": namespace, "name": "web"},
        "reason": "SuccessfullyReconciled",
        "note": "Successfully reconciled",
        "type": "Normal",
        "action": "Reconcile",
        "reportingController": "ingress.k8s.aws",
        "reportingInstance": "test",
        "eventTime": "2026-01-01T00:00:00.000000Z",
    }


async def _record_event(client: KubeClient, resource: Resource, event: dict[str, Any]) -> None:
    """What an event recorder does: create the event, then patch its count when it repeats."""
    namespace = event["regarding" if "regarding" in event else "involvedObject"]["namespace"]
    created = await client.create(resource, event, namespace)
    repeat = (
        {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"}}
        if "regarding" in event
        else {"count": 2}
    )
    await _merge_patch(client, resource.object_path(created["metadata"]["name"], namespace), repeat)


async def _take_leader_lease(client: KubeClient) -> None:
    """What LeaseLock does: read (absent), create, read, then renew with a PUT carrying the RV."""
    try:
        await client.get(LEASES, LEADER_LEASE, CONTROLLER_NAMESPACE)
    except KubeApiError as error:
        if not error.is_not_found:
            raise
        await client.create(
            LEASES,
            {"metadata": {"name": LEADER_LEASE}, "spec": {"holderIdentity": "test"}},
            CONTROLLER_NAMESPACE,
        )
    lease = await client.get(LEASES, LEADER_LEASE, CONTROLLER_NAMESPACE)
    lease["spec"]["holderIdentity"] = "test-renewed"
    await client.replace(LEASES, LEADER_LEASE, lease, CONTROLLER_NAMESPACE)


async def _own_binding(client: KubeClient, namespace: str) -> None:
    binding = await client.create(
        TARGET_GROUP_BINDINGS,
        {
            "apiVersion": "elbv2.k8s.aws/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": "web"},
            "spec": {
                "serviceRef": {"name": "web", "port": 80},
                "targetGroupARN": "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef",
            },
        },
        namespace,
    )
    path = TARGET_GROUP_BINDINGS.object_path("web", namespace)
    await _merge_patch(
        client, path + "/status", {"status": {"observedGeneration": binding["metadata"]["generation"]}}
    )
    await _merge_patch(client, path, {"metadata": {"labels": {"reconciled": "yes"}}})
    await client.request("DELETE", path)


async def _outcome(check: Callable[[], Awaitable[object]]) -> str:
    try:
        await check()
    except KubeApiError as error:
        return "denied" if error.status == 403 else f"failed: {error}"
    return "allowed"


async def test_the_controller_role_allows_what_it_needs_and_denies_the_rest(scene: Scene) -> None:
    mismatches = []
    checks = _controller_checks(scene)
    for name, expected, check in checks:
        outcome = await _outcome(check)
        if outcome != expected:
            mismatches.append(f"{name}: expected {expected}, got {outcome}")

    assert not mismatches, "\n".join(mismatches)
    assert len(checks) > 30


async def test_the_controller_token_authenticates_as_its_service_account(scene: Scene) -> None:
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
