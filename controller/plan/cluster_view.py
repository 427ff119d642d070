"""The Kubernetes objects ``plan`` builds its models from: the cluster's, with manifests layered on top.

``-f FILE|DIR|-`` manifests are layered as ``kubectl apply`` would: an object with the same kind,
namespace and name replaces the cluster's, any other is added. A manifest without a namespace gets
``default`` (as kubectl does without ``-n``); ``kind: List`` is expanded. Only the kinds the
controller reads matter; others (Deployments, ConfigMaps) are ignored.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from controller.ingress.class_matcher import INGRESS_CLASS_PARAMS
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import (
    ENDPOINT_SLICES,
    INGRESS_CLASSES,
    INGRESSES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    KubeClient,
    KubeObject,
    Resource,
)
from framework.objects import object_key

WATCHED: Final = (
    INGRESSES,
    SERVICES,
    INGRESS_CLASSES,
    INGRESS_CLASS_PARAMS,
    NAMESPACES,
    NODES,
    PODS,
    ENDPOINT_SLICES,
    TARGET_GROUP_BINDINGS,
)
"""What the controller watches (and so all ``plan`` reads from the cluster)."""

_MANIFEST_SUFFIXES: Final = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    """A manifest could not be read or is not a Kubernetes object; the message names the file."""


def _kind_key(resource: Resource) -> str:
    return f"{resource.group}/{resource.kind}"


_BY_KIND: Final = {_kind_key(r): r for r in WATCHED}


def _resource_of(obj: Mapping[str, Any]) -> Resource | None:
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    return _BY_KIND.get(f"{group}/{obj.get('kind')}")


@dataclass(frozen=True)
class ClusterView:
    """Objects per watched resource, keyed ``namespace/name`` (``name`` for cluster-scoped kinds)."""

    objects: Mapping[Resource, Mapping[str, KubeObject]] = field(default_factory=dict)

    def list(self, resource: Resource) -> list[KubeObject]:
        return [obj for _, obj in sorted(self.objects.get(resource, {}).items())]

    def get(self, resource: Resource, key: str) -> KubeObject | None:
        return self.objects.get(resource, {}).get(key)

    def layered(self, manifests: Iterable[Mapping[str, Any]]) -> ClusterView:
        """A copy with ``manifests`` applied over it (same kind/namespace/name replaces)."""
        merged = {resource: dict(found) for resource, found in self.objects.items()}
        for manifest in manifests:
            resource = _resource_of(manifest)
            if resource is None:
                continue
            obj = dict(manifest)
            metadata = dict(obj.get("metadata") or {})
            if resource.namespaced and not metadata.get("namespace"):
                metadata["namespace"] = "default"
            current = merged.setdefault(resource, {}).get(object_key({"metadata": metadata}))
            if current is not None:
                # Keep what apply never sets and the controller reads: its finalizers, uid, status.
                kept = current.get("metadata") or {}
                for key in ("uid", "finalizers", "deletionTimestamp", "creationTimestamp"):
                    if key in kept and key not in metadata:
                        metadata[key] = kept[key]
                if "status" not in obj and "status" in current:
                    obj["status"] = current["status"]
                if resource == SERVICES:
                    obj["spec"] = _with_allocated_node_ports(obj.get("spec") or {}, current.get("spec") or {})
            obj["metadata"] = metadata
            merged[resource][object_key(obj)] = obj
        return ClusterView(merged)


def _with_allocated_node_ports(spec: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """A Service manifest's spec with the node ports the API server allocated to the live object:
    apply merges ``ports`` by (port, protocol) and a manifest that names no ``nodePort`` keeps the
    allocated one (likewise ``healthCheckNodePort``)."""
    allocated = {
        (p.get("port"), p.get("protocol") or "TCP"): p.get("nodePort")
        for p in live.get("ports") or ()
        if p.get("nodePort")
    }
    ports = []
    for port in spec.get("ports") or ():
        merged = dict(port)
        node_port = allocated.get((port.get("port"), port.get("protocol") or "TCP"))
        if "nodePort" not in merged and node_port:
            merged["nodePort"] = node_port
        ports.append(merged)
    result = {**spec, "ports": ports} if "ports" in spec else dict(spec)
    if "healthCheckNodePort" not in result and live.get("healthCheckNodePort"):
        result["healthCheckNodePort"] = live["healthCheckNodePort"]
    return result


async def read_cluster(kube: KubeClient, namespace: str | None) -> ClusterView:
    """Every watched object (namespaced kinds only in ``namespace`` when set, as the controller)."""
    found: dict[Resource, dict[str, KubeObject]] = {}
    for resource in WATCHED:
        listed = await kube.list(resource, namespace if resource.namespaced else None)
        items = listed.get("items") or []
        kind = {"apiVersion": resource.api_version, "kind": resource.kind}
        found[resource] = {object_key(item): {**kind, **item} for item in items}
    return ClusterView(found)


def load_manifests(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Every object in the files (directories: their ``*.yaml``, ``*.yml``, ``*.json``; ``-``: stdin)."""
    documents: list[dict[str, Any]] = []
    for path in paths:
        for name, text in _read(path):
            try:
                loaded = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as error:
                raise ManifestError(f"{name}: {error}") from error
            for document in loaded:
                documents.extend(_objects_of(name, document))
    return documents


def _read(path: str) -> Iterator[tuple[str, str]]:
    if path == "-":
        yield "<stdin>", sys.stdin.read()
        return
    target = Path(path)
    try:
        if target.is_dir():
            for child in sorted(target.iterdir()):
                if child.is_file() and child.suffix in _MANIFEST_SUFFIXES:
                    yield str(child), child.read_text()
            return
        yield path, target.read_text()
    except OSError as error:
        raise ManifestError(f"{path}: {error.strerror or error}") from error


def _objects_of(name: str, document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
        raise ManifestError(f"{name}: not a Kubernetes object (apiVersion and kind are required)")
    if document["kind"] == "List" or str(document["kind"]).endswith("List"):
        return [item for entry in document.get("items") or () for item in _objects_of(name, entry)]
    if not (document.get("metadata") or {}).get("name"):
        raise ManifestError(f"{name}: {document['kind']} without metadata.name")
    return [document]
