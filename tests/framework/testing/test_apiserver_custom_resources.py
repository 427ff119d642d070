"""Custom resources registered by creating a CRD, used through CustomObjectsApi (conformance)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from apiserver_test_helpers import raw_request
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.rest import ApiException

MERGE = "application/merge-patch+json"
T = TypeVar("T")


@dataclass(frozen=True)
class Crd:
    group: str
    version: str
    plural: str
    kind: str


async def _eventually(probe: Callable[[], Awaitable[T]], within: float = 10.0) -> T:
    """Retry `probe` until it stops raising (a real server establishes CRDs asynchronously)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await probe()
        except (ApiException, AssertionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest_asyncio.fixture
async def crd(kube_client: client.ApiClient) -> AsyncIterator[Crd]:
    suffix = uuid.uuid4().hex[:8]
    spec = Crd(group=f"t{suffix}.example.com", version="v1", plural="widgets", kind="Widget")
    schema = client.V1JSONSchemaProps(type="object", x_kubernetes_preserve_unknown_fields=True)
    body = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=f"{spec.plural}.{spec.group}"),
        spec=client.V1CustomResourceDefinitionSpec(
            group=spec.group,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural=spec.plural, kind=spec.kind, short_names=["wdg"]
            ),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name=spec.version,
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),
                    subresources=client.V1CustomResourceSubresources(status={}),
                )
            ],
        ),
    )
    extensions = client.ApiextensionsV1Api(kube_client)
    await extensions.create_custom_resource_definition(body)

    async def established() -> None:
        current = await extensions.read_custom_resource_definition(f"{spec.plural}.{spec.group}")
        conditions = {c.type: c.status for c in (current.status.conditions or [])}
        assert conditions.get("Established") == "True"

    await _eventually(established)
    yield spec
    try:
        await extensions.delete_custom_resource_definition(f"{spec.plural}.{spec.group}")
    except ApiException as exc:
        if exc.status != 404:
            raise


def _widget(crd: Crd, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{crd.group}/{crd.version}",
        "kind": crd.kind,
        "metadata": {"name": name},
        "spec": spec,
    }


