"""The Ingress store's group and backend-Service indices (``controller.ingress.index``).

The oracle is what the reconciler and the Service handler did before the indices: a group build
over every Ingress in the store, and ``service_event_keys`` over every Ingress of the Service's
namespace. Random Ingresses (explicit, implicit and params-derived groups, finalizers of groups
they left, broken classes and group names, actions forwarding to Services) go through random
adds, updates, deletes and relists, while IngressClasses, IngressClassParams and Namespace labels
change under them without any Ingress changing; after every step both ways must agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingress_factories import StaticClassSource, backend, http_rule, ingress, path

from controller.annotations import (
    ING_GROUP_NAME,
    ING_GROUP_ORDER,
    INGRESS_CLASS_ANNOTATION,
    ModelBuildError,
)
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX, IMPLICIT_GROUP_FINALIZER
from controller.ingress import IngressClassMatcher, IngressGroup, IngressGroupId, build_group
from controller.ingress.actions import actions_key
from controller.ingress.index import (
    INGRESS_BACKEND_SERVICE_INDEX,
    INGRESS_GROUP_INDEX,
    add_ingress_indexers,
    group_candidates,
    indexed_group,
    ingresses_forwarding_to,
)
from controller.ingress.reconciler import ingress_group_handlers, service_event_keys
from framework.informer import NAMESPACE_INDEX, Store
from framework.objects import object_key

NAMESPACES = ("ns-1", "ns-2")
NAMES = ("a", "b", "c", "d", "e")
GROUP_NAMES = ("g1", "g2", "old", "Bad_Name")
SERVICES = ("s1", "s2", "s3")
ALB = "ingress.k8s.aws/alb"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
# alb / alb-2: their params may set a group; alb-plain: params without one; alb-none: no params;
# nginx: not ours; alb-missing: params that do not exist; alb-badkind: unknown parameters kind.
CLASS_NAMES = ("alb", "alb-2", "alb-plain", "alb-none", "nginx", "alb-missing", "alb-badkind")


def params_object(name: str, group: str | None = None, selector: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if group is not None:
        spec["group"] = {"name": group}
    if selector:
        spec["namespaceSelector"] = {"matchLabels": {"team": "a"}}
    return {"metadata": {"name": name}, "spec": spec}


def ingress_class(
    name: str,
    params: str | None,
    controller: str = ALB,
    kind: str = "IngressClassParams",
    default: bool = False,
    created: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"controller": controller}
    if params is not None:
        spec["parameters"] = {"apiGroup": "elbv2.k8s.aws", "kind": kind, "name": params}
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if default:
        meta["annotations"] = {DEFAULT_CLASS: "true"}
    return {"metadata": meta, "spec": spec}


def namespace(name: str, team: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"team": team}}}


def initial_sources() -> StaticClassSource:
    return StaticClassSource(
        [
            ingress_class("alb", "p-group", created="2026-01-01T00:00:01Z"),
            # The default class: Ingresses without a class name get their group from p-group too.
            ingress_class("alb-2", "p-group", default=True, created="2026-01-01T00:00:02Z"),
            ingress_class("alb-plain", "p-plain", created="2026-01-01T00:00:03Z"),
            ingress_class("alb-none", None, created="2026-01-01T00:00:04Z"),
            ingress_class("nginx", None, controller="k8s.io/ingress-nginx", created="2026-01-01T00:00:05Z"),
            ingress_class("alb-missing", "p-missing", created="2026-01-01T00:00:06Z"),
            ingress_class("alb-badkind", "p-group", kind="Other", created="2026-01-01T00:00:07Z"),
        ],
        [params_object("p-group", "g1"), params_object("p-plain")],
        [namespace("ns-1", "a"), namespace("ns-2", "b")],
    )


# --------------------------------------------------------------------------------------------------
# The oracle: the scans the indices replace
# --------------------------------------------------------------------------------------------------


def scanned_group(
    group_id: IngressGroupId, every_ingress: Iterable[Mapping[str, Any]], matcher: IngressClassMatcher
) -> IngressGroup:
    """The reconcile before the index: ``build_group`` over every Ingress in the store."""
    return build_group(group_id, every_ingress, matcher)


def scanned_service_keys(
    service: Mapping[str, Any], ingresses: Store, matcher: IngressClassMatcher
) -> set[str]:
    """The Service handler before the index: every Ingress of the Service's namespace."""
    namespace = service["metadata"]["namespace"]
    return service_event_keys(service, ingresses.by_index(NAMESPACE_INDEX, namespace), matcher)


