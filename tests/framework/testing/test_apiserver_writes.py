"""Write semantics, driven only through kubernetes_asyncio over HTTP (conformance: also valid
against a real kube-apiserver)."""

from __future__ import annotations

import json

import pytest
from apiserver_test_helpers import raw_json, unique_name
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException


def _configmap(name: str, data: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data or {"k": "v"})


def _status(exc: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.body)
    return body


async def test_create_fills_server_fields_and_rejects_duplicates(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_config_map(namespace, _configmap("cm"))
    assert created.metadata.namespace == namespace
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.managed_fields and created.metadata.managed_fields[0].time is not None
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map(namespace, _configmap("cm"))
    assert info.value.status == 409
    body = _status(info.value)
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "cm" already exists'
    assert body["details"] == {"name": "cm", "kind": "configmaps"}


async def test_generate_name(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
    first = await core.create_namespaced_config_map(namespace, body)
    second = await core.create_namespaced_config_map(namespace, body)
    assert first.metadata.name.startswith("gen-") and len(first.metadata.name) == len("gen-") + 5
    assert first.metadata.name != second.metadata.name


async def test_create_in_missing_namespace_is_404(kube_client: client.ApiClient) -> None:
    missing = unique_name("missing")
    with pytest.raises(ApiException) as info:
        await client.CoreV1Api(kube_client).create_namespaced_config_map(missing, _configmap("cm"))
    assert info.value.status == 404
    body = _status(info.value)
    assert body["message"] == f'namespaces "{missing}" not found'
    assert body["details"] == {"name": missing, "kind": "namespaces"}


async def test_invalid_name_is_422_with_causes(kube_client: client.ApiClient, namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        await client.CoreV1Api(kube_client).create_namespaced_config_map(namespace, _configmap("Bad_Name"))
    assert info.value.status == 422
    body = _status(info.value)
    assert body["reason"] == "Invalid"
    assert str(body["message"]).startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"'
    )
    details = body["details"]
    assert isinstance(details, dict)
    assert details["kind"] == "ConfigMap"
    assert details["causes"][0]["field"] == "metadata.name"
    assert details["causes"][0]["reason"] == "FieldValueInvalid"


async def test_replace_with_stale_resource_version_conflicts(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    original = await core.create_namespaced_config_map(namespace, _configmap("cm"))
    original.data = {"k": "v2"}
    updated = await core.replace_namespaced_config_map("cm", namespace, original)
    assert int(updated.metadata.resource_version) > int(original.metadata.resource_version)
    original.data = {"k": "v3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as info:
        await core.replace_namespaced_config_map("cm", namespace, original)
    assert info.value.status == 409
    body = _status(info.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


async def test_noop_update_keeps_resource_version(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_config_map(namespace, _configmap("cm"))
    same = await core.replace_namespaced_config_map("cm", namespace, created)
    assert same.metadata.resource_version == created.metadata.resource_version
    patched = await core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "v"}})
    assert patched.metadata.resource_version == created.metadata.resource_version


async def test_finalizers_hold_deletion_and_merge_as_a_set(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    body = _configmap("cm")
    body.metadata.finalizers = ["example.com/a"]
    await core.create_namespaced_config_map(namespace, body)
    # Strategic merge unions finalizers instead of replacing the list; as on a real server, the
    # patch's items come first and the items only the server had follow.
    merged = await core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"finalizers": ["example.com/b"]}}
    )
    assert merged.metadata.finalizers == ["example.com/b", "example.com/a"]
    code, deleting = await raw_json(
        core.delete_namespaced_config_map("cm", namespace, _preload_content=False)
    )
    assert code == 200
    assert deleting["metadata"]["deletionTimestamp"]
    still_there = await core.read_namespaced_config_map("cm", namespace)
    assert still_there.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "cm", namespace, {"metadata": {"finalizers": ["example.com/c"]}}
        )
    assert info.value.status == 422
    assert "no new finalizers can be added if the object is being deleted" in str(
        _status(info.value)["message"]
    )
    # Removing the finalizers with a JSON patch guarded by a test on the resourceVersion finishes it.
    current = await core.read_namespaced_config_map("cm", namespace)
    await core.patch_namespaced_config_map(
        "cm",
        namespace,
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": current.metadata.resource_version},
            {"op": "remove", "path": "/metadata/finalizers"},
        ],
    )
    with pytest.raises(ApiException) as gone:
        await core.read_namespaced_config_map("cm", namespace)
    assert gone.value.status == 404


