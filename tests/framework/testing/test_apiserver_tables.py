"""Server-side Table output, what `kubectl get` prints (conformance: the same columns and cells
on the stand-in and on a real kube-apiserver).

Ages are made deterministic by writing timestamps far enough in the past that the printed
duration stays the same for a minute ("30m", "20h"); creation ages are only checked for shape.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import yaml
from apiserver_test_helpers import raw_request, unique_name
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
# What kubectl sends: a Table if the server can, the object otherwise.
KUBECTL_ACCEPT = f"{TABLE},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
FRESH_AGE = re.compile(r"^\d+s$")
CRD_MANIFEST = pathlib.Path(__file__).parents[3] / "config/crd/elbv2.k8s.aws_targetgroupbindings.yaml"


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _table(api: client.ApiClient, path: str, accept: str = KUBECTL_ACCEPT) -> dict[str, Any]:
    status, body = await raw_request(api, "GET", path, accept=accept)
    assert status == 200, body
    assert body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1", body
    table: dict[str, Any] = body
    return table


def _columns(table: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [(c["name"], c["type"], c["format"], c["priority"]) for c in table["columnDefinitions"]]


def _rows(table: dict[str, Any]) -> dict[str, list[Any]]:
    """Cells by object name (the row's object is PartialObjectMetadata by default)."""
    return {row["object"]["metadata"]["name"]: row["cells"] for row in table["rows"]}


async def _post(api: client.ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created = await raw_request(
        api, "POST", path, body=json.dumps(body).encode(), content_type="application/json"
    )
    assert status == 201, created
    result: dict[str, Any] = created
    return result


async def _patch_status(api: client.ApiClient, path: str, status: dict[str, Any]) -> None:
    code, body = await raw_request(
        api,
        "PATCH",
        f"{path}/status",
        body=json.dumps({"status": status}).encode(),
        content_type="application/merge-patch+json",
    )
    assert code == 200, body


NAME = ("Name", "string", "name", 0)
AGE = ("Age", "string", "", 0)


async def test_events_table_both_apis(kube_client: client.ApiClient, namespace: str) -> None:
    core_path = f"/api/v1/namespaces/{namespace}/events"
    events_path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
    await _post(
        kube_client,
        core_path,
        {
            "metadata": {"name": "core-ev"},
            "involvedObject": {"kind": "Service", "name": "web", "namespace": namespace, "fieldPath": "spec"},
            "reason": "Failed",
            "message": "  it broke \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": _ago(hours=20),
            "lastTimestamp": _ago(minutes=30),
            "count": 3,
            "type": "Warning",
        },
    )
    new_style = {
        "metadata": {"name": "new-ev"},
        "eventTime": _micro_ago(hours=20),
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile",
        "reason": "Synced",
        "type": "Normal",
        "note": "hello",
        "regarding": {"kind": "Ingress", "name": "shop", "namespace": namespace},
    }
    await _post(kube_client, events_path, new_style)
    series = {
        **new_style,
        "metadata": {"name": "series-ev"},
        "reason": "Again",
        "series": {"count": 7, "lastObservedTime": _micro_ago(minutes=45)},
    }
    await _post(kube_client, events_path, series)
    expected_columns = [
        ("Last Seen", "string", "", 0),
        ("Type", "string", "", 0),
        ("Reason", "string", "", 0),
        ("Object", "string", "", 0),
        ("Subobject", "string", "", 1),
        ("Source", "string", "", 1),
        ("Message", "string", "", 0),
        ("First Seen", "string", "", 1),
        ("Count", "string", "", 1),
        ("Name", "string", "name", 1),
    ]
    source, kubelet = "example.com/controller, controller-0", "kubelet, node-1"
    expected_rows = {
        "core-ev": [
            "30m",
            "Warning",
            "Failed",
            "service/web",
            "spec",
            kubelet,
            "it broke",
            "20h",
            3,
            "core-ev",
        ],
        "new-ev": ["20h", "Normal", "Synced", "ingress/shop", "", source, "hello", "20h", 1, "new-ev"],
        "series-ev": ["45m", "Normal", "Again", "ingress/shop", "", source, "hello", "20h", 7, "series-ev"],
    }
    # One printer for both APIs: the real server prints events.k8s.io Events from the core type.
    for path in (core_path, events_path):
        table = await _table(kube_client, path)
        assert _columns(table) == expected_columns
        assert _rows(table) == expected_rows, path
    single = await _table(kube_client, f"{events_path}/new-ev")
    assert _rows(single) == {"new-ev": expected_rows["new-ev"]}


async def test_workload_and_network_tables(kube_client: client.ApiClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}"
    web = await _post(
        kube_client,
        f"{base}/services",
        {
            "metadata": {"name": "web"},
            "spec": {
                "type": "NodePort",
                "selector": {"tier": "front", "app": "web"},
                "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}],
            },
        },
    )
    await _post(
        kube_client,
        f"{base}/services",
        {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}},
    )
    await _post(
        kube_client,
        f"{base}/services",
        {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}},
    )
    await _patch_status(
        kube_client,
        f"{base}/services/lb",
        {"loadBalancer": {"ingress": [{"hostname": "b.example.com"}, {"ip": "192.0.2.1"}]}},
    )
    services = await _table(kube_client, f"{base}/services")
    assert _columns(services) == [
        NAME,
        ("Type", "string", "", 0),
        ("Cluster-IP", "string", "", 0),
        ("External-IP", "string", "", 0),
        ("Port(s)", "string", "", 0),
        AGE,
        ("Selector", "string", "", 1),
    ]
    rows = _rows(services)
    node_ports = [p["nodePort"] for p in web["spec"]["ports"]]
    assert rows["web"][:5] == [
        "web",
        "NodePort",
        web["spec"]["clusterIPs"][0],
        "<none>",
        f"80:{node_ports[0]}/TCP,53:{node_ports[1]}/UDP",
    ]
    assert FRESH_AGE.match(rows["web"][5]) and rows["web"][6] == "app=web,tier=front"
    assert rows["lb"][1] == "LoadBalancer" and rows["lb"][3] == "192.0.2.1,b.example.com"
    assert rows["ext"][1:5] == ["ExternalName", "<none>", "db.example.com", "<none>"]

    sidecar = {"name": "sidecar", "image": "example.com/side:1", "restartPolicy": "Always"}
    await _post(
        kube_client,
        f"{base}/pods",
        {
            "metadata": {"name": "app"},
            "spec": {
                "nodeName": "node-a",
                "readinessGates": [{"conditionType": "example.com/ready"}],
                "initContainers": [sidecar],
                "containers": [
                    {"name": "app", "image": "example.com/app:1"},
                    {"name": "two", "image": "example.com/two:1"},
                ],
            },
        },
    )
    pending = _rows(await _table(kube_client, f"{base}/pods"))["app"]
    assert pending[:4] == ["app", "0/3", "Pending", "0"] and pending[5:] == [
        "<none>",
        "node-a",
        "<none>",
        "0/1",
    ]
    started = _ago(hours=1)
    await _patch_status(
        kube_client,
        f"{base}/pods/app",
        {
            "phase": "Running",
            "podIP": "10.1.0.5",
            "podIPs": [{"ip": "10.1.0.5"}],
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "example.com/ready", "status": "True", "lastTransitionTime": started},
            ],
            "initContainerStatuses": [
                {
                    "name": "sidecar",
                    "image": "example.com/side:1",
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": started}},
                }
            ],
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "example.com/app:1",
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 2,
                    "state": {"running": {"startedAt": started}},
                    "lastState": {
                        "terminated": {"exitCode": 1, "startedAt": started, "finishedAt": _ago(minutes=30)}
                    },
                },
                {
                    "name": "two",
                    "image": "example.com/two:1",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                },
            ],
        },
    )
    pods = await _table(kube_client, f"{base}/pods")
    assert _columns(pods) == [
        NAME,
        ("Ready", "string", "", 0),
        ("Status", "string", "", 0),
        ("Restarts", "string", "", 0),
        AGE,
        ("IP", "string", "", 1),
        ("Node", "string", "", 1),
        ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ]
    running = _rows(pods)["app"]
    assert running[:4] == ["app", "2/3", "CrashLoopBackOff", "2 (30m ago)"]
    assert running[5:] == ["10.1.0.5", "node-a", "<none>", "1/1"]

    await _post(
        kube_client,
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        {
            "metadata": {"name": "web-abc"},
            "addressType": "IPv4",
            "ports": [{"name": n, "port": p} for n, p in (("a", 80), ("b", 53), ("c", 1), ("d", 2))],
            "endpoints": [{"addresses": [f"10.0.0.{i}"]} for i in range(1, 5)],
        },
    )
    await _post(
        kube_client,
        f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
        {"metadata": {"name": "empty"}, "addressType": "IPv4"},
    )
    slices = await _table(kube_client, f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices")
    assert _columns(slices) == [
        NAME,
        ("AddressType", "string", "", 0),
        ("Ports", "string", "", 0),
        ("Endpoints", "string", "", 0),
        AGE,
    ]
    rows = _rows(slices)
    assert rows["web-abc"][:4] == [
        "web-abc",
        "IPv4",
        "80,53,1 + 1 more...",
        "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
    ]
    assert rows["empty"][:4] == ["empty", "IPv4", "<unset>", "<unset>"]


async def test_cluster_scoped_tables(kube_client: client.ApiClient, namespace: str) -> None:
    node_name, class_name = unique_name("node"), unique_name("class")
    core = client.CoreV1Api(kube_client)
    networking = client.NetworkingV1Api(kube_client)
    await _post(
        kube_client,
        "/api/v1/nodes",
        {
            "metadata": {
                "name": node_name,
                "labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "infra"},
            },
            "spec": {"unschedulable": True},
        },
    )
    await _post(
        kube_client,
        "/apis/networking.k8s.io/v1/ingressclasses",
        {
            "metadata": {"name": class_name},
            "spec": {
                "controller": "ingress.k8s.aws/alb",
                "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "params"},
            },
        },
    )
    try:
        nodes = await _table(kube_client, f"/api/v1/nodes/{node_name}")
        assert _columns(nodes) == [
            NAME,
            ("Status", "string", "", 0),
            ("Roles", "string", "", 0),
            AGE,
            ("Version", "string", "", 0),
            ("Internal-IP", "string", "", 1),
            ("External-IP", "string", "", 1),
            ("OS-Image", "string", "", 1),
            ("Kernel-Version", "string", "", 1),
            ("Container-Runtime", "string", "", 1),
        ]
        cells = _rows(nodes)[node_name]
        assert cells[:3] == [node_name, "Unknown,SchedulingDisabled", "infra,worker"]
        assert cells[4:] == ["", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]

        classes = await _table(kube_client, f"/apis/networking.k8s.io/v1/ingressclasses/{class_name}")
        assert _columns(classes) == [
            NAME,
            ("Controller", "string", "", 0),
            ("Parameters", "string", "", 0),
            AGE,
        ]
        assert _rows(classes)[class_name][:3] == [
            class_name,
            "ingress.k8s.aws/alb",
            "IngressClassParams.elbv2.k8s.aws/params",
        ]
        backend = {"service": {"name": "web", "port": {"number": 80}}}
        await _post(
            kube_client,
            f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses",
            {
                "metadata": {"name": "shop"},
                "spec": {
                    "ingressClassName": class_name,
                    "tls": [{"hosts": ["a.example.com"]}],
                    "rules": [
                        {
                            "host": "a.example.com",
                            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                        },
                        {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}},
                        *({"host": f"{h}.example.com"} for h in "bcd"),
                    ],
                },
            },
        )
        ingresses = await _table(kube_client, f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses")
        assert _columns(ingresses) == [
            NAME,
            ("Class", "string", "", 0),
            ("Hosts", "string", "", 0),
            ("Address", "string", "", 0),
            ("Ports", "string", "", 0),
            AGE,
        ]
        assert _rows(ingresses)["shop"][:5] == [
            "shop",
            class_name,
            "a.example.com,b.example.com,c.example.com + 2 more...",
            "",
            "80, 443",
        ]
        # The default class says so. (Marked last and removed at once: on a real server the
        # DefaultIngressClass admission gives every new class-less Ingress the default class.)
        await networking.patch_ingress_class(
            class_name, {"metadata": {"annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}}}
        )
        classes = await _table(kube_client, f"/apis/networking.k8s.io/v1/ingressclasses/{class_name}")
        assert _rows(classes)[class_name][0] == f"{class_name} (default)"
    finally:
        await core.delete_node(node_name)
        await networking.delete_ingress_class(class_name)
    namespaces = await _table(kube_client, f"/api/v1/namespaces/{namespace}")
    assert _columns(namespaces) == [NAME, ("Status", "string", "", 0), AGE]
    assert _rows(namespaces)[namespace][:2] == [namespace, "Active"]


async def test_lease_config_map_secret_tables(kube_client: client.ApiClient, namespace: str) -> None:
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
    await _post(kube_client, leases, {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-a"}})
    await _post(kube_client, leases, {"metadata": {"name": "free"}, "spec": {}})
    table = await _table(kube_client, leases)
    assert _columns(table) == [NAME, ("Holder", "string", "", 0), AGE]
    assert {name: cells[:2] for name, cells in _rows(table).items()} == {
        "free": ["free", ""],
        "leader": ["leader", "pod-a"],
    }
    base = f"/api/v1/namespaces/{namespace}"
    await _post(
        kube_client,
        f"{base}/configmaps",
        {"metadata": {"name": "cm"}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}},
    )
    await _post(
        kube_client,
        f"{base}/secrets",
        {"metadata": {"name": "s"}, "type": "example.com/x", "data": {"a": "AA=="}},
    )
    config_maps = await _table(kube_client, f"{base}/configmaps/cm")
    assert _columns(config_maps) == [NAME, ("Data", "string", "", 0), AGE]
    assert _rows(config_maps)["cm"][:2] == ["cm", 2]
    secrets = await _table(kube_client, f"{base}/secrets/s")
    assert _columns(secrets) == [NAME, ("Type", "string", "", 0), ("Data", "string", "", 0), AGE]
    assert _rows(secrets)["s"][:3] == ["s", "example.com/x", 1]


async def test_row_object_and_list_metadata(kube_client: client.ApiClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name in ("a", "b", "c"):
        await _post(kube_client, base, {"metadata": {"name": name}, "data": {"k": "v"}})
    status, plain = await raw_request(kube_client, "GET", f"{base}/a")
    assert status == 200
    default = await _table(kube_client, f"{base}/a")
    assert default["metadata"] == {"resourceVersion": plain["metadata"]["resourceVersion"]}
    assert default["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": plain["metadata"],
    }
    full = await _table(kube_client, f"{base}/a?includeObject=Object")
    assert full["rows"][0]["object"] == plain
    bare = await _table(kube_client, f"{base}?includeObject=None")
    assert [row["object"] for row in bare["rows"]] == [None, None, None]
    assert [row["cells"][:2] for row in bare["rows"]] == [["a", 1], ["b", 1], ["c", 1]]
    page = await _table(kube_client, f"{base}?limit=2")
    assert [row["cells"][0] for row in page["rows"]] == ["a", "b"]
    assert page["metadata"]["continue"] and page["metadata"]["remainingItemCount"] == 1
    # An empty list still has its columns, and `rows: []`.
    empty = await _table(kube_client, f"{base}?labelSelector=missing")
    assert empty["rows"] == [] and _columns(empty)[0] == NAME
    status, body = await raw_request(kube_client, "GET", f"{base}/a?includeObject=All", accept=TABLE)
    assert (status, body["reason"], body["message"]) == (
        400,
        "BadRequest",
        'Unable to convert to Table as requested: includeObject: Invalid value: "All": must be '
        "'Metadata', 'Object', 'None', or empty",
    )
    # A client that does not ask for a Table gets the object.
    status, body = await raw_request(kube_client, "GET", f"{base}/a", accept="application/json")
    assert body["kind"] == "ConfigMap"


async def test_watch_as_table(kube_client: client.ApiClient, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    await _post(kube_client, base, {"metadata": {"name": "watched"}, "data": {"k": "v"}})
    configuration = kube_client.configuration
    headers = {"Accept": KUBECTL_ACCEPT}
    for setting in (await configuration.auth_settings()).values():
        headers[setting["key"]] = setting["value"]
    response = await kube_client.rest_client.pool_manager.request(
        "GET", f"{configuration.host}{base}?watch=1&timeoutSeconds=5", headers=headers
    )
    events = []
    async with response:
        for _ in range(2):
            line = await asyncio.wait_for(response.content.readline(), 5)
            events.append(json.loads(line))
            if len(events) == 1:
                await raw_request(
                    kube_client,
                    "PATCH",
                    f"{base}/watched",
                    body=b'{"data":{"k2":"v2"}}',
                    content_type="application/merge-patch+json",
                )
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED"]
    first, second = (e["object"] for e in events)
    assert first["kind"] == second["kind"] == "Table"
    # Only the first event carries the column definitions.
    assert _columns(first) == [NAME, ("Data", "string", "", 0), AGE]
    assert second["columnDefinitions"] is None
    assert [first["rows"][0]["cells"][:2], second["rows"][0]["cells"][:2]] == [["watched", 1], ["watched", 2]]
    assert second["metadata"]["resourceVersion"] == second["rows"][0]["object"]["metadata"]["resourceVersion"]


@pytest_asyncio.fixture
async def printer_crd(kube_client: client.ApiClient) -> AsyncIterator[dict[str, Any]]:
    """config/crd's TargetGroupBinding CRD under a group of this test's own (so it cannot clash
    with the real one), plus a second version-less CRD with typed columns of every kind."""
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = yaml.safe_load(CRD_MANIFEST.read_text())
    crd["metadata"]["name"] = f"targetgroupbindings.{group}"
    crd["spec"]["group"] = group
    extensions = client.ApiextensionsV1Api(kube_client)
    await extensions.create_custom_resource_definition(crd)
    await _established(extensions, crd["metadata"]["name"])
    yield crd
    try:
        await extensions.delete_custom_resource_definition(crd["metadata"]["name"])
    except ApiException as exc:
        if exc.status != 404:
            raise


async def _established(extensions: client.ApiextensionsV1Api, name: str) -> None:
    for _ in range(100):
        current = await extensions.read_custom_resource_definition(name)
        if any(c.type == "Established" and c.status == "True" for c in current.status.conditions or ()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never became Established")


async def test_custom_resource_printer_columns(
    kube_client: client.ApiClient, namespace: str, printer_crd: dict[str, Any]
) -> None:
    group = printer_crd["spec"]["group"]
    base = f"/apis/{group}/v1beta1/namespaces/{namespace}/targetgroupbindings"
    arn = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/x/1"
    for name, port, extra in (("numbered", 80, {"targetType": "ip"}), ("named", "http", {})):
        body = {
            "apiVersion": f"{group}/v1beta1",
            "kind": "TargetGroupBinding",
            "metadata": {"name": name},
            "spec": {"serviceRef": {"name": "web", "port": port}, "targetGroupARN": arn, **extra},
        }
        await _post(kube_client, base, body)
    table = await _table(kube_client, base)
    assert [(c["name"], c["type"], c["priority"], c["description"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0, table["columnDefinitions"][0]["description"]),
        ("SERVICE-NAME", "string", 0, "The Kubernetes Service's name"),
        ("SERVICE-PORT", "string", 0, "The Kubernetes Service's port"),
        ("TARGET-TYPE", "string", 0, "The AWS TargetGroup's TargetType"),
        ("ARN", "string", 1, "The AWS TargetGroup's Amazon Resource Name"),
        (
            "AGE",
            "date",
            0,
            "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp",
        ),
    ]
    rows = _rows(table)
    assert rows["numbered"][:5] == ["numbered", "web", "80", "ip", arn]
    assert rows["named"][:5] == ["named", "web", "http", None, arn]
    # Date columns are printed by the server, like the built-in AGE columns.
    assert FRESH_AGE.match(rows["numbered"][5])

    crds = await _table(
        kube_client,
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{printer_crd['metadata']['name']}",
    )
    assert _columns(crds) == [
        NAME,
        ("Scope", "string", "", 0),
        ("Versions", "string", "", 0),
        ("Created At", "date", "", 0),
        ("Group", "string", "", 1),
        ("Kind", "string", "", 1),
        ("ShortNames", "string", "", 1),
        ("Established", "boolean", "", 1),
    ]
    _, stored = await raw_request(
        kube_client,
        "GET",
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{printer_crd['metadata']['name']}",
    )
    assert _rows(crds)[printer_crd["metadata"]["name"]] == [
        printer_crd["metadata"]["name"],
        "Namespaced",
        "v1beta1(storage)",
        stored["metadata"]["creationTimestamp"],
        group,
        "TargetGroupBinding",
        "",
        True,
    ]


@pytest.mark.parametrize("columns", [False, True], ids=["default-columns", "typed-columns"])
async def test_generic_custom_resource_columns(
    kube_client: client.ApiClient, namespace: str, columns: bool
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }
    if columns:
        version["additionalPrinterColumns"] = [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
            {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
            {"name": "Labels", "type": "string", "jsonPath": ".spec.labels"},
            {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            {"name": "First", "type": "string", "jsonPath": ".spec.items[0]"},
            {"name": "Items", "type": "string", "jsonPath": ".spec.items"},
            {"name": "Seen", "type": "date", "jsonPath": ".status.seen", "format": "date-time"},
            {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing"},
            {"name": "WrongType", "type": "integer", "jsonPath": ".spec.enabled"},
        ]
    crd = {
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [version],
        },
    }
    extensions = client.ApiextensionsV1Api(kube_client)
    await extensions.create_custom_resource_definition(crd)
    try:
        await _established(extensions, f"gadgets.{group}")
        base = f"/apis/{group}/v1/namespaces/{namespace}/gadgets"
        gadget = {
            "apiVersion": f"{group}/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {
                "replicas": 3,
                "ratio": 0.5,
                "enabled": True,
                "labels": {"b": "2", "a": "x"},
                "items": ["first", "second"],
            },
            "status": {
                "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
                "seen": _ago(minutes=30),
            },
        }
        await _post(kube_client, base, gadget)
        table = await _table(kube_client, base)
        if not columns:
            assert _columns(table) == [NAME, ("Age", "date", "", 0)]
            name, age = _rows(table)["g1"]
            assert name == "g1" and FRESH_AGE.match(age)
            return
        assert [
            (c["name"], c["type"], c["format"], c["priority"]) for c in table["columnDefinitions"][1:]
        ] == [
            ("Replicas", "integer", "", 0),
            ("Ratio", "number", "", 1),
            ("Enabled", "boolean", "", 0),
            ("Labels", "string", "", 0),
            ("Ready", "string", "", 0),
            ("First", "string", "", 0),
            ("Items", "string", "", 0),
            ("Seen", "date", "date-time", 0),
            ("Missing", "string", "", 0),
            ("WrongType", "integer", "", 0),
        ]
        assert _rows(table)["g1"][:7] == ["g1", 3, 0.5, True, '{"a":"x","b":"2"}', "True", "first"]
        assert _rows(table)["g1"][7:] == ['["first","second"]', "30m", None, None]
    finally:
        await extensions.delete_custom_resource_definition(f"gadgets.{group}")
