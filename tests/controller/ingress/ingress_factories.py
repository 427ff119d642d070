"""Builders of plain Kubernetes dicts and fakes for the Ingress model-builder tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.config import ControllerSettings, parse_config
from controller.ingress import ClassifiedIngress, IngressGroup, IngressGroupId, IngressModelBuilder
from controller.ingress.reconciler import ingress_group_stack_tags
from controller.model import StackModel
from controller.naming import StackTags
from controller.networking.errors import SecurityGroupLookupError


def make_config(cluster: str = "my-cluster", **overrides: Any) -> ControllerSettings:
    return dataclasses.replace(parse_config(["--cluster-name", cluster]), **overrides)


def ingress(
    name: str = "ing-1",
    namespace: str = "ns-1",
    annotations: Mapping[str, str] | None = None,
    rules: Sequence[Mapping[str, Any]] | None = None,
    default_backend: Mapping[str, Any] | None = None,
    class_name: str | None = None,
    finalizers: Sequence[str] = (),
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "annotations": dict(annotations or {})}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {}
    if rules is not None:
        spec["rules"] = list(rules)
    else:
        spec["rules"] = [http_rule(paths=[path("/", "svc-1", "http")])]
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if class_name is not None:
        spec["ingressClassName"] = class_name
    return {"metadata": meta, "spec": spec}


def backend(service: str, port: int | str) -> dict[str, Any]:
    port_ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": port_ref}}


def path(
    value: str | None, service: str, port: int | str, path_type: str | None = "Prefix"
) -> dict[str, Any]:
    entry: dict[str, Any] = {"backend": backend(service, port)}
    if value is not None:
        entry["path"] = value
    if path_type is not None:
        entry["pathType"] = path_type
    return entry


def http_rule(paths: Sequence[Mapping[str, Any]], host: str | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": list(paths)}}
    if host:
        rule["host"] = host
    return rule


def service(
    name: str = "svc-1",
    namespace: str = "ns-1",
    ports: Sequence[Mapping[str, Any]] | None = None,
    annotations: Mapping[str, str] | None = None,
    uid: str = "",
    service_type: str = "NodePort",
    ip_families: Sequence[str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": service_type,
        "ports": list(
            ports or [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 32768, "protocol": "TCP"}]
        ),
    }
    if ip_families is not None:
        spec["ipFamilies"] = list(ip_families)
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
    }


class FakeServices:
    def __init__(self, services: Iterable[Mapping[str, Any]] = ()) -> None:
        self._by_key = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}

    def __call__(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._by_key.get((namespace, name))


class FakeResolver:
    """Resolves ids to themselves and names via a Name-tag table; records every call."""

    def __init__(self, names: Mapping[str, Sequence[str]] | None = None) -> None:
        self._names = dict(names or {})
        self.calls: list[list[str]] = []

    async def resolve(self, names_or_ids: Sequence[str]) -> list[str]:
        self.calls.append(list(names_or_ids))
        ids = [entry for entry in names_or_ids if entry.startswith("sg-")]
        names = [entry for entry in names_or_ids if not entry.startswith("sg-")]
        missing = [n for n in names if n not in self._names]
        if missing:
            raise SecurityGroupLookupError(
                f"couldn't find all security groups: requested names [{', '.join(names)}] but found "
                f"[{', '.join(n for n in names if n in self._names)}]"
            )
        return [*ids, *(gid for n in dict.fromkeys(names) for gid in self._names[n])]


def implicit_group(*members: Mapping[str, Any]) -> IngressGroup:
    first = members[0]["metadata"]
    return IngressGroup(
        IngressGroupId.implicit(first["namespace"], first["name"]),
        tuple(ClassifiedIngress(m) for m in members),
    )


def explicit_group(name: str, *members: Mapping[str, Any]) -> IngressGroup:
    return IngressGroup(IngressGroupId.explicit(name), tuple(ClassifiedIngress(m) for m in members))


def stack_of(group: IngressGroup, config: ControllerSettings | None = None) -> StackTags:
    """The stack tags the reconciler would hand the builder for ``group``."""
    return ingress_group_stack_tags((config or make_config()).cluster_name, group.id)


async def build(
    group: IngressGroup,
    services: Iterable[Mapping[str, Any]] | None = None,
    config: ControllerSettings | None = None,
    resolver: FakeResolver | None = None,
) -> StackModel:
    config = config or make_config()
    builder = IngressModelBuilder(
        config,
        resolver or FakeResolver(),
        FakeServices(services if services is not None else [service()]),
    )
    model = await builder.build(group, stack_of(group, config))
    assert model is not None
    return model


class StaticClassSource:
    """``IngressClassSource`` over plain lists of IngressClasses, IngressClassParams and Namespaces."""

    def __init__(
        self,
        classes: Iterable[Mapping[str, Any]] = (),
        params: Iterable[Mapping[str, Any]] = (),
        namespaces: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.classes = {c["metadata"]["name"]: c for c in classes}
        self.params = {p["metadata"]["name"]: p for p in params}
        self.namespaces = {n["metadata"]["name"]: n for n in namespaces}

    def get_ingress_class(self, name: str) -> Mapping[str, Any] | None:
        return self.classes.get(name)

    def list_ingress_classes(self) -> Iterable[Mapping[str, Any]]:
        return self.classes.values()

    def get_ingress_class_params(self, name: str) -> Mapping[str, Any] | None:
        return self.params.get(name)

    def get_namespace(self, name: str) -> Mapping[str, Any] | None:
        return self.namespaces.get(name)