async def test_json_patch_failed_test_is_422(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("cm"))
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "cm", namespace, [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
        )
    assert info.value.status == 422
    assert _status(info.value)["reason"] == "Invalid"


async def test_merge_patch_with_stale_resource_version_conflicts(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_config_map(namespace, _configmap("cm"))
    await core.patch_namespaced_config_map("cm", namespace, {"data": {"k": "changed"}})
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_config_map(
            "cm",
            namespace,
            {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"x": "y"}},
        )
    assert info.value.status == 409


async def test_delete_without_finalizers_returns_success_status(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_config_map(namespace, _configmap("cm"))
    status = await core.delete_namespaced_config_map("cm", namespace)
    assert status.status == "Success"
    assert status.details.name == "cm" and status.details.uid == created.metadata.uid
    with pytest.raises(ApiException) as info:
        await core.delete_namespaced_config_map("cm", namespace)
    assert info.value.status == 404
    assert _status(info.value)["message"] == 'configmaps "cm" not found'


async def test_delete_precondition_on_uid(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("cm"))
    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid="00000000-0000-0000-0000-000000000000")
    )
    with pytest.raises(ApiException) as info:
        await core.delete_namespaced_config_map("cm", namespace, body=options)
    assert info.value.status == 409
    current = await core.read_namespaced_config_map("cm", namespace)
    assert _status(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on ConfigMap "cm": the UID in the precondition '
        f"(00000000-0000-0000-0000-000000000000) does not match the UID in record ({current.metadata.uid}). "
        "The object might have been deleted and then recreated",
        "reason": "Conflict",
        "details": {"name": "cm", "kind": "ConfigMap"},
        "code": 409,
    }
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1"))
    with pytest.raises(ApiException) as modified:
        await core.delete_namespaced_config_map("cm", namespace, body=stale)
    assert modified.value.status == 409
    assert _status(modified.value)["message"] == (
        'Operation cannot be fulfilled on ConfigMap "cm": the ResourceVersion in the precondition (1) '
        f"does not match the ResourceVersion in record ({current.metadata.resource_version}). "
        "The object might have been modified"
    )


def _pod(name: str) -> client.V1Pod:
    container = client.V1Container(name="app", image="example.com/app:1")
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(containers=[container])
    )


