"""Custom resources get what a real kube-apiserver does with their CRD version's structural schema
(conformance: every test runs on the stand-in and on a real kube-apiserver): `default` values are
filled in, fields the schema does not know are pruned, and schema violations are refused with the
same 422 Invalid `Status`.

The Gateway API HTTPRoute and Gateway CRDs (`make gateway-api-crds`) and upstream's
LoadBalancerConfiguration CRD (config/crd/gateway) are the schemas the controller's Gateway support
relies on. On the real server they are shared with the rest of the session, so they are created
when missing and never deleted; the objects a test creates are deleted at its end (the real server
runs no namespace controller). The rules those CRDs do not exercise are checked on a CRD of the
test's own group, deleted at the end like the other conformance tests' CRDs.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

REPO = Path(__file__).resolve().parents[3]
GATEWAY_API_CRDS = Path(os.environ.get("GATEWAY_API_DIR", REPO / ".cache" / "gateway-api")) / "crds"
CRD_FILES = (
    GATEWAY_API_CRDS / "gateway.networking.k8s.io_httproutes.yaml",
    GATEWAY_API_CRDS / "gateway.networking.k8s.io_gateways.yaml",
    REPO / "config" / "crd" / "gateway" / "gateway.k8s.aws_loadbalancerconfigurations.yaml",
)
GATEWAY_API = ("gateway.networking.k8s.io", "v1")
AWS_GATEWAY = ("gateway.k8s.aws", "v1")
MERGE = "application/merge-patch+json"
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors "
    "to complete validation"
)
T = TypeVar("T")


async def _eventually(probe: Callable[[], Awaitable[T]], within: float = 15.0) -> T:
    """Retry `probe` until it stops raising: a real server applies CRD changes asynchronously."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await probe()
        except (ApiException, AssertionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@functools.cache
def _crd_manifests() -> tuple[dict[str, Any], ...]:
    missing = [str(path) for path in CRD_FILES if not path.is_file()]
    if missing:
        pytest.fail(
            f"CRD manifests missing ({', '.join(missing)}): run `make gateway-api-crds`", pytrace=False
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(yaml.load(path.read_text(), Loader=loader) for path in CRD_FILES)


async def _established(extensions: client.ApiextensionsV1Api, name: str) -> None:
    async def probe() -> None:
        crd = await extensions.read_custom_resource_definition(name)
        assert {c.type: c.status for c in crd.status.conditions or ()}.get("Established") == "True"

    await _eventually(probe)


@pytest_asyncio.fixture
async def gateway_namespace(kube_client: client.ApiClient, namespace: str) -> AsyncIterator[str]:
    """The HTTPRoute, Gateway and LoadBalancerConfiguration CRDs installed (when missing) and a
    namespace whose objects of those kinds are deleted afterwards."""
    extensions = client.ApiextensionsV1Api(kube_client)
    for manifest in _crd_manifests():
        try:
            await extensions.read_custom_resource_definition(manifest["metadata"]["name"])
        except ApiException as error:
            if error.status != 404:
                raise
            await extensions.create_custom_resource_definition(manifest)
    for manifest in _crd_manifests():
        await _established(extensions, manifest["metadata"]["name"])
    yield namespace
    objects = client.CustomObjectsApi(kube_client)
    for (group, version), plural in (
        (GATEWAY_API, "httproutes"),
        (GATEWAY_API, "gateways"),
        (AWS_GATEWAY, "loadbalancerconfigurations"),
    ):
        await objects.delete_collection_namespaced_custom_object(group, version, namespace, plural)


def _object(kind: str, name: str, spec: Any, group_version: tuple[str, str] = GATEWAY_API) -> dict[str, Any]:
    return {
        "apiVersion": "/".join(group_version),
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


async def _create(
    kube_client: client.ApiClient, namespace: str, plural: str, body: dict[str, Any]
) -> dict[str, Any]:
    group, version = body["apiVersion"].split("/")
    created: dict[str, Any] = await client.CustomObjectsApi(kube_client).create_namespaced_custom_object(
        group, version, namespace, plural, body
    )
    return created


async def _refusal(call: Awaitable[Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as refused:
        await call
    status: dict[str, Any] = json.loads(refused.value.body)
    return status


def _invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The 422 Status for `causes` (field, reason, message), in that order."""
    messages = [f"{field}: {message}" for field, _, message in causes]
    summary = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{kind}.{group} "{name}" is invalid: {summary}',
        "reason": "Invalid",
        "details": {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": reason, "message": message, "field": field} for field, reason, message in causes
            ],
        },
        "code": 422,
    }


# -------------------------------------------------------------------------------------- defaulting


async def test_defaults_are_filled_in_on_create_and_update(
    kube_client: client.ApiClient, gateway_namespace: str
) -> None:
    namespace = gateway_namespace
    objects = client.CustomObjectsApi(kube_client)
    # Absent fields of objects that exist get their defaults, also inside array items and inside
    # a default just applied (the `rules` default's match gets `path`).
    route = await _create(
        kube_client,
        namespace,
        "httproutes",
        _object(
            "HTTPRoute",
            "web",
            {
                "parentRefs": [{"name": "alb"}],
                "rules": [
                    {"backendRefs": [{"name": "web", "port": 80}]},
                    {"matches": [{"headers": [{"name": "x", "value": "y"}]}]},
                ],
            },
        ),
    )
    assert route["spec"] == {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "alb"}],
        "rules": [
            {
                "backendRefs": [{"group": "", "kind": "Service", "name": "web", "port": 80, "weight": 1}],
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            },
            {
                "matches": [
                    {
                        "headers": [{"name": "x", "type": "Exact", "value": "y"}],
                        "path": {"type": "PathPrefix", "value": "/"},
                    }
                ]
            },
        ],
    }
    bare = await _create(kube_client, namespace, "httproutes", _object("HTTPRoute", "bare", {}))
    assert bare["spec"] == {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]}
    # A default never creates the object it sits in: no parentRefs, no listenerConfigurations.
    assert "parentRefs" not in bare["spec"]
    empty = await _create(
        kube_client,
        namespace,
        "loadbalancerconfigurations",
        _object("LoadBalancerConfiguration", "empty", {}, AWS_GATEWAY),
    )
    assert empty["spec"] == {}
    listeners = await _create(
        kube_client,
        namespace,
        "loadbalancerconfigurations",
        _object(
            "LoadBalancerConfiguration",
            "listeners",
            {
                "listenerConfigurations": [
                    {"protocolPort": "HTTPS:443"},
                    {"protocolPort": "HTTP:80", "alpnPolicy": "HTTP2Only"},
                ]
            },
            AWS_GATEWAY,
        ),
    )
    assert listeners["spec"]["listenerConfigurations"] == [
        {"protocolPort": "HTTPS:443", "alpnPolicy": "None"},
        {"protocolPort": "HTTP:80", "alpnPolicy": "HTTP2Only"},
    ]
    gateway = await _create(
        kube_client,
        namespace,
        "gateways",
        _object(
            "Gateway",
            "alb",
            {"gatewayClassName": "aws-alb", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        ),
    )
    assert gateway["spec"]["listeners"] == [
        {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}
    ]
    assert "addresses" not in gateway["spec"] and "infrastructure" not in gateway["spec"]
    # A create cannot set the status of a status subresource, yet the status default shows.
    assert [(c["type"], c["status"], c["reason"]) for c in gateway["status"]["conditions"]] == [
        ("Accepted", "Unknown", "Pending"),
        ("Programmed", "Unknown", "Pending"),
    ]
    # Updates are defaulted the same way: a patched-in parentRef, a replaced spec without rules.
    patched = await objects.patch_namespaced_custom_object(
        *GATEWAY_API,
        namespace,
        "httproutes",
        "web",
        {"spec": {"parentRefs": [{"name": "nlb"}]}},
        _content_type=MERGE,
    )
    assert patched["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "nlb"}
    ]
    replacement = _object("HTTPRoute", "web", {"parentRefs": [{"name": "alb", "port": 443}]})
    replacement["metadata"]["resourceVersion"] = patched["metadata"]["resourceVersion"]
    replaced = await objects.replace_namespaced_custom_object(
        *GATEWAY_API, namespace, "httproutes", "web", replacement
    )
    assert replaced["spec"] == {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "alb", "port": 443}],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
    }
    fetched = await objects.get_namespaced_custom_object(*GATEWAY_API, namespace, "httproutes", "web")
    assert fetched["spec"] == replaced["spec"]


# ----------------------------------------------------------------------------------------- pruning


async def test_unknown_fields_are_pruned(kube_client: client.ApiClient, gateway_namespace: str) -> None:
    namespace = gateway_namespace
    body = _object(
        "HTTPRoute",
        "web",
        {"parentRefs": [{"name": "alb", "bogus": 1}], "extra": True, "hostnames": None},
    )
    body["top"] = 5
    body["metadata"]["unknownMeta"] = "x"
    route = await _create(kube_client, namespace, "httproutes", body)
    assert "top" not in route and "unknownMeta" not in route["metadata"]
    # `hostnames: null` is not a value where the schema is not nullable: it goes too.
    assert route["spec"] == {
        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "alb"}],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
    }
    # A patch that only adds unknown fields changes nothing: no new resourceVersion.
    objects = client.CustomObjectsApi(kube_client)
    patched = await objects.patch_namespaced_custom_object(
        *GATEWAY_API, namespace, "httproutes", "web", {"spec": {"later": 1}}, _content_type=MERGE
    )
    assert patched["metadata"]["resourceVersion"] == route["metadata"]["resourceVersion"]
    assert "later" not in patched["spec"]
    # A map of free-form keys (additionalProperties) keeps them all.
    config = await _create(
        kube_client,
        namespace,
        "loadbalancerconfigurations",
        _object(
            "LoadBalancerConfiguration",
            "tags",
            {
                "tags": {"team": "web", "cost-centre": "42"},
                "listenerConfigurations": [{"protocolPort": "HTTP:80", "junk": 1}],
            },
            AWS_GATEWAY,
        ),
    )
    assert config["spec"] == {
        "tags": {"team": "web", "cost-centre": "42"},
        "listenerConfigurations": [{"protocolPort": "HTTP:80", "alpnPolicy": "None"}],
    }


# -------------------------------------------------------------------------------------- validation


async def test_schema_violations_are_refused_with_the_real_422(
    kube_client: client.ApiClient, gateway_namespace: str
) -> None:
    namespace = gateway_namespace
    lbc = ("LoadBalancerConfiguration", "gateway.k8s.aws")
    route = ("HTTPRoute", "gateway.networking.k8s.io")
    # Both CRDs have CEL rules: after a blocking error (enum, required, type, too long, too many)
    # the real server skips them and says so in one more cause.
    not_checked = ("<nil>", "FieldValueInvalid", f"Invalid value: null: {RULES_NOT_CHECKED}")
    protocol_port_pattern = "^(HTTP|HTTPS|TLS|TCP|UDP|TCP_UDP)?:(6553[0-5]|655[0-2]\\d|65[0-4]\\d{2}|6[0-4]\\d{3}|[1-5]\\d{4}|[1-9]\\d{0,3})?$"
    cases: list[tuple[tuple[str, str], str, Any, list[tuple[str, str, str]]]] = [
        (
            lbc,
            "enum",
            {"scheme": "public"},
            [
                (
                    "spec.scheme",
                    "FieldValueNotSupported",
                    'Unsupported value: "public": supported values: "internal", "internet-facing"',
                ),
                not_checked,
            ],
        ),
        (
            lbc,
            "required",
            {"listenerConfigurations": [{"defaultCertificate": "arn:aws:acm:x"}]},
            [
                ("spec.listenerConfigurations[0].protocolPort", "FieldValueRequired", "Required value"),
                not_checked,
            ],
        ),
        (
            lbc,
            "type",
            {"manageBackendSecurityGroupRules": "yes"},
            [
                (
                    "spec.manageBackendSecurityGroupRules",
                    "FieldValueTypeInvalid",
                    'Invalid value: "string": spec.manageBackendSecurityGroupRules in body must be of type boolean: "string"',
                ),
                not_checked,
            ],
        ),
        (
            lbc,
            "pattern",
            {"listenerConfigurations": [{"protocolPort": "HTTP:70000"}]},
            [
                (
                    "spec.listenerConfigurations[0].protocolPort",
                    "FieldValueInvalid",
                    'Invalid value: "HTTP:70000": spec.listenerConfigurations[0].protocolPort in body should match '
                    f"'{protocol_port_pattern}'",
                )
            ],
        ),
        (
            lbc,
            "toolong",
            {"loadBalancerName": "a" * 33},
            [
                ("spec.loadBalancerName", "FieldValueTooLong", "Too long: may not be more than 32 bytes"),
                not_checked,
            ],
        ),
        (
            route,
            "toomany",
            {"hostnames": [f"h{i}.example.com" for i in range(17)]},
            [
                ("spec.hostnames", "FieldValueTooMany", "Too many: 17: must have at most 16 items"),
                not_checked,
            ],
        ),
        (
            route,
            "minimum",
            {"parentRefs": [{"name": "alb", "port": 0}]},
            [
                (
                    "spec.parentRefs[0].port",
                    "FieldValueInvalid",
                    "Invalid value: 0: spec.parentRefs[0].port in body should be greater than or equal to 1",
                )
            ],
        ),
        (
            route,
            "maximum",
            {"parentRefs": [{"name": "alb", "port": 70000}]},
            [
                (
                    "spec.parentRefs[0].port",
                    "FieldValueInvalid",
                    "Invalid value: 70000: spec.parentRefs[0].port in body should be less than or equal to 65535",
                )
            ],
        ),
    ]
    plurals = {"LoadBalancerConfiguration": "loadbalancerconfigurations", "HTTPRoute": "httproutes"}
    for (kind, group), name, spec, causes in cases:
        group_version = (group, "v1")
        body = _object(kind, name, spec, group_version)
        refused = await _refusal(_create(kube_client, namespace, plurals[kind], body))
        assert refused == _invalid(kind, group, name, causes), name
    # Custom resource names are DNS subdomains.
    refused = await _refusal(
        _create(kube_client, namespace, "httproutes", _object("HTTPRoute", "Not_A_Name", {}))
    )
    assert refused["details"]["causes"][0]["field"] == "metadata.name"
    assert refused["code"] == 422


async def test_a_status_write_is_validated_against_the_status_schema(
    kube_client: client.ApiClient, gateway_namespace: str
) -> None:
    namespace = gateway_namespace
    await _create(
        kube_client,
        namespace,
        "gateways",
        _object(
            "Gateway",
            "alb",
            {"gatewayClassName": "aws-alb", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        ),
    )
    condition = {
        "type": "Accepted",
        "status": "Maybe",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    refused = await _refusal(
        client.CustomObjectsApi(kube_client).patch_namespaced_custom_object_status(
            *GATEWAY_API,
            namespace,
            "gateways",
            "alb",
            {"status": {"conditions": [condition]}},
            _content_type=MERGE,
        )
    )
    assert refused == _invalid(
        "Gateway",
        "gateway.networking.k8s.io",
        "alb",
        [
            (
                "status.conditions[0].status",
                "FieldValueNotSupported",
                'Unsupported value: "Maybe": supported values: "True", "False", "Unknown"',
            ),
            ("<nil>", "FieldValueInvalid", f"Invalid value: null: {RULES_NOT_CHECKED}"),
        ],
    )
    # The messages of a status write name the field from the status down, the cause from the top.
    condition["status"] = "True"
    condition["lastTransitionTime"] = "yesterday"
    refused = await _refusal(
        client.CustomObjectsApi(kube_client).patch_namespaced_custom_object_status(
            *GATEWAY_API,
            namespace,
            "gateways",
            "alb",
            {"status": {"conditions": [condition]}},
            _content_type=MERGE,
        )
    )
    assert refused["details"]["causes"][0] == {
        "reason": "FieldValueTypeInvalid",
        "message": 'Invalid value: "yesterday": conditions[0].lastTransitionTime in body must be of type date-time: "yesterday"',
        "field": "status.conditions[0].lastTransitionTime",
    }


# ------------------------------------------------------------------------- a CRD of the test's own


def _widget_crd(group: str, *, revised: bool) -> dict[str, Any]:
    """Schema rules the Gateway CRDs do not show; the revision drops `gone` and adds `color`."""
    spec: dict[str, Any] = {
        "size": {"type": "integer"},
        "labels": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"tier": {"type": "string", "default": "gold"}},
            },
        },
        "note": {"type": "string", "nullable": True, "default": "n"},
        "free": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"known": {"type": "object", "properties": {"x": {"type": "string"}}}},
        },
        "list": {"type": "array", "items": {"type": "string", "default": "d"}},
        "parent": {"type": "object", "properties": {"child": {"type": "string", "default": "c"}}},
    }
    if revised:
        spec["color"] = {"type": "string", "default": "blue"}
    else:
        spec["gone"] = {"type": "string"}
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": spec}}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
            ],
        },
    }


@pytest_asyncio.fixture
async def widget_group(kube_client: client.ApiClient) -> AsyncIterator[str]:
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    extensions = client.ApiextensionsV1Api(kube_client)
    await extensions.create_custom_resource_definition(_widget_crd(group, revised=False))
    await _established(extensions, f"widgets.{group}")
    yield group
    await extensions.delete_custom_resource_definition(f"widgets.{group}")


async def test_defaults_and_pruning_follow_the_schema_and_its_changes(
    kube_client: client.ApiClient, namespace: str, widget_group: str
) -> None:
    group = widget_group
    objects = client.CustomObjectsApi(kube_client)
    args = (group, "v1", namespace, "widgets")
    body = _object(
        "Widget",
        "w",
        {
            "size": 1,
            "gone": "x",
            "labels": {"a": {}, "b": None},
            "note": None,
            "free": {"anything": 1, "known": {"x": "1", "y": 2}},
            "list": [None, "a"],
        },
        (group, "v1"),
    )
    await _eventually(lambda: objects.list_namespaced_custom_object(*args))
    created = await objects.create_namespaced_custom_object(*args, body)
    try:
        assert created["spec"] == {
            "size": 1,
            "gone": "x",
            # additionalProperties values are defaulted; a null value without a default is dropped.
            "labels": {"a": {"tier": "gold"}},
            # A nullable null stays null and is not defaulted.
            "note": None,
            # Unknown fields survive under x-kubernetes-preserve-unknown-fields, but not inside a
            # known field below it.
            "free": {"anything": 1, "known": {"x": "1"}},
            # A null array item takes the items' default; `parent` is absent, so `child` is too.
            "list": ["d", "a"],
        }
        extensions = client.ApiextensionsV1Api(kube_client)
        crd = await extensions.read_custom_resource_definition(f"widgets.{group}")
        revised = _widget_crd(group, revised=True)
        revised["metadata"]["resourceVersion"] = crd.metadata.resource_version
        await extensions.replace_custom_resource_definition(f"widgets.{group}", revised)
        # Stored objects are read with the new schema: the new default appears, the removed field
        # goes, and nothing is written back (same resourceVersion).
        expected = {**created["spec"], "color": "blue"}
        del expected["gone"]

        async def read_with_new_schema() -> None:
            fetched = await objects.get_namespaced_custom_object(*args, "w")
            assert fetched["spec"] == expected
            assert fetched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
            listed = await objects.list_namespaced_custom_object(*args)
            assert [item["spec"] for item in listed["items"]] == [expected]

        await _eventually(read_with_new_schema)
    finally:
        await objects.delete_namespaced_custom_object(*args, "w")


# --------------------------------------------------------------- this project's TargetGroupBinding

TGB_MANIFEST = REPO / "config" / "crd" / "elbv2.k8s.aws_targetgroupbindings.yaml"


@pytest_asyncio.fixture
async def tgb_group(kube_client: client.ApiClient) -> AsyncIterator[str]:
    """config/crd's TargetGroupBinding CRD under a group of the test's own (it cannot clash with
    the real one the end-to-end tests install)."""
    group = f"t{uuid.uuid4().hex[:8]}.example.com"
    crd = yaml.safe_load(TGB_MANIFEST.read_text())
    crd["metadata"]["name"] = f"targetgroupbindings.{group}"
    crd["spec"]["group"] = group
    extensions = client.ApiextensionsV1Api(kube_client)
    await extensions.create_custom_resource_definition(crd)
    await _established(extensions, crd["metadata"]["name"])
    yield group
    await extensions.delete_custom_resource_definition(crd["metadata"]["name"])


def _sorted_causes(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The causes in a stable order: the real server reports them in Go map order."""
    return sorted((c["field"], c["reason"], c["message"]) for c in status["details"]["causes"])


async def test_targetgroupbinding_schema_prunes_and_validates_as_the_real_server(
    kube_client: client.ApiClient, namespace: str, tgb_group: str
) -> None:
    group = tgb_group
    objects = client.CustomObjectsApi(kube_client)
    args = (group, "v1beta1", namespace, "targetgroupbindings")

    def binding(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return _object("TargetGroupBinding", name, spec, (group, "v1beta1"))

    # A real server serves a new CRD's resource shortly after it is Established.
    await _eventually(lambda: objects.list_namespaced_custom_object(*args))
    # serviceRef.port is int-or-string: a boolean fails the type and the anyOf, whose first
    # branch (integer) is reported.
    refused = await _refusal(
        objects.create_namespaced_custom_object(
            *args, binding("bad", {"serviceRef": {"name": "web", "port": True}})
        )
    )
    port = "spec.serviceRef.port"
    assert _sorted_causes(refused) == [
        (
            "<nil>",
            "FieldValueInvalid",
            f'Invalid value: "": "{port}" must validate at least one schema (anyOf)',
        ),
        (
            port,
            "FieldValueTypeInvalid",
            f'Invalid value: "boolean": {port} in body must be of type integer,string: "boolean"',
        ),
        (
            port,
            "FieldValueTypeInvalid",
            f'Invalid value: "boolean": {port} in body must be of type integer: "boolean"',
        ),
    ]
    # The schema has no validation rules, so there is no "rules not checked" cause.
    assert refused["message"].startswith(f'TargetGroupBinding.{group} "bad" is invalid: [')
    # Patterns are Go regular expressions: `$` is the very end, not the end before a newline.
    refused = await _refusal(
        objects.create_namespaced_custom_object(
            *args, binding("newline", {"serviceRef": {"name": "web", "port": 80}, "vpcID": "vpc-0a\n"})
        )
    )
    assert _sorted_causes(refused) == [
        (
            "spec.vpcID",
            "FieldValueInvalid",
            "Invalid value: \"vpc-0a\\n\": spec.vpcID in body should match '^vpc-[0-9a-f]+$'",
        )
    ]
    created = await objects.create_namespaced_custom_object(
        *args,
        binding(
            "web",
            {
                "serviceRef": {"name": "web", "port": "http"},
                "targetType": "ip",
                "unknown": 1,
                "networking": {
                    "ingress": [
                        {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 80, "junk": 1}]}
                    ]
                },
            },
        ),
    )
    try:
        assert created["spec"] == {
            "serviceRef": {"name": "web", "port": "http"},
            "targetType": "ip",
            "networking": {
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 80}]}]
            },
        }
        # status.conditions is a list-type map keyed by type; lastTransitionTime is a date-time.
        conditions = [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Ready", "status": "False", "lastTransitionTime": "soon"},
        ]
        refused = await _refusal(
            objects.patch_namespaced_custom_object_status(
                *args, "web", {"status": {"conditions": conditions}}, _content_type=MERGE
            )
        )
        when = "status.conditions[1].lastTransitionTime"
        assert _sorted_causes(refused) == [
            ("status.conditions[1]", "FieldValueDuplicate", 'Duplicate value: {"type":"Ready"}'),
            (
                when,
                "FieldValueTypeInvalid",
                'Invalid value: "soon": conditions[1].lastTransitionTime in body must be of type date-time: "soon"',
            ),
        ]
    finally:
        await objects.delete_namespaced_custom_object(*args, "web")
