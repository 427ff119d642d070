"""Bad requests get the status codes and `Status` bodies a real kube-apiserver gives
(conformance tests: they run unchanged against a real server)."""

from __future__ import annotations

import json
from typing import Any

from apiserver_test_helpers import raw_request
from kubernetes_asyncio import client

NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server could not find the requested resource",
    "reason": "NotFound",
    "details": {},
    "code": 404,
}


def _failure(body: Any, code: int, reason: str) -> None:
    assert isinstance(body, dict)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["reason"] == reason
    assert body["message"]


async def test_unknown_resource_in_known_group_version(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(kube_client, "GET", f"/api/v1/namespaces/{namespace}/widgets")
    assert (status, body) == (404, NOT_FOUND)


async def test_unknown_group(kube_client: client.ApiClient) -> None:
    # No handler owns an unknown group's paths, so Go's mux answers with its plain-text 404.
    for method, path in [
        ("GET", "/apis/nonexistent.example.com/v1/things"),
        ("GET", "/apis/nonexistent.example.com"),
        ("POST", "/apis/nonexistent.example.com/v1/namespaces/x/things"),
        ("GET", "/no-such-endpoint"),
    ]:
        status, body = await raw_request(kube_client, method, path)
        assert (status, body) == (404, "404 page not found\n"), (method, path)


async def test_unknown_version_of_known_group(kube_client: client.ApiClient) -> None:
    # A built-in group's handler owns everything under it and answers a JSON Status; across
    # namespaces a namespaced type has only its collection, so a named object there is unknown.
    for path in [
        "/api/v9/pods",
        "/apis/coordination.k8s.io/v9",
        "/apis/coordination.k8s.io/v9/leases",
        "/api/v1/configmaps/x",
        "/api/v1/pods/x/status",
    ]:
        status, body = await raw_request(kube_client, "GET", path)
        assert (status, body) == (404, NOT_FOUND), path


async def test_wrong_method_on_a_route_is_405(kube_client: client.ApiClient, namespace: str) -> None:
    for method, path in [
        ("PUT", f"/api/v1/namespaces/{namespace}/configmaps"),
        ("POST", f"/api/v1/namespaces/{namespace}/configmaps/cm"),
        ("POST", "/api/v1"),
        ("DELETE", "/version"),
        ("DELETE", "/api/v1/configmaps"),  # no deletecollection across namespaces
    ]:
        status, body = await raw_request(
            kube_client, method, path, body=b"{}", content_type="application/json"
        )
        assert (status, body) == (
            405,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "the server does not allow this method on the requested resource",
                "reason": "MethodNotAllowed",
                "details": {},
                "code": 405,
            },
        ), (method, path)


async def test_missing_object(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/nope"
    )
    assert status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'leases.coordination.k8s.io "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "coordination.k8s.io", "kind": "leases"},
        "code": 404,
    }


async def test_malformed_json_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        body=b'{"metadata": {"name": ',
        content_type="application/json",
    )
    assert status == 400
    _failure(body, 400, "BadRequest")


async def test_wrong_content_type_is_415(kube_client: client.ApiClient, namespace: str) -> None:
    payload = json.dumps({"metadata": {"name": "cm"}}).encode()
    status, body = await raw_request(
        kube_client,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        body=payload,
        content_type="text/plain",
    )
    assert status == 415
    _failure(body, 415, "UnsupportedMediaType")
    assert body["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include: application/json, "
        "application/yaml"
    )


async def test_patch_with_unknown_content_type_is_415(kube_client: client.ApiClient, namespace: str) -> None:
    await client.CoreV1Api(kube_client).create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"))
    )
    status, body = await raw_request(
        kube_client,
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/cm",
        body=b"{}",
        content_type="text/plain",
    )
    assert status == 415
    _failure(body, 415, "UnsupportedMediaType")