async def test_status_subresource_is_isolated_both_ways(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_pod(namespace, _pod("p"))
    # A status write cannot change the spec (metadata rules differ per built-in type, so they are
    # checked on custom resources, where the rule is uniform)...
    after_status = await core.patch_namespaced_pod_status(
        "p", namespace, {"spec": {"activeDeadlineSeconds": 30}, "status": {"phase": "Running"}}
    )
    assert after_status.status.phase == "Running"
    assert after_status.spec.active_deadline_seconds is None
    # ...and a main-resource write cannot change status.
    after_main = await core.patch_namespaced_pod(
        "p", namespace, {"metadata": {"labels": {"app": "x"}}, "status": {"phase": "Failed"}}
    )
    assert after_main.metadata.labels["app"] == "x"
    assert after_main.status.phase == "Running"


async def test_status_conditions_merge_by_type(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_pod(namespace, _pod("p"))
    now = "2026-01-01T00:00:00Z"
    await core.patch_namespaced_pod_status(
        "p",
        namespace,
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False", "lastTransitionTime": now},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                ]
            }
        },
    )
    pod = await core.patch_namespaced_pod_status(
        "p",
        namespace,
        {"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}},
    )
    assert {c.type: c.status for c in pod.status.conditions} == {"Ready": "True", "PodScheduled": "True"}


async def test_pod_defaults_and_field_selector_on_phase(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_pod(namespace, _pod("p1"))
    assert created.spec.restart_policy == "Always"
    assert created.spec.containers[0].termination_message_path == "/dev/termination-log"
    await core.create_namespaced_pod(namespace, _pod("p2"))
    await core.patch_namespaced_pod_status("p2", namespace, {"status": {"phase": "Running"}})
    running = await core.list_namespaced_pod(namespace, field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["p2"]


async def test_generation_bumps_on_spec_change_only(kube_client: client.ApiClient, namespace: str) -> None:
    networking = client.NetworkingV1Api(kube_client)
    backend = client.V1IngressBackend(
        service=client.V1IngressServiceBackend(name="svc", port=client.V1ServiceBackendPort(number=80))
    )
    ingress = client.V1Ingress(
        metadata=client.V1ObjectMeta(name="ing"), spec=client.V1IngressSpec(default_backend=backend)
    )
    created = await networking.create_namespaced_ingress(namespace, ingress)
    assert created.metadata.generation == 1
    labelled = await networking.patch_namespaced_ingress(
        "ing", namespace, {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled.metadata.generation == 1
    status = await networking.patch_namespaced_ingress_status(
        "ing", namespace, {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}
    )
    assert status.metadata.generation == 1
    changed = await networking.patch_namespaced_ingress(
        "ing", namespace, {"spec": {"ingressClassName": "alb"}}
    )
    assert changed.metadata.generation == 2


async def test_service_defaults_and_allocations(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    spec = client.V1ServiceSpec(
        type="LoadBalancer",
        external_traffic_policy="Local",
        selector={"app": "web"},
        ports=[client.V1ServicePort(name="http", port=80), client.V1ServicePort(name="https", port=443)],
    )
    lb = await core.create_namespaced_service(
        namespace, client.V1Service(metadata=client.V1ObjectMeta(name="lb"), spec=spec)
    )
    assert lb.spec.cluster_ip and lb.spec.cluster_ips == [lb.spec.cluster_ip]
    assert lb.spec.session_affinity == "None"
    node_ports = [p.node_port for p in lb.spec.ports]
    assert all(30000 <= p <= 32767 for p in node_ports)
    assert 30000 <= lb.spec.health_check_node_port <= 32767
    assert len({*node_ports, lb.spec.health_check_node_port}) == 3
    assert [(p.protocol, p.target_port) for p in lb.spec.ports] == [("TCP", 80), ("TCP", 443)]
    plain = await core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="plain"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
        ),
    )
    assert plain.spec.type == "ClusterIP" and plain.spec.cluster_ip != lb.spec.cluster_ip
    assert plain.spec.ports[0].node_port is None
    # A taken nodePort is refused.
    clash = client.V1Service(
        metadata=client.V1ObjectMeta(name="clash"),
        spec=client.V1ServiceSpec(
            type="NodePort", ports=[client.V1ServicePort(port=80, node_port=node_ports[0])]
        ),
    )
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_service(namespace, clash)
    assert info.value.status == 422
    assert "provided port is already allocated" in str(_status(info.value)["message"])
    # Updates that omit the allocated values keep them.
    replaced = await core.replace_namespaced_service(
        "plain",
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="plain", labels={"x": "y"}),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
        ),
    )
    assert replaced.spec.cluster_ip == plain.spec.cluster_ip


async def test_service_port_merge_key_is_port(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="svc"),
            spec=client.V1ServiceSpec(
                ports=[client.V1ServicePort(name="a", port=80), client.V1ServicePort(name="b", port=81)]
            ),
        ),
    )
    patched = await core.patch_namespaced_service(
        "svc", namespace, {"spec": {"ports": [{"port": 81, "targetPort": 9090}]}}
    )
    assert [(p.port, p.target_port) for p in patched.spec.ports] == [(80, 80), (81, 9090)]


async def test_owner_references_merge_by_uid(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    await core.create_namespaced_config_map(namespace, _configmap("cm"))

    def owner(uid: str, name: str) -> dict[str, str]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": uid}

    await core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"ownerReferences": [owner("u1", "a")]}}
    )
    patched = await core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"ownerReferences": [owner("u2", "b"), owner("u1", "renamed")]}}
    )
    # Merged element-wise by uid, in the patch's order (a real server's strategic merge order).
    assert [(o.uid, o.name) for o in patched.metadata.owner_references] == [("u2", "b"), ("u1", "renamed")]