async def test_crud_through_custom_objects_api(
    kube_client: client.ApiClient, namespace: str, crd: Crd
) -> None:
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    created = await _eventually(
        lambda: objects.create_namespaced_custom_object(*args, _widget(crd, "w1", size=1))
    )
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
    assert created["metadata"]["namespace"] == namespace
    patched = await objects.patch_namespaced_custom_object(
        *args, "w1", {"spec": {"size": 2}}, _content_type=MERGE
    )
    assert patched["spec"] == {"size": 2} and patched["metadata"]["generation"] == 2
    labelled = await objects.patch_namespaced_custom_object(
        *args, "w1", {"metadata": {"labels": {"a": "b"}}}, _content_type=MERGE
    )
    assert labelled["metadata"]["generation"] == 2
    listed = await objects.list_namespaced_custom_object(*args)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
    # Custom resource list items keep their apiVersion/kind, unlike typed built-in lists.
    assert listed["items"][0]["kind"] == crd.kind
    assert listed["kind"] == f"{crd.kind}List"
    fetched = await objects.get_namespaced_custom_object(*args, "w1")
    assert fetched["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]


async def test_patch_content_types(kube_client: client.ApiClient, namespace: str, crd: Crd) -> None:
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    await _eventually(lambda: objects.create_namespaced_custom_object(*args, _widget(crd, "w1", size=1)))
    # CustomObjectsApi sends a dict body as application/json-patch+json by default: a client bug
    # the real server rejects.
    with pytest.raises(ApiException) as json_patch:
        await objects.patch_namespaced_custom_object(*args, "w1", {"spec": {"size": 5}})
    assert 400 <= json_patch.value.status < 500
    with pytest.raises(ApiException) as strategic:
        await objects.patch_namespaced_custom_object(
            *args, "w1", {"spec": {"size": 5}}, _content_type="application/strategic-merge-patch+json"
        )
    assert strategic.value.status == 415
    # A real JSON patch works.
    patched = await objects.patch_namespaced_custom_object(
        *args, "w1", [{"op": "replace", "path": "/spec/size", "value": 3}]
    )
    assert patched["spec"]["size"] == 3


async def test_status_subresource_and_replace(
    kube_client: client.ApiClient, namespace: str, crd: Crd
) -> None:
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    await _eventually(lambda: objects.create_namespaced_custom_object(*args, _widget(crd, "w1", size=1)))
    with_status = await objects.patch_namespaced_custom_object_status(
        *args,
        "w1",
        {"status": {"ready": True}, "spec": {"size": 9}, "metadata": {"labels": {"x": "y"}}},
        _content_type=MERGE,
    )
    assert with_status["status"] == {"ready": True} and with_status["spec"] == {"size": 1}
    assert "labels" not in with_status["metadata"]
    main = await objects.patch_namespaced_custom_object(
        *args, "w1", {"status": {"ready": False}, "spec": {"size": 2}}, _content_type=MERGE
    )
    assert main["status"] == {"ready": True} and main["spec"] == {"size": 2}
    unversioned = _widget(crd, "w1", size=3)
    with pytest.raises(ApiException) as info:
        await objects.replace_namespaced_custom_object(*args, "w1", unversioned)
    assert info.value.status == 422
    unversioned["metadata"]["resourceVersion"] = main["metadata"]["resourceVersion"]
    replaced = await objects.replace_namespaced_custom_object(*args, "w1", unversioned)
    assert replaced["spec"] == {"size": 3}


async def test_discovery_and_watch(kube_client: client.ApiClient, namespace: str, crd: Crd) -> None:
    status, resources = await raw_request(kube_client, "GET", f"/apis/{crd.group}/{crd.version}")
    assert status == 200
    names = {r["name"]: r for r in resources["resources"]}
    assert names[crd.plural]["kind"] == crd.kind and names[crd.plural]["namespaced"] is True
    assert f"{crd.plural}/status" in names
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    listed = await _eventually(lambda: objects.list_namespaced_custom_object(*args))
    w = watch.Watch()
    async with w.stream(
        objects.list_namespaced_custom_object,
        *args,
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=5,
    ) as stream:
        await objects.create_namespaced_custom_object(*args, _widget(crd, "w1"))
        event = await asyncio.wait_for(stream.__anext__(), 5)
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "w1"


async def test_deleting_the_crd_removes_its_objects(
    kube_client: client.ApiClient, namespace: str, crd: Crd
) -> None:
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    await _eventually(lambda: objects.create_namespaced_custom_object(*args, _widget(crd, "w1")))
    await client.ApiextensionsV1Api(kube_client).delete_custom_resource_definition(
        f"{crd.plural}.{crd.group}"
    )

    async def gone() -> None:
        status, _ = await raw_request(
            kube_client, "GET", f"/apis/{crd.group}/{crd.version}/namespaces/{namespace}/{crd.plural}"
        )
        assert status == 404

    await _eventually(gone, within=30)


async def test_misses_in_a_custom_group_are_plain_404(
    kube_client: client.ApiClient, namespace: str, crd: Crd
) -> None:
    # The apiextensions handler hands what it does not serve to the plain-text 404, unlike a
    # built-in group's handler (a JSON Status).
    await _eventually(
        lambda: client.CustomObjectsApi(kube_client).list_namespaced_custom_object(
            crd.group, crd.version, namespace, crd.plural
        )
    )
    for path in [
        f"/apis/{crd.group}/v9",
        f"/apis/{crd.group}/v9/namespaces/{namespace}/{crd.plural}",
        f"/apis/{crd.group}/{crd.version}/namespaces/{namespace}/gadgets",
        f"/apis/{crd.group}/{crd.version}/{crd.plural}/x/status",  # cluster path to a namespaced type's object
    ]:
        status, body = await raw_request(kube_client, "GET", path)
        assert (status, body) == (404, "404 page not found\n"), path


async def test_delete_precondition_names_the_kind(
    kube_client: client.ApiClient, namespace: str, crd: Crd
) -> None:
    objects = client.CustomObjectsApi(kube_client)
    args = (crd.group, crd.version, namespace, crd.plural)
    created = await _eventually(lambda: objects.create_namespaced_custom_object(*args, _widget(crd, "w")))
    status, body = await raw_request(
        kube_client,
        "DELETE",
        f"/apis/{crd.group}/{crd.version}/namespaces/{namespace}/{crd.plural}/w",
        body=b'{"preconditions": {"uid": "x"}}',
        content_type="application/json",
    )
    assert status == 409
    assert body["message"] == (
        f'Operation cannot be fulfilled on {crd.kind}.{crd.group} "w": the UID in the precondition (x) '
        f"does not match the UID in record ({created['metadata']['uid']}). "
        "The object might have been deleted and then recreated"
    )
    assert body["details"] == {"name": "w", "group": crd.group, "kind": crd.kind}
