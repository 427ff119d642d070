"""The controller's identity on a real control plane: its RBAC applied, a ServiceAccount token.

Shared by the end-to-end tests (the controller process runs as this identity), the framework
tests that show the library working under the controller's least-privilege role, and the tests
that check the role itself: ``rbac_mismatches`` runs everything the controller does on the API
server (and what it must not do) as an identity, for config/rbac and for the Helm chart alike.
Its scene installs the Gateway CRDs (``gateway_api_crds``), so the Gateway controllers' calls are
checked against the real resources.
Importable as ``controller_rbac`` because ``tests/`` is on ``sys.path`` (its conftest has no package).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from gateway_api_crds import install_gateway_crds

from controller.finalizers import ALB_GATEWAY_FINALIZER
from controller.gateway.resources import (
    ALB_CONTROLLER_NAME,
    GATEWAY_API_GROUP,
    GATEWAY_API_VERSION,
    GATEWAY_CLASSES,
    GATEWAYS,
    GRPC_ROUTES,
    HTTP_ROUTES,
    LISTENER_RULE_CONFIGURATIONS,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
    TCP_ROUTES,
    TLS_ROUTES,
    UDP_ROUTES,
)
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


TARGET_GROUP_BINDINGS = Resource("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS_V1 = Resource("events.k8s.io", "v1", "events", "Event")
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
REFERENCE_GRANTS = Resource(GATEWAY_API_GROUP, GATEWAY_API_VERSION, "referencegrants", "ReferenceGrant")
GATEWAY_ROUTES = (HTTP_ROUTES, GRPC_ROUTES, TCP_ROUTES, UDP_ROUTES, TLS_ROUTES)
# Everything the Gateway controllers read; one object of each is in the scene.
GATEWAY_READS = (
    GATEWAY_CLASSES,
    GATEWAYS,
    *GATEWAY_ROUTES,
    REFERENCE_GRANTS,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
    LISTENER_RULE_CONFIGURATIONS,
)
# Whose status they write: the classes, Gateways and routes they reconcile.
GATEWAY_STATUS_WRITES = (GATEWAY_CLASSES, GATEWAYS, *GATEWAY_ROUTES)


@dataclass(frozen=True, slots=True)
class ControllerIdentity:
    """Where the controller runs: its ServiceAccount and its leader Lease, both in ``namespace``."""

    namespace: str
    service_account: str
    leader_lease: str


CONFIG_RBAC_IDENTITY = ControllerIdentity(CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, LEADER_LEASE)
"""The identity config/rbac grants its rights to."""


@dataclass(frozen=True, slots=True)
class RbacScene:
    """A namespace with one object of each kind, and clients for the admin and the controller.

    Every namespaced object is named ``web``; the scene's GatewayClass (cluster-scoped) is named
    after the namespace."""

    namespace: str
    controller: KubeClient
    admin: KubeClient
    identity: ControllerIdentity

    @property
    def gateway_class(self) -> str:
        return self.namespace


@asynccontextmanager
async def rbac_scene(
    control_plane: RealControlPlane, identity: ControllerIdentity
) -> AsyncIterator[RbacScene]:
    """A fresh namespace to try the controller's calls in, acting as ``identity``'s ServiceAccount
    (which must exist, with its roles bound)."""
    token_kubeconfig = control_plane.mint_service_account_identity(
        identity.namespace, identity.service_account
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
        # The Gateway CRDs are cluster-wide: installed once per session, by whichever test is first.
        await asyncio.to_thread(install_gateway_crds, control_plane)
        for resource, body in _gateway_objects(namespace):
            await admin.create(resource, body, None if resource is GATEWAY_CLASSES else namespace)
        try:
            yield RbacScene(namespace, controller, admin, identity)
        finally:
            # Namespaced objects stay in their namespace; the class would be left in the cluster.
            await admin.request("DELETE", GATEWAY_CLASSES.object_path(namespace))


def _gateway_objects(namespace: str) -> list[tuple[Resource, dict[str, Any]]]:
    """One valid object of each kind the Gateway controllers read, as a user would create them."""
    parent = {"parentRefs": [{"name": "web"}]}
    backends = {"rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}
    specs: list[tuple[Resource, dict[str, Any]]] = [
        (GATEWAY_CLASSES, {"controllerName": ALB_CONTROLLER_NAME}),
        (
            GATEWAYS,
            {"gatewayClassName": namespace, "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
        ),
        (HTTP_ROUTES, parent),
        (GRPC_ROUTES, parent),
        (TCP_ROUTES, {**parent, **backends}),
        (UDP_ROUTES, {**parent, **backends}),
        (TLS_ROUTES, {**parent, **backends, "hostnames": ["web.example.com"]}),
        (
            REFERENCE_GRANTS,
            {
                "from": [{"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "namespace": namespace}],
                "to": [{"group": "", "kind": "Service"}],
            },
        ),
        (LOAD_BALANCER_CONFIGURATIONS, {"scheme": "internal"}),
        (TARGET_GROUP_CONFIGURATIONS, {"targetReference": {"name": "web"}}),
        (LISTENER_RULE_CONFIGURATIONS, {}),
    ]
    return [
        (
            resource,
            {
                "apiVersion": resource.api_version,
                "kind": resource.kind,
                "metadata": {"name": namespace if resource is GATEWAY_CLASSES else "web"},
                "spec": spec,
            },
        )
        for resource, spec in specs
    ]


async def rbac_mismatches(scene: RbacScene) -> list[str]:
    """Run every check; one line per check whose outcome differs from what it expects. Every check
    runs, so one failure shows the whole gap between the role and what the controller does."""
    mismatches = []
    for name, expected, check in controller_checks(scene):
        outcome = await _outcome(check)
        if outcome != expected:
            mismatches.append(f"{name}: expected {expected}, got {outcome}")
    return mismatches


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


def controller_checks(scene: RbacScene) -> list[Check]:
    """Everything the controller does on the API server, and what it must not be able to do."""
    c, ns, me = scene.controller, scene.namespace, scene.identity
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
        ("leader lease: create, read and renew", "allowed", lambda: _take_leader_lease(c, me)),
        ("target group binding: create, patch status, delete", "allowed", lambda: _own_binding(c, ns)),
        *_gateway_checks(scene),
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
            lambda: c.create(LEASES, {"metadata": {"name": me.leader_lease}}, ns),
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
                            "name": me.service_account,
                            "namespace": me.namespace,
                        }
                    ],
                },
            ),
        ),
    ]
    return checks


def _gateway_checks(scene: RbacScene) -> list[Check]:
    """The Gateway controllers read every Gateway API and gateway.k8s.aws kind, add their finalizer
    to Gateways and write the status of classes, Gateways and routes; nothing more."""
    c, ns = scene.controller, scene.namespace

    def name_of(resource: Resource) -> str:
        return scene.gateway_class if resource is GATEWAY_CLASSES else "web"

    def scope_of(resource: Resource) -> str | None:
        return ns if resource.namespaced else None

    checks: list[Check] = []
    for resource in GATEWAY_READS:
        checks += _list_and_watch(c, resource)
        checks.append(
            (
                f"get {resource}",
                "allowed",
                functools.partial(c.get, resource, name_of(resource), scope_of(resource)),
            )
        )
    gateway = GATEWAYS.object_path("web", ns)
    checks += [
        (
            "add a finalizer to a gateway",
            "allowed",
            lambda: _merge_patch(c, gateway, {"metadata": {"finalizers": [ALB_GATEWAY_FINALIZER]}}),
        ),
        ("remove a gateway's finalizer with an update", "allowed", lambda: _drop_finalizers(c, gateway)),
    ]
    for resource in GATEWAY_STATUS_WRITES:
        path = resource.object_path(name_of(resource), scope_of(resource)) + "/status"
        status = {"status": _gateway_status(resource, ns)}
        checks += [
            (f"get {resource.plural}/status", "allowed", functools.partial(c.request, "GET", path)),
            (
                f"update {resource.plural}/status",
                "allowed",
                functools.partial(_replace_status, c, path, status),
            ),
            (f"patch {resource.plural}/status", "allowed", functools.partial(_merge_patch, c, path, status)),
        ]
    checks += [
        ("delete a gateway", "denied", lambda: c.request("DELETE", gateway)),
        (
            "create an httproute",
            "denied",
            lambda: c.create(
                HTTP_ROUTES,
                {
                    "apiVersion": HTTP_ROUTES.api_version,
                    "kind": "HTTPRoute",
                    "metadata": {"name": "x"},
                    "spec": {"parentRefs": [{"name": "web"}]},
                },
                ns,
            ),
        ),
        (
            "patch an httproute (only its status is ours)",
            "denied",
            lambda: _merge_patch(c, HTTP_ROUTES.object_path("web", ns), {"metadata": {"labels": {"a": "b"}}}),
        ),
        (
            "update a gatewayclass (only its status is ours)",
            "denied",
            lambda: _replace(c, GATEWAY_CLASSES.object_path(scene.gateway_class)),
        ),
        (
            "update a loadbalancerconfiguration",
            "denied",
            lambda: _replace(c, LOAD_BALANCER_CONFIGURATIONS.object_path("web", ns)),
        ),
        (
            "patch a targetgroupconfiguration",
            "denied",
            lambda: _merge_patch(
                c, TARGET_GROUP_CONFIGURATIONS.object_path("web", ns), {"metadata": {"labels": {"a": "b"}}}
            ),
        ),
        (
            "patch loadbalancerconfiguration status",
            "denied",
            lambda: _merge_patch(
                c, LOAD_BALANCER_CONFIGURATIONS.object_path("web", ns) + "/status", {"status": {}}
            ),
        ),
        (
            "delete a referencegrant",
            "denied",
            lambda: c.request("DELETE", REFERENCE_GRANTS.object_path("web", ns)),
        ),
    ]
    return checks


def _accepted() -> dict[str, Any]:
    return {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def _gateway_status(resource: Resource, namespace: str) -> dict[str, Any]:
    """A status the CRD's schema accepts: conditions for classes and Gateways, a parent for routes."""
    if resource in (GATEWAY_CLASSES, GATEWAYS):
        return {"conditions": [_accepted()]}
    parent = {"parentRef": {"name": "web", "namespace": namespace}, "controllerName": ALB_CONTROLLER_NAME}
    return {"parents": [{**parent, "conditions": [_accepted()]}]}


