"""Event-loop CPU per Ingress-group build and per Service event at 100, 1,000 and 5,000 Ingresses:
the scans the reconciler and the Service handler did before ``controller.ingress.index`` against
the indices, measured in the same run over the same store.

The fleet is shaped as ``benchmarks/cold_start.py`` shapes it: the first fifth of the Ingresses are
in explicit groups of 4 (``group.name``) in one namespace, the rest are implicit groups spread over
``--namespaces`` namespaces (10; 1 is the worst case for a Service event before the index); every Ingress has ``spec.ingressClassName: alb`` (an IngressClass without params),
one path to its own Service, and its group finalizer (as after a restart).

* group build: ``old`` is ``build_group`` over every Ingress in the store (what the reconciler
  did), ``index`` is ``indexed_group`` (what it does now). Both produce the same group (checked
  here for every sampled key). ``cold_start_s`` is the per-build time times the number of groups:
  the event-loop CPU spent collecting members over a cold start that reconciles every group once;
* Service event: ``old`` is ``service_event_keys`` over the Ingresses of the Service's namespace
  (the handler before), ``index`` over ``ingresses_forwarding_to`` (the handler now); both queue the
  same keys (checked).

Times are the median over ``--rounds`` rounds of the mean over the sampled keys (at most
``--sample`` keys for the old scans, every key for the indices); each round times both ways, so
they see the same load of a shared machine. Prints one JSON object. Run:
``.venv/bin/python benchmarks/ingress_group_build.py`` (about 1 min; ``--sizes 100,1000`` is quicker).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.annotations import ING_GROUP_NAME
from controller.finalizers import EXPLICIT_GROUP_FINALIZER_PREFIX, IMPLICIT_GROUP_FINALIZER
from controller.ingress.class_matcher import IngressClassMatcher
from controller.ingress.class_source import InformerIngressClasses
from controller.ingress.group import build_group
from controller.ingress.index import add_ingress_indexers, indexed_group, ingresses_forwarding_to
from controller.ingress.reconciler import group_id_from_key, service_event_keys
from framework.informer import NAMESPACE_INDEX, Store
from framework.kube import KubeObject

GROUP_SIZE = 4


def ingress(index: int, grouped: int, namespace_count: int) -> KubeObject:
    group = f"grp-{index // GROUP_SIZE}" if index < grouped else None
    namespace = "cold-0" if group else f"cold-{index % namespace_count}"
    annotations = {
        "alb.ingress.kubernetes.io/scheme": "internet-facing",
        "alb.ingress.kubernetes.io/target-type": "instance" if index % 2 == 0 else "ip",
    }
    if group:
        annotations[ING_GROUP_NAME] = group
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"ing-{index}",
            "namespace": namespace,
            "uid": f"uid-{index}",
            "resourceVersion": str(1000 + index),
            "annotations": annotations,
            "finalizers": [EXPLICIT_GROUP_FINALIZER_PREFIX + group if group else IMPLICIT_GROUP_FINALIZER],
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": f"/ing-{index}" if group else "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": f"svc-{index}", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def world(size: int, namespace_count: int) -> tuple[Store, IngressClassMatcher, list[str], list[KubeObject]]:
    """The Ingress store (with the indices), the matcher, every group key and every backend Service."""
    classes, params, namespaces = Store(), Store(), Store()
    classes.upsert({"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}})
    for n in range(namespace_count):
        namespaces.upsert({"metadata": {"name": f"cold-{n}"}})
    matcher = IngressClassMatcher(InformerIngressClasses(classes, params, namespaces))
    grouped = (size // 5) // GROUP_SIZE * GROUP_SIZE
    ingresses = [ingress(i, grouped, namespace_count) for i in range(size)]
    store = Store()
    add_ingress_indexers(store)
    store.replace(ingresses)
    group_keys = sorted(
        {f"grp-{i // GROUP_SIZE}" for i in range(grouped)}
        | {f"cold-{i % namespace_count}/ing-{i}" for i in range(grouped, size)}
    )
    services: list[KubeObject] = [
        {"metadata": {"namespace": obj["metadata"]["namespace"], "name": f"svc-{i}"}}
        for i, obj in enumerate(ingresses)
    ]
    return store, matcher, group_keys, services


def per_call(batches: Mapping[str, Sequence[Callable[[], object]]], rounds: int) -> dict[str, float]:
    """Per batch, the median over rounds of the mean seconds per call. Each round times every batch
    in turn, so the old and the new way see the same machine load; one untimed pass warms up."""
    for calls in batches.values():
        for call in calls:
            call()
    means: dict[str, list[float]] = {name: [] for name in batches}
    for _ in range(rounds):
        for name, calls in batches.items():
            start = time.perf_counter()
            for call in calls:
                call()
            means[name].append((time.perf_counter() - start) / len(calls))
    return {name: statistics.median(values) for name, values in means.items()}


def measure(size: int, namespaces: int, sample: int, rounds: int, rng: random.Random) -> dict[str, Any]:
    store, matcher, group_keys, services = world(size, namespaces)
    old_keys = rng.sample(group_keys, min(sample, len(group_keys)))
    old_services = rng.sample(services, min(sample, len(services)))

    def old_build(key: str) -> Callable[[], object]:
        return lambda: build_group(group_id_from_key(key), store.list(), matcher)

    def new_build(key: str) -> Callable[[], object]:
        return lambda: indexed_group(group_id_from_key(key), store, matcher)

    def old_event(service: KubeObject) -> Callable[[], object]:
        namespace = service["metadata"]["namespace"]
        return lambda: service_event_keys(service, store.by_index(NAMESPACE_INDEX, namespace), matcher)

    def new_event(service: KubeObject) -> Callable[[], object]:
        return lambda: service_event_keys(service, ingresses_forwarding_to(service, store), matcher)

    for key in old_keys:  # same answers both ways, or the timing means nothing
        assert old_build(key)() == new_build(key)(), key
    for service in old_services:
        assert old_event(service)() == new_event(service)(), service

    timed = per_call(
        {
            "build_old": [old_build(k) for k in old_keys],
            "build_new": [new_build(k) for k in group_keys],
            "event_old": [old_event(s) for s in old_services],
            "event_new": [new_event(s) for s in services],
        },
        rounds,
    )
    build_old, build_new = timed["build_old"], timed["build_new"]
    event_old, event_new = timed["event_old"], timed["event_new"]
    return {
        "ingresses": size,
        "groups": len(group_keys),
        "group_build_ms": {
            "old": round(build_old * 1e3, 4),
            "index": round(build_new * 1e3, 4),
            "ratio": round(build_old / build_new, 1),
        },
        "group_builds_cold_start_s": {
            "old": round(build_old * len(group_keys), 3),
            "index": round(build_new * len(group_keys), 4),
        },
        "service_event_ms": {
            "old": round(event_old * 1e3, 4),
            "index": round(event_new * 1e3, 4),
            "ratio": round(event_old / event_new, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,5000", help="Ingress counts, comma-separated")
    parser.add_argument("--namespaces", type=int, default=10, help="namespaces of the implicit groups")
    parser.add_argument("--sample", type=int, default=40, help="keys timed per size with the old scans")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = [
        measure(int(size), args.namespaces, args.sample, args.rounds, rng) for size in args.sizes.split(",")
    ]
    settings = {"namespaces": args.namespaces, "rounds": args.rounds, "sample": args.sample}
    print(json.dumps({**settings, "results": results}, indent=2))


if __name__ == "__main__":
    main()
