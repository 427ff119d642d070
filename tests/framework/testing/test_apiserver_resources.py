"""The other built-in resources our controller touches: events (both APIs), endpoints,
EndpointSlices, IngressClasses, nodes, secrets, service accounts; delete-collection (conformance)."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from apiserver_test_helpers import unique_name
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException


async def test_core_and_events_api_events(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    involved = client.V1ObjectReference(kind="Service", name="web", namespace=namespace, api_version="v1")
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name="web."),
        involved_object=involved,
        reason="Synced",
        message="ok",
        type="Normal",
    )
    await core.create_namespaced_event(namespace, event)
    other = client.V1ObjectReference(kind="Service", name="db", namespace=namespace, api_version="v1")
    await core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name="db."),
            involved_object=other,
            reason="Synced",
            type="Warning",
        ),
    )
    selected = await core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=web,type=Normal"
    )
    assert [e.involved_object.name for e in selected.items] == ["web"]
    # An event must live in its involved object's namespace.
    wrong = client.V1ObjectReference(kind="Service", name="x", namespace="elsewhere", api_version="v1")
    with pytest.raises(ApiException) as info:
        await core.create_namespaced_event(
            namespace,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name="x."), involved_object=wrong, reason="R"
            ),
        )
    assert info.value.status == 422
    events = client.EventsV1Api(kube_client)

    def new_style(generate_name: str) -> client.EventsV1Event:
        return client.EventsV1Event(
            metadata=client.V1ObjectMeta(generate_name=generate_name),
            event_time=datetime.datetime.now(datetime.UTC),
            reporting_controller="example.com/controller",
            reporting_instance="controller-0",
            action="Reconcile",
            reason="Synced",
            type="Normal",
            regarding=involved,
            note="done",
        )

    created = await events.create_namespaced_event(namespace, new_style("web-"))
    assert created.metadata.name.startswith("web-")
    # core/v1 keeps legacy name rules (the "web." prefix above was fine); events.k8s.io/v1 checks
    # generateName as a DNS subdomain prefix, and "web." cannot start one. The error names the
    # internal kind, a core Event.
    with pytest.raises(ApiException) as bad_prefix:
        await events.create_namespaced_event(namespace, new_style("web."))
    assert bad_prefix.value.status == 422
    rejected = json.loads(bad_prefix.value.body)
    assert [cause["field"] for cause in rejected["details"]["causes"]] == ["metadata.generateName"]
    assert rejected["details"]["kind"] == "Event" and "group" not in rejected["details"]
    with pytest.raises(ApiException) as missing:
        await events.create_namespaced_event(
            namespace,
            client.EventsV1Event(
                metadata=client.V1ObjectMeta(generate_name="bad."),
                event_time=datetime.datetime.now(datetime.UTC),
            ),
        )
    assert missing.value.status == 422


async def test_endpoints_and_endpoint_slices(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    endpoints = client.V1Endpoints(
        metadata=client.V1ObjectMeta(name="web"),
        subsets=[
            client.V1EndpointSubset(
                addresses=[client.V1EndpointAddress(ip="10.0.0.1")],
                ports=[client.CoreV1EndpointPort(port=8080)],
            )
        ],
    )
    created = await core.create_namespaced_endpoints(namespace, endpoints)
    assert created.subsets[0].ports[0].protocol == "TCP"
    discovery = client.DiscoveryV1Api(kube_client)
    labels = {"kubernetes.io/service-name": "web"}
    endpoint_slice = client.V1EndpointSlice(
        metadata=client.V1ObjectMeta(generate_name="web-", labels=labels),
        address_type="IPv4",
        endpoints=[
            client.V1Endpoint(addresses=["10.0.0.1"], conditions=client.V1EndpointConditions(ready=True))
        ],
        ports=[client.DiscoveryV1EndpointPort(name="http", port=8080)],
    )
    await discovery.create_namespaced_endpoint_slice(namespace, endpoint_slice)
    listed = await discovery.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=web"
    )
    assert len(listed.items) == 1 and listed.items[0].ports[0].protocol == "TCP"
    # A dict body, since the typed model refuses a missing addressType client-side.
    no_type = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "bad"},
        "endpoints": [],
    }
    with pytest.raises(ApiException) as info:
        await discovery.create_namespaced_endpoint_slice(namespace, no_type)
    assert info.value.status == 422


async def test_cluster_scoped_resources(kube_client: client.ApiClient) -> None:
    networking = client.NetworkingV1Api(kube_client)
    name = unique_name("alb")
    ingress_class = client.V1IngressClass(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1IngressClassSpec(controller="ingress.k8s.aws/alb"),
    )
    created = await networking.create_ingress_class(ingress_class)
    assert created.metadata.namespace is None
    fetched = await networking.read_ingress_class(name)
    assert fetched.spec.controller == "ingress.k8s.aws/alb"
    await networking.delete_ingress_class(name)
    core = client.CoreV1Api(kube_client)
    node_name = unique_name("node")
    node = client.V1Node(
        metadata=client.V1ObjectMeta(name=node_name, labels={"topology.kubernetes.io/zone": "a"}),
        spec=client.V1NodeSpec(provider_id="aws:///us-west-2a/i-0123"),
    )
    await core.create_node(node)
    try:
        status = await core.patch_node_status(
            node_name, {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}
        )
        assert status.status.addresses[0].address == "10.0.0.5"
        listed = await core.list_node(field_selector=f"metadata.name={node_name}")
        assert [n.metadata.name for n in listed.items] == [node_name]
    finally:
        await core.delete_node(node_name)


async def test_secrets_service_accounts_and_delete_collection(
    kube_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube_client)
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="s", labels={"group": "a"}), string_data={"k": "v"}
    )
    created = await core.create_namespaced_secret(namespace, secret)
    assert created.data == {"k": base64.b64encode(b"v").decode()} and created.type == "Opaque"
    await core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa"))
    )
    for name, group in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        await core.create_namespaced_config_map(
            namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"group": group}))
        )
    await core.delete_collection_namespaced_config_map(namespace, label_selector="group=a")
    remaining = await core.list_namespaced_config_map(namespace, label_selector="group")
    assert [c.metadata.name for c in remaining.items] == ["b1"]
    assert (await core.read_namespaced_secret("s", namespace)).metadata.name == "s"