async def test_strategic_merge_list_order(kube_client: client.ApiClient, namespace: str) -> None:
    """apimachinery's order for merged lists: the patch's (or `$setElementOrder`'s) items in its
    order, each item only the server had placed before the first patch item it preceded."""
    core = client.CoreV1Api(kube_client)
    body = _configmap("cm")
    body.metadata.finalizers = ["e.io/a", "e.io/b", "e.io/c"]
    await core.create_namespaced_config_map(namespace, body)
    merged = await core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"finalizers": ["e.io/c", "e.io/d", "e.io/a"]}}
    )
    assert merged.metadata.finalizers == ["e.io/b", "e.io/c", "e.io/d", "e.io/a"]
    ordered = await core.patch_namespaced_config_map(
        "cm", namespace, {"metadata": {"$setElementOrder/finalizers": ["e.io/a", "e.io/c"]}}
    )
    assert ordered.metadata.finalizers == ["e.io/b", "e.io/d", "e.io/a", "e.io/c"]
    await core.patch_namespaced_config_map(
        "cm", namespace, [{"op": "remove", "path": "/metadata/finalizers"}]
    )


async def test_finalizer_names_are_validated(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    body = _configmap("cm")
    body.metadata.finalizers = ["a", "Ab/c", "orphan", "example.com/ok"]
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map(namespace, body)
    assert info.value.status == 422
    causes = _status(info.value)["details"]["causes"]  # type: ignore[index]
    # The qualified-name check reports against the list; the built-in types' own rule (a standard
    # finalizer or a domain-qualified name) against the item.
    assert [(c["field"], c["message"].split(": ", 2)[1]) for c in causes] == [
        ("metadata.finalizers", '"Ab/c"'),
        ("metadata.finalizers[0]", '"a"'),
    ]
    assert causes[0]["message"].endswith(
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert causes[1]["message"].endswith(
        "name is neither a standard finalizer name nor is it fully qualified"
    )


async def test_namespace_deletion_removes_contents(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    name = unique_name("ns")
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    created = await core.read_namespace(name)
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == name
    await core.create_namespaced_config_map(name, _configmap("cm"))
    code, deleting = await raw_json(core.delete_namespace(name, _preload_content=False))
    assert code == 200
    assert deleting["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_config_map(name, _configmap("late"))
    assert info.value.status in (403, 404)


async def test_load_balancer_ingress_only_on_load_balancer_services(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    ports = [client.V1ServicePort(port=80)]
    for name, service_type in (("plain", "ClusterIP"), ("lb", "LoadBalancer")):
        await core.create_namespaced_service(
            namespace,
            client.V1Service(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1ServiceSpec(type=service_type, ports=ports),
            ),
        )
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}}
    with pytest.raises(ApiException) as info:
        await core.patch_namespaced_service_status("plain", namespace, status)
    assert info.value.status == 422
    assert _status(info.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Service "plain" is invalid: status.loadBalancer.ingress: Forbidden: may only be used '
        "when `spec.type` is 'LoadBalancer'",
        "reason": "Invalid",
        "details": {
            "name": "plain",
            "kind": "Service",
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": "Forbidden: may only be used when `spec.type` is 'LoadBalancer'",
                    "field": "status.loadBalancer.ingress",
                }
            ],
        },
        "code": 422,
    }
    # A LoadBalancer service takes it. Switching the service to another type clears it (the
    # address belongs to a load balancer the service no longer has) and drops what only the old
    # type used and the client left untouched: node ports, externalTrafficPolicy.
    lb = await core.patch_namespaced_service_status("lb", namespace, status)
    assert lb.status.load_balancer.ingress[0].hostname == "lb.example.com"
    assert lb.spec.ports[0].node_port and lb.spec.external_traffic_policy == "Cluster"
    switched = await core.patch_namespaced_service("lb", namespace, {"spec": {"type": "ClusterIP"}})
    assert switched.spec.type == "ClusterIP"
    assert switched.spec.ports[0].node_port is None and switched.spec.external_traffic_policy is None
    assert switched.spec.allocate_load_balancer_node_ports is None
    assert not switched.status.load_balancer.ingress