Outcome = tuple[Any, ...]


def outcome(build: Callable[..., IngressGroup], *args: Any) -> Outcome:
    try:
        group = build(*args)
    except ModelBuildError as error:
        return ("error", type(error).__name__, str(error))
    return ("group", group.id, group.members, tuple(object_key(i) for i in group.inactive_members))


def loose(result: Outcome) -> Outcome:
    """What does not depend on the order Ingresses are read in: members (sorted by the build),
    inactive members as a set, and whether the build fails."""
    if result[0] == "error":
        return ("error",)
    return (*result[:3], frozenset(result[3]))


def group_ids() -> list[IngressGroupId]:
    explicit = [IngressGroupId.explicit(name) for name in GROUP_NAMES]
    return explicit + [IngressGroupId.implicit(ns, name) for ns in NAMESPACES for name in NAMES]


# --------------------------------------------------------------------------------------------------
# Random Ingresses and changes
# --------------------------------------------------------------------------------------------------

forward_action = st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True).map(
    lambda names: json.dumps(
        {
            "type": "forward",
            "forwardConfig": {"targetGroups": [{"serviceName": n, "servicePort": 80} for n in names]},
        }
    )
)
action_values = st.one_of(
    forward_action,
    st.just('{"type": "fixed-response", "fixedResponseConfig": {"statusCode": "503"}}'),
    st.just("{not json"),
)


@st.composite
def ingresses(draw: st.DrawFn) -> dict[str, Any]:
    annotations: dict[str, str] = {}
    legacy = draw(st.sampled_from([None, None, None, "alb", "nginx"]))
    if legacy is not None:
        annotations[INGRESS_CLASS_ANNOTATION] = legacy
    group = draw(st.sampled_from([None, None, *GROUP_NAMES]))
    if group is not None:
        annotations[ING_GROUP_NAME] = group
    order = draw(st.sampled_from([None, None, "5", "-3", "x"]))
    if order is not None:
        annotations[ING_GROUP_ORDER] = order
    paths = []
    for service_name in draw(st.lists(st.sampled_from(SERVICES), max_size=2)):
        paths.append(path(f"/{service_name}", service_name, 80))
    if draw(st.booleans()):
        paths.append(path("/act", "act", "use-annotation"))
        if draw(st.booleans()):
            annotations[actions_key("act")] = draw(action_values)
    default_service = draw(st.sampled_from([None, *SERVICES]))
    finalizers = draw(
        st.lists(
            st.sampled_from(
                [
                    IMPLICIT_GROUP_FINALIZER,
                    *(EXPLICIT_GROUP_FINALIZER_PREFIX + g for g in ("g1", "g2", "old")),
                ]
            ),
            max_size=3,
            unique=True,
        )
    )
    return ingress(
        name=draw(st.sampled_from(NAMES)),
        namespace=draw(st.sampled_from(NAMESPACES)),
        annotations=annotations,
        rules=[http_rule(paths)] if paths else [],
        default_backend=backend(default_service, 80) if default_service else None,
        class_name=draw(st.sampled_from([None, "", *CLASS_NAMES, "absent"])),
        finalizers=finalizers,
        deleting=draw(st.booleans()),
    )


@dataclass(frozen=True)
class Put:
    ingress: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    key: str


@dataclass(frozen=True)
class Relist:
    ingresses: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SetParams:
    """IngressClassParams ``p-group`` changes (or goes away): no Ingress changes."""

    group: str | None
    selector: bool
    exists: bool


@dataclass(frozen=True)
class SetClass:
    """IngressClass ``name`` points at other params, or becomes (or stops being) a default class."""

    name: str
    params: str | None
    default: bool


@dataclass(frozen=True)
class Relabel:
    namespace: str
    team: str


