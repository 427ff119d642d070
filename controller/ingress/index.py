"""Indices on the Ingress informer's store, so that a group reconcile and a Service event cost what
the group or the Service touches, not the number of Ingresses in the cluster.

Both are ``framework.informer.Store`` indexers, kept current by the store itself on every add,
update, delete and relist. The store recomputes an object's values to unfile it, so an index
function depends on nothing but the Ingress.

``INGRESS_GROUP_INDEX`` files an Ingress under

* ``group:<name>`` for its ``group.name`` annotation and for every ``group.ingress.k8s.aws/<name>``
  finalizer it carries: an Ingress that left a group (or whose class changed) keeps that finalizer
  until the group's reconcile has cleaned up its part and removed it, so it must still be found;
* ``class:<spec.ingressClassName>`` (``class:`` without one: the default class decides), unless
  the legacy ``kubernetes.io/ingress.class`` annotation decides its class alone.

The group name can also come from IngressClassParams ``spec.group.name``, which changes without
the Ingress changing, so that part is resolved when read, not filed: a reconcile of explicit group
``g`` asks the class matcher which IngressClasses' params name ``g`` now (one pass over the few
IngressClasses) and adds the Ingresses filed under those classes. An IngressClass or
IngressClassParams change therefore needs no re-indexing. An implicit group ``ns/name`` has one
possible Ingress: its own.

An Ingress matters to ``build_group`` only if it is the implicit group's own Ingress, carries the
group's finalizer, or is classified into the group (by its annotation or by its class's params);
it skips every other Ingress without effect. The candidates are a superset of those, so the build
decides exactly as a scan of the whole store did, at the cost of one pass over the IngressClasses
plus the group's members and finalizer holders. They come in key order (what a fresh LIST returns), which also orders the inactive members
and picks which of several broken Ingresses of the group names the error.

``INGRESS_BACKEND_SERVICE_INDEX`` files an Ingress under ``<namespace>/<service>`` for every
Service ``backend_service_names`` finds in it, so a Service event looks at the Ingresses that
forward to that Service only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from controller.annotations import ING_GROUP_NAME, INGRESS_CLASS_ANNOTATION
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX
from controller.ingress.actions import USE_ANNOTATION, action_service_names
from controller.ingress.class_matcher import IngressClassMatcher
from controller.ingress.group import IngressGroup, IngressGroupId, build_group
from framework.informer import IndexFunc, Store
from framework.kube import KubeObject
from framework.objects import annotations_of, finalizers_of, meta_of, name_of, namespace_of

INGRESS_GROUP_INDEX: Final = "ingress-group"
INGRESS_BACKEND_SERVICE_INDEX: Final = "ingress-backend-service"
_GROUP: Final = "group:"
_CLASS: Final = "class:"


def backend_service_names(ingress: Mapping[str, Any]) -> set[str]:
    """Names of the Services (in the Ingress's namespace) its default backend and paths forward to,
    directly or through an ``actions.<name>`` annotation (upstream's ``ingress.serviceRef.name`` index)."""
    spec: Mapping[str, Any] = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend")]
    for rule in spec.get("rules") or ():
        backends.extend(path.get("backend") for path in ((rule.get("http") or {}).get("paths") or ()))
    names = set()
    annotations: Mapping[str, str] | None = None  # copied out once, and only if an action needs it
    for backend in backends:
        service = (backend or {}).get("service") or {}
        name = service.get("name")
        if not name:
            continue
        if (service.get("port") or {}).get("name") == USE_ANNOTATION:
            annotations = annotations_of(ingress) if annotations is None else annotations
            names |= action_service_names(annotations, str(name))
        else:
            names.add(str(name))
    return names


def _service_value(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def ingress_backend_services(ingress: KubeObject) -> list[str]:
    """``INGRESS_BACKEND_SERVICE_INDEX``'s function."""
    namespace = namespace_of(ingress)
    return [_service_value(namespace, name) for name in backend_service_names(ingress)]


def ingress_group_values(ingress: KubeObject) -> list[str]:
    """``INGRESS_GROUP_INDEX``'s function (see the module docstring). Runs twice per Ingress event
    (to unfile the old state, to file the new one), so it reads the two annotations it needs from
    the metadata, as ``annotations_of`` would read them, without copying all of them."""
    values = [
        _GROUP + finalizer.removeprefix(EXPLICIT_GROUP_FINALIZER_PREFIX)
        for finalizer in finalizers_of(ingress)
        if finalizer.startswith(EXPLICIT_GROUP_FINALIZER_PREFIX)
    ]  # a value twice is harmless: the store files keys in sets
    annotations: Mapping[str, Any] = meta_of(ingress).get("annotations") or {}
    if ING_GROUP_NAME in annotations:
        values.append(_GROUP + str(annotations[ING_GROUP_NAME]))
    if INGRESS_CLASS_ANNOTATION not in annotations:
        class_name = (ingress.get("spec") or {}).get("ingressClassName")
        values.append(_CLASS + (str(class_name) if class_name else ""))
    return values


INGRESS_INDEXERS: Final[Mapping[str, IndexFunc]] = {
    INGRESS_GROUP_INDEX: ingress_group_values,
    INGRESS_BACKEND_SERVICE_INDEX: ingress_backend_services,
}


def add_ingress_indexers(ingresses: Store) -> None:
    """Add the indices to the Ingress store (idempotent: the reconciler and the handlers both read them)."""
    for name, func in INGRESS_INDEXERS.items():
        if name not in ingresses.indexer_names:
            ingresses.add_indexer(name, func)


def group_candidates(
    group_id: IngressGroupId, ingresses: Store, matcher: IngressClassMatcher
) -> list[KubeObject]:
    """The Ingresses that may be active or inactive members of ``group_id``, in key order."""
    if not group_id.is_explicit:
        own = ingresses.get(f"{group_id.namespace}/{group_id.name}")
        return [] if own is None else [own]
    keys = set(ingresses.index_keys(INGRESS_GROUP_INDEX, _GROUP + group_id.name))
    for class_name in matcher.class_names_with_params_group(group_id.name):
        keys.update(ingresses.index_keys(INGRESS_GROUP_INDEX, _CLASS + class_name))
    return [ingress for key in sorted(keys) if (ingress := ingresses.get(key)) is not None]


def indexed_group(group_id: IngressGroupId, ingresses: Store, matcher: IngressClassMatcher) -> IngressGroup:
    """``build_group`` over the group's candidates: the same group as over every Ingress in key order."""
    return build_group(group_id, group_candidates(group_id, ingresses, matcher), matcher)


def ingresses_forwarding_to(service: Mapping[str, Any], ingresses: Store) -> list[KubeObject]:
    """The Ingresses (of the Service's namespace) whose backends name ``service``."""
    return ingresses.by_index(
        INGRESS_BACKEND_SERVICE_INDEX, _service_value(namespace_of(service), name_of(service))
    )