async def test_json_patch_with_object_body_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    await client.CoreV1Api(kube_client).create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"))
    )
    status, body = await raw_request(
        kube_client,
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/cm",
        body=b'{"data": {"a": "b"}}',
        content_type="application/json-patch+json",
    )
    assert status == 400
    _failure(body, 400, "BadRequest")


async def test_missing_name_is_422(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        body=b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}',
        content_type="application/json",
    )
    assert status == 422
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
        "reason": "Invalid",
        "details": {
            "kind": "ConfigMap",
            "causes": [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value: name or generateName is required",
                    "field": "metadata.name",
                }
            ],
        },
        "code": 422,
    }


async def test_name_mismatch_on_update_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    await client.CoreV1Api(kube_client).create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"))
    )
    status, body = await raw_request(
        kube_client,
        "PUT",
        f"/api/v1/namespaces/{namespace}/configmaps/cm",
        body=b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}}',
        content_type="application/json",
    )
    assert status == 400
    _failure(body, 400, "BadRequest")
    assert body["message"] == "the name of the object (other) does not match the name on the URL (cm)"


async def test_namespace_mismatch_on_create_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client,
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        body=b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "elsewhere"}}',
        content_type="application/json",
    )
    assert status == 400
    _failure(body, 400, "BadRequest")
    assert (
        body["message"]
        == "the namespace of the provided object does not match the namespace sent on the request"
    )


async def test_unsupported_field_selector_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client, "GET", f"/api/v1/namespaces/{namespace}/configmaps?fieldSelector=data.k%3Dv"
    )
    # ConfigMaps have no field label conversion of their own, so apimachinery's default one answers.
    assert (status, body) == (
        400,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"',
            "reason": "BadRequest",
            "code": 400,
        },
    )


async def test_unsupported_field_selector_on_type_with_own_labels(
    kube_client: client.ApiClient, namespace: str
) -> None:
    # Pods convert their own field labels; the terms are sorted before checking, so the error
    # names the first unsupported label in sorted order.
    status, body = await raw_request(
        kube_client, "GET", f"/api/v1/namespaces/{namespace}/pods?fieldSelector=z.z%3D1,a.b%3Dc"
    )
    assert status == 400
    _failure(body, 400, "BadRequest")
    assert body["message"] == "field label not supported: a.b"
    assert "details" not in body


async def test_default_field_labels_accept_namespace_on_cluster_scoped_types(
    kube_client: client.ApiClient,
) -> None:
    # The default conversion accepts metadata.namespace even on a cluster-scoped type (nothing
    # matches a non-empty namespace); a type with its own labels (Namespace) rejects it.
    status, body = await raw_request(
        kube_client, "GET", "/apis/networking.k8s.io/v1/ingressclasses?fieldSelector=metadata.namespace%3Dx"
    )
    assert status == 200
    assert body["items"] == []
    status, body = await raw_request(
        kube_client, "GET", "/api/v1/namespaces?fieldSelector=metadata.namespace%3Dx"
    )
    assert status == 400
    assert body["message"] == "field label not supported: metadata.namespace"


async def test_bad_label_selector_is_400(kube_client: client.ApiClient, namespace: str) -> None:
    status, body = await raw_request(
        kube_client, "GET", f"/api/v1/namespaces/{namespace}/configmaps?labelSelector=a%20in%20(b"
    )
    assert status == 400
    _failure(body, 400, "BadRequest")


async def test_conflict_on_stale_update(kube_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_client)
    created = await core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"))
    )
    await core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "b"}})
    stale = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "resourceVersion": created.metadata.resource_version},
        }
    ).encode()
    status, body = await raw_request(
        kube_client,
        "PUT",
        f"/api/v1/namespaces/{namespace}/configmaps/cm",
        body=stale,
        content_type="application/json",
    )
    assert status == 409
    assert body["details"] == {"name": "cm", "kind": "configmaps"}
    _failure(body, 409, "Conflict")