Step = Put | Delete | Relist | SetParams | SetClass | Relabel

steps = st.one_of(
    ingresses().map(Put),
    ingresses().map(Put),
    st.builds(Delete, st.sampled_from([f"{ns}/{name}" for ns in NAMESPACES for name in NAMES])),
    st.lists(ingresses(), max_size=6).map(lambda items: Relist(tuple(items))),
    st.builds(SetParams, st.sampled_from([None, "g1", "g2", "Bad_Name"]), st.booleans(), st.booleans()),
    st.builds(
        SetClass,
        st.sampled_from(["alb", "alb-2", "alb-plain", "alb-none"]),
        st.sampled_from([None, "p-group", "p-plain"]),
        st.booleans(),
    ),
    st.builds(Relabel, st.sampled_from(NAMESPACES), st.sampled_from(["a", "b"])),
)


def apply(step: Step, store: Store, sources: StaticClassSource) -> None:
    if isinstance(step, Put):
        store.upsert(step.ingress)
    elif isinstance(step, Delete):
        store.delete(step.key)
    elif isinstance(step, Relist):
        store.replace({object_key(i): i for i in step.ingresses}.values())
    elif isinstance(step, SetParams):
        if step.exists:
            sources.params["p-group"] = params_object("p-group", step.group, step.selector)
        else:
            sources.params.pop("p-group", None)
    elif isinstance(step, SetClass):
        old = sources.classes[step.name]
        created = old["metadata"]["creationTimestamp"]
        sources.classes[step.name] = ingress_class(
            step.name, step.params, default=step.default, created=created
        )
    else:
        sources.namespaces[step.namespace] = namespace(step.namespace, step.team)


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, max_size=25))
def test_indexed_group_builds_equal_the_full_scan(changes: list[Step]) -> None:
    sources = initial_sources()
    matcher = IngressClassMatcher(sources)
    store = Store()
    add_ingress_indexers(store)
    for step in changes:
        apply(step, store, sources)
        in_key_order = sorted(store.list(), key=object_key)
        in_store_order = store.list()
        for group_id in group_ids():
            indexed = outcome(indexed_group, group_id, store, matcher)
            # Exactly the scan over a fresh LIST (key order), errors and inactive order included.
            by_key = outcome(scanned_group, group_id, in_key_order, matcher)
            assert indexed == by_key, group_id
            # And the scan over the store in its own order, up to that order.
            by_store = outcome(scanned_group, group_id, in_store_order, matcher)
            assert loose(indexed) == loose(by_store), group_id


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, max_size=25))
def test_service_events_queue_what_the_namespace_scan_queued(changes: list[Step]) -> None:
    sources = initial_sources()
    matcher = IngressClassMatcher(sources)
    store = Store()
    queued: list[str] = []
    handlers = ingress_group_handlers(queued.append, matcher, store, Store())
    for step in changes:
        apply(step, store, sources)
        for ns in NAMESPACES:
            for name in (*SERVICES, "act", "unused"):
                service = {"metadata": {"namespace": ns, "name": name}}
                queued.clear()
                handlers.service.on_add(service, False)
                assert queued == sorted(scanned_service_keys(service, store, matcher)), (ns, name)


# --------------------------------------------------------------------------------------------------
# What the indices hold and return
# --------------------------------------------------------------------------------------------------


