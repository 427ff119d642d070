"""The resource registry: which group/version/plural the server serves, and how.

Built-in types are fixed; custom resources are added when their CustomResourceDefinition is created
and removed when it is deleted, exactly as the apiextensions server does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .crd_schema import VersionSchema, storage_version, version_schemas
from .table_docs import FIELD_DOCS

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")

# Field selectors every resource supports (namespace only for namespaced ones).
_META_FIELDS = frozenset({"metadata.name"})

_EVENT_FIELDS = frozenset(
    {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)


@dataclass(frozen=True)
class PrinterColumn:
    """One of a CustomResourceDefinition version's `additionalPrinterColumns`."""

    name: str
    type: str
    json_path: str
    description: str = ""
    format: str = ""
    priority: int = 0


# What a CRD version without additionalPrinterColumns prints besides the name.
DEFAULT_PRINTER_COLUMNS = (
    PrinterColumn(
        "Age",
        "date",
        ".metadata.creationTimestamp",
        FIELD_DOCS["ObjectMeta.creationTimestamp"],
    ),
)


@dataclass(frozen=True)
class ResourceType:
    """One served resource (all of its versions share one storage, like a real apiserver)."""

    group: str
    versions: tuple[str, ...]
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    # Built-in types accept strategic merge patches; custom resources answer 415.
    builtin: bool = True
    has_generation: bool = False
    # Field selector labels beyond metadata.name / metadata.namespace, mapped to the dotted
    # path in the object whose value they select on.
    extra_field_selectors: Mapping[str, str] = field(default_factory=dict)
    # The group of the internal type the server stores this resource as, when it differs from the
    # served group: events.k8s.io Events are core Events inside (one store, `conversion` renames
    # the fields), so errors that name the kind (422 Invalid, precondition conflicts) say `Event`,
    # not `Event.events.k8s.io`.
    internal_group: str | None = None
    # Custom resources: each served version's printer columns (`kubectl get` output).
    printer_columns: Mapping[str, tuple[PrinterColumn, ...]] = field(default_factory=dict)
    # Custom resources: each version's structural schema (pruning, defaulting, validation) and
    # the version objects are stored in, whose schema applies when they are read back.
    schemas: Mapping[str, VersionSchema] = field(default_factory=dict)
    storage_version: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def storage_schema(self) -> VersionSchema | None:
        return self.schemas.get(self.storage_version)

    @property
    def error_group(self) -> str:
        return self.group if self.internal_group is None else self.internal_group

    @property
    def storage_key(self) -> tuple[str, str]:
        """The stored resource this one is a view of: events.k8s.io Events live with core Events."""
        return (self.error_group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def preferred_version(self) -> str:
        return self.versions[0]

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def default_field_labels(self) -> bool:
        """Built-in types without field label conversion of their own (those with no extra field
        selectors) get apimachinery's default one, which accepts metadata.namespace even on
        cluster-scoped types and words its rejection differently."""
        return self.builtin and not self.extra_field_selectors

    def field_selector_paths(self) -> dict[str, str]:
        """Every supported field label and the object path it reads."""
        paths = {name: name for name in _META_FIELDS}
        if self.namespaced or self.default_field_labels:
            paths["metadata.namespace"] = "metadata.namespace"
        paths.update(self.extra_field_selectors)
        return paths


def _same(*labels: str) -> dict[str, str]:
    return {label: label for label in labels}


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        ("v1",),
        "namespaces",
        "namespace",
        "Namespace",
        False,
        ("ns",),
        has_status=True,
        extra_field_selectors=_same("status.phase"),
    ),
    ResourceType(
        "",
        ("v1",),
        "nodes",
        "node",
        "Node",
        False,
        ("no",),
        has_status=True,
        extra_field_selectors=_same("spec.unschedulable"),
    ),
    ResourceType(
        "",
        ("v1",),
        "pods",
        "pod",
        "Pod",
        True,
        ("po",),
        ("all",),
        has_status=True,
        extra_field_selectors=_same(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ResourceType(
        "",
        ("v1",),
        "services",
        "service",
        "Service",
        True,
        ("svc",),
        ("all",),
        has_status=True,
        extra_field_selectors=_same("spec.clusterIP", "spec.type"),
    ),
    ResourceType("", ("v1",), "endpoints", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType(
        "",
        ("v1",),
        "events",
        "event",
        "Event",
        True,
        ("ev",),
        extra_field_selectors={label: label for label in _EVENT_FIELDS},
    ),
    ResourceType("", ("v1",), "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    ResourceType("", ("v1",), "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType("", ("v1",), "secrets", "secret", "Secret", True, extra_field_selectors=_same("type")),
    ResourceType(
        "events.k8s.io",
        ("v1",),
        "events",
        "event",
        "Event",
        True,
        ("ev",),
        extra_field_selectors={label: label for label in _EVENT_FIELDS},
        internal_group="",
    ),
    ResourceType("discovery.k8s.io", ("v1",), "endpointslices", "endpointslice", "EndpointSlice", True),
    ResourceType(
        "networking.k8s.io",
        ("v1",),
        "ingresses",
        "ingress",
        "Ingress",
        True,
        ("ing",),
        has_status=True,
        has_generation=True,
    ),
    ResourceType(
        "networking.k8s.io",
        ("v1",),
        "ingressclasses",
        "ingressclass",
        "IngressClass",
        False,
        has_generation=True,
    ),
    ResourceType("coordination.k8s.io", ("v1",), "leases", "lease", "Lease", True),
    ResourceType(
        "apiextensions.k8s.io",
        ("v1",),
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("api-extensions",),
        has_status=True,
        has_generation=True,
    ),
)

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key giving Kubernetes' version order: GA > beta > alpha, higher numbers first, others last."""
    match = _VERSION_RE.match(version)
    if match is None:
        return (3, 0, 0, version)
    major = int(match.group(1))
    stability = {None: 0, "beta": 1, "alpha": 2}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stability, -major, -minor, "")


def _printer_columns(version: Mapping[str, Any]) -> tuple[PrinterColumn, ...]:
    columns = tuple(
        PrinterColumn(
            name=str(column.get("name", "")),
            type=str(column.get("type", "")),
            json_path=str(column.get("jsonPath", "")),
            description=str(column.get("description") or ""),
            format=str(column.get("format") or ""),
            priority=int(column.get("priority") or 0),
        )
        for column in version.get("additionalPrinterColumns") or ()
    )
    return columns or DEFAULT_PRINTER_COLUMNS


def resource_from_crd(crd: Mapping[str, Any]) -> ResourceType:
    """Build the served resource for a (validated) CustomResourceDefinition."""
    spec = crd["spec"]
    names = spec["names"]
    served = [v for v in spec["versions"] if v.get("served", True)]
    versions = tuple(sorted((v["name"] for v in served), key=version_priority))
    has_status = any("status" in (v.get("subresources") or {}) for v in served)
    selectable: dict[str, str] = {}
    for version in served:
        for selectable_field in version.get("selectableFields") or ():
            path = str(selectable_field.get("jsonPath", "")).lstrip(".")
            if path:
                selectable[path] = path
    return ResourceType(
        printer_columns={str(v["name"]): _printer_columns(v) for v in served},
        group=spec["group"],
        versions=versions,
        plural=names["plural"],
        singular=names.get("singular") or names["kind"].lower(),
        kind=names["kind"],
        namespaced=spec["scope"] == "Namespaced",
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        has_status=has_status,
        builtin=False,
        has_generation=True,
        extra_field_selectors=selectable,
        schemas=version_schemas(crd),
        storage_version=storage_version(crd),
    )


class ResourceRegistry:
    """Lookup of served resources by (group, version, plural) and by group for discovery."""

    def __init__(self, resources: Iterable[ResourceType] = BUILTIN_RESOURCES) -> None:
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        for resource in resources:
            self.register(resource)

    def register(self, resource: ResourceType) -> None:
        self._by_key[resource.key] = resource

    def unregister(self, group: str, plural: str) -> ResourceType | None:
        return self._by_key.pop((group, plural), None)

    def get(self, group: str, plural: str) -> ResourceType | None:
        return self._by_key.get((group, plural))

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        resource = self._by_key.get((group, plural))
        if resource is None or version not in resource.versions:
            return None
        return resource

    def all(self) -> list[ResourceType]:
        return list(self._by_key.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → served versions, preferred first; the core group is the empty string."""
        groups: dict[str, set[str]] = {}
        for resource in self._by_key.values():
            groups.setdefault(resource.group, set()).update(resource.versions)
        return {group: sorted(versions, key=version_priority) for group, versions in groups.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (r for r in self._by_key.values() if r.group == group and version in r.versions),
            key=lambda r: r.plural,
        )