async def _replace(client: KubeClient, path: str) -> None:
    """Read an object and write it back (PUT) with a label added."""
    current = await client.request("GET", path)
    current["metadata"].setdefault("labels", {})["reconciled"] = "yes"
    await client.request("PUT", path, body=current)


async def _drop_finalizers(client: KubeClient, path: str) -> None:
    current = await client.request("GET", path)
    current["metadata"]["finalizers"] = []
    await client.request("PUT", path, body=current)


async def _replace_status(client: KubeClient, status_path: str, body: dict[str, Any]) -> None:
    """What a status writer does: read the object through /status, then PUT it with its status."""
    current = await client.request("GET", status_path)
    current["status"] = body["status"]
    await client.request("PUT", status_path, body=current)


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


async def _take_leader_lease(client: KubeClient, identity: ControllerIdentity) -> None:
    """What LeaseLock does: read (absent), create, read, then renew with a PUT carrying the RV."""
    name, namespace = identity.leader_lease, identity.namespace
    try:
        await client.get(LEASES, name, namespace)
    except KubeApiError as error:
        if not error.is_not_found:
            raise
        await client.create(
            LEASES, {"metadata": {"name": name}, "spec": {"holderIdentity": "test"}}, namespace
        )
    lease = await client.get(LEASES, name, namespace)
    lease["spec"]["holderIdentity"] = "test-renewed"
    await client.replace(LEASES, name, lease, namespace)


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