def test_a_group_reads_only_its_candidates() -> None:
    sources = initial_sources()
    sources.classes["alb-2"] = ingress_class("alb-2", "p-group", default=True)
    matcher = IngressClassMatcher(sources)
    store = Store()
    add_ingress_indexers(store)
    wanted = [
        ingress(name="annotated", annotations={INGRESS_CLASS_ANNOTATION: "alb", ING_GROUP_NAME: "g1"}),
        ingress(
            name="left",
            annotations={INGRESS_CLASS_ANNOTATION: "alb"},
            finalizers=[EXPLICIT_GROUP_FINALIZER_PREFIX + "g1"],
        ),
        ingress(name="by-params", class_name="alb"),  # p-group sets g1
        ingress(name="by-default-class", class_name=None),  # the default class alb-2 uses p-group too
    ]
    unrelated = [
        ingress(name=f"other-{n}", annotations={ING_GROUP_NAME: "g2"}, class_name="alb-plain")
        for n in range(50)
    ]
    for obj in [*unrelated, *wanted]:
        store.upsert(obj)

    candidates = group_candidates(IngressGroupId.explicit("g1"), store, matcher)
    assert [object_key(i) for i in candidates] == sorted(object_key(i) for i in wanted)
    assert [
        object_key(i) for i in group_candidates(IngressGroupId.implicit("ns-1", "other-7"), store, matcher)
    ] == ["ns-1/other-7"]
    assert group_candidates(IngressGroupId.implicit("ns-1", "gone"), store, matcher) == []
    g1 = IngressGroupId.explicit("g1")
    group = indexed_group(g1, store, matcher)
    assert group == scanned_group(g1, sorted(store.list(), key=object_key), matcher)
    assert [ref.name for ref in group.member_refs] == ["annotated", "by-default-class", "by-params"]
    assert [i["metadata"]["name"] for i in group.inactive_members] == ["left"]

    # The params now name another group: no Ingress changed, no re-indexing, the candidates follow.
    sources.params["p-group"] = params_object("p-group", "g2")
    candidates = group_candidates(IngressGroupId.explicit("g1"), store, matcher)
    assert [object_key(i) for i in candidates] == ["ns-1/annotated", "ns-1/left"]
    g2 = {object_key(i) for i in group_candidates(IngressGroupId.explicit("g2"), store, matcher)}
    assert {"ns-1/by-params", "ns-1/by-default-class"} <= g2


def test_index_values_of_one_ingress() -> None:
    store = Store()
    add_ingress_indexers(store)
    add_ingress_indexers(store)  # idempotent
    store.upsert(
        ingress(
            name="i",
            annotations={
                ING_GROUP_NAME: "g1",
                actions_key("act"): '{"type": "forward", "forwardConfig": '
                '{"targetGroups": [{"serviceName": "s3", "servicePort": 80}]}}',
            },
            rules=[http_rule([path("/", "s1", 80), path("/a", "act", "use-annotation")])],
            default_backend=backend("s2", 80),
            class_name="alb",
            finalizers=[IMPLICIT_GROUP_FINALIZER, EXPLICIT_GROUP_FINALIZER_PREFIX + "old"],
        )
    )
    assert store.index_values(INGRESS_GROUP_INDEX) == ["class:alb", "group:g1", "group:old"]
    assert store.index_values(INGRESS_BACKEND_SERVICE_INDEX) == ["ns-1/s1", "ns-1/s2", "ns-1/s3"]
    # The legacy annotation decides the class alone: no class value.
    store.upsert(ingress(name="i", annotations={INGRESS_CLASS_ANNOTATION: "alb"}, class_name="alb", rules=[]))
    assert store.index_values(INGRESS_GROUP_INDEX) == []
    assert store.index_values(INGRESS_BACKEND_SERVICE_INDEX) == []
    store.upsert(ingress(name="j", rules=[]))
    assert store.index_values(INGRESS_GROUP_INDEX) == ["class:"]


def test_a_service_event_reads_only_the_ingresses_forwarding_to_it() -> None:
    matcher = IngressClassMatcher(StaticClassSource())
    store = Store()
    add_ingress_indexers(store)
    legacy = {INGRESS_CLASS_ANNOTATION: "alb"}
    forwarding = ingress(name="fwd", annotations=legacy, rules=[http_rule([path("/", "web", 80)])])
    other_ns = ingress(
        name="fwd", namespace="ns-2", annotations=legacy, rules=[http_rule([path("/", "web", 80)])]
    )
    for obj in [forwarding, other_ns, *(ingress(name=f"x-{n}", annotations=legacy) for n in range(50))]:
        store.upsert(obj)
    service = {"metadata": {"namespace": "ns-1", "name": "web"}}
    assert [object_key(i) for i in ingresses_forwarding_to(service, store)] == ["ns-1/fwd"]
    queued: list[str] = []
    ingress_group_handlers(queued.append, matcher, store, Store()).service.on_add(service, False)
    assert queued == ["ns-1/fwd"]
