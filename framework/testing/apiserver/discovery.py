"""Discovery documents (/api, /apis, group/version resource lists, /version) and the slice of
OpenAPI v3 kubectl reads: for each PATCH operation the GVK and the `fieldValidation` parameter,
which tells kubectl that the server validates fields itself so it skips client-side schema checks.
No request-body schemas are published, so `kubectl apply` computes strategic merge patches from
its compiled-in types (built-ins) or JSON merge patches (custom resources)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import ALL_VERBS, SUBRESOURCE_VERBS, ResourceRegistry, ResourceType

JsonObject = dict[str, Any]

VERSION_INFO: JsonObject = {
    "major": "1",
    "minor": "32",
    "emulationMajor": "1",
    "emulationMinor": "32",
    "gitVersion": "v1.32.0-standin",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> JsonObject:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, versions: list[str]) -> JsonObject:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: ResourceRegistry) -> JsonObject:
    groups = [_group(name, versions) for name, versions in registry.group_versions().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, name: str) -> JsonObject | None:
    versions = registry.group_versions().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entries(resource: ResourceType) -> list[JsonObject]:
    main: JsonObject = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(ALL_VERBS),
    }
    if resource.short_names:
        main["shortNames"] = list(resource.short_names)
    if resource.categories:
        main["categories"] = list(resource.categories)
    main["storageVersionHash"] = hashlib.sha256(f"{resource.group}/{resource.plural}".encode()).hexdigest()[
        :12
    ]
    entries = [main]
    if resource.has_status:
        entries.append(
            {
                "name": f"{resource.plural}/status",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(SUBRESOURCE_VERBS),
            }
        )
    return entries


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> JsonObject | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for resource in resources for entry in _resource_entries(resource)],
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gv_document(registry: ResourceRegistry, group: str, version: str) -> JsonObject:
    paths: JsonObject = {}
    for resource in registry.in_group_version(group, version):
        prefix = "/" + _gv_path(group, version)
        if resource.namespaced:
            prefix += "/namespaces/{namespace}"
        gvk = {"group": group, "version": version, "kind": resource.kind}
        parameters = [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in ("dryRun", "fieldManager", "fieldValidation")
        ]
        operation = {
            "operationId": f"patch{resource.kind}",
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        paths[f"{prefix}/{resource.plural}/{{name}}"] = {"patch": operation}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_v3_documents(registry: ResourceRegistry) -> dict[str, JsonObject]:
    """Per group-version documents, keyed by their path under /openapi/v3/."""
    return {
        _gv_path(group, version): _gv_document(registry, group, version)
        for group, versions in registry.group_versions().items()
        for version in versions
    }


def openapi_v3_root(documents: dict[str, JsonObject]) -> JsonObject:
    paths = {}
    for path, document in documents.items():
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
