"""Informer handlers that map Service / EndpointSlice / Node / Pod changes to the TGB keys they affect.

Handlers only enqueue keys (level-based reconciles) and skip updates that cannot change a TGB's
targets or rules: status-only TGB writes (our own ``observedGeneration``), our own finalizer being
added (the pass that added it goes on to register the targets, so a second pass would only repeat
its DescribeTargetHealth), Node heartbeats, Pod status churn other than IPs. Initial-list adds and periodic resyncs (``old is new``) of the
dependents are skipped too: the TGB informer's own initial adds and resyncs already enqueue every
TGB, and fanning each of N nodes out to M instance TGBs would cost N*M queue operations per pass.

They also keep the rule ownership's *expected* TGB set (those with ``spec.networking``) in step
with the cache; it is pushed only once the TGB informer has synced, and only when it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.finalizers import TGB_FINALIZER
from controller.targetgroupbinding.informers import (
    BINDINGS_BY_SERVICE_INDEX,
    BINDINGS_BY_TARGET_TYPE_INDEX,
    SLICES_BY_POD_INDEX,
    BindingInformers,
    slice_service_key,
)
from controller.targetgroupbinding.model import TARGET_TYPE_INSTANCE, TARGET_TYPE_IP, has_networking
from framework.informer import (
    DeletedFinalStateUnknown,
    FunctionHandler,
    SharedInformer,
    final_state,
    object_key,
)
from framework.kube import KubeObject
from framework.objects import finalizers_of, meta_of

Enqueue = Callable[[str], None]
ExpectedSink = Callable[[Iterable[str]], object]


@dataclass(frozen=True)
class Watch:
    informer: SharedInformer
    handler: FunctionHandler
    name: str


def _only_our_finalizer_added(old_finalizers: list[str], new_finalizers: list[str]) -> bool:
    return (
        TGB_FINALIZER not in old_finalizers
        and [f for f in new_finalizers if f != TGB_FINALIZER] == old_finalizers
    )


def _binding_changed(old: KubeObject, new: KubeObject) -> bool:
    old_meta, new_meta = meta_of(old), meta_of(new)
    old_finalizers, new_finalizers = finalizers_of(old), finalizers_of(new)
    return (
        old.get("spec") != new.get("spec")
        or old_meta.get("generation") != new_meta.get("generation")
        or old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or (
            old_finalizers != new_finalizers and not _only_our_finalizer_added(old_finalizers, new_finalizers)
        )
        or old_meta.get("uid") != new_meta.get("uid")
    )


def _node_view(node: KubeObject) -> tuple[object, ...]:
    meta = meta_of(node)
    ready = next(
        (
            c.get("status")
            for c in (node.get("status") or {}).get("conditions") or ()
            if c.get("type") == "Ready"
        ),
        None,
    )
    return (meta.get("uid"), meta.get("labels"), (node.get("spec") or {}).get("providerID"), ready)


def _pod_view(pod: KubeObject) -> tuple[object, ...]:
    meta = meta_of(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ports = [c.get("ports") for c in spec.get("containers") or ()]
    return (
        meta.get("uid"),
        (meta.get("annotations") or {}).get(POD_ENI_ANNOTATION),
        spec.get("nodeName"),
        status.get("podIP"),
        status.get("podIPs"),
        ports,
    )


class BindingEventHandlers:
    def __init__(self, informers: BindingInformers, enqueue: Enqueue, set_expected: ExpectedSink) -> None:
        self._informers = informers
        self._enqueue = enqueue
        self._set_expected = set_expected
        self._expected: frozenset[str] | None = None

    def watches(self) -> list[Watch]:
        """What the controller watches (attached only while it runs, see ``Controller.watch``)."""
        informers = self._informers
        return [
            Watch(
                informers.bindings,
                FunctionHandler(
                    add=self._binding_added, update=self._binding_updated, delete=self._binding_deleted
                ),
                "targetGroupBinding/bindings",
            ),
            Watch(
                informers.services,
                FunctionHandler(
                    add=lambda obj, initial: None if initial else self._service_changed(obj),
                    update=lambda old, new: (
                        self._service_changed(new)
                        if old is not new and old.get("spec") != new.get("spec")
                        else None
                    ),
                    delete=lambda obj: self._service_changed(final_state(obj)),
                ),
                "targetGroupBinding/services",
            ),
            Watch(
                informers.endpoint_slices,
                FunctionHandler(
                    add=lambda obj, initial: None if initial else self._slice_changed(obj),
                    update=self._slice_updated,
                    delete=lambda obj: self._slice_changed(final_state(obj)),
                ),
                "targetGroupBinding/endpointslices",
            ),
            Watch(
                informers.nodes,
                FunctionHandler(
                    add=lambda obj, initial: (
                        None if initial else self._enqueue_target_type(TARGET_TYPE_INSTANCE)
                    ),
                    update=lambda old, new: (
                        self._enqueue_target_type(TARGET_TYPE_INSTANCE)
                        if old is not new and _node_view(old) != _node_view(new)
                        else None
                    ),
                    delete=lambda obj: self._enqueue_target_type(TARGET_TYPE_INSTANCE),
                ),
                "targetGroupBinding/nodes",
            ),
            Watch(
                informers.pods,
                FunctionHandler(
                    add=lambda obj, initial: None if initial else self._pod_changed(obj),
                    update=lambda old, new: (
                        self._pod_changed(new)
                        if old is not new and _pod_view(old) != _pod_view(new)
                        else None
                    ),
                ),
                "targetGroupBinding/pods",
            ),
        ]

    # ----------------------------------------------------------------------------- TGBs

    def _binding_added(self, obj: KubeObject, _initial: bool) -> None:
        self._enqueue(object_key(obj))
        self.refresh_expected()

    def _binding_updated(self, old: KubeObject, new: KubeObject) -> None:
        if old is new or _binding_changed(old, new):
            self._enqueue(object_key(new))
        if has_networking(old) != has_networking(new):
            self.refresh_expected()

    def _binding_deleted(self, obj: KubeObject | DeletedFinalStateUnknown) -> None:
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj)
        self._enqueue(key)
        self.refresh_expected()

    def refresh_expected(self) -> None:
        """Push the keys of cached TGBs with networking to the rule ownership (if changed).

        Computed from the whole cache, never incrementally: once the informer has synced the cache
        is complete, so the set is right even while the initial adds are still being delivered.
        """
        informer = self._informers.bindings
        if not informer.has_synced:
            return
        expected = frozenset(object_key(obj) for obj in informer.store.list() if has_networking(obj))
        if expected != self._expected:
            self._expected = expected
            self._set_expected(expected)

    # ----------------------------------------------------------------------------- dependents

    def _bindings_of_service(self, service_key: str) -> list[KubeObject]:
        return self._informers.bindings.store.by_index(BINDINGS_BY_SERVICE_INDEX, service_key)

    def _service_changed(self, service: KubeObject) -> None:
        for binding in self._bindings_of_service(object_key(service)):
            self._enqueue(object_key(binding))

    def _slice_changed(self, endpoint_slice: KubeObject) -> None:
        service_key = slice_service_key(endpoint_slice)
        if service_key is None:
            return
        for binding in self._bindings_of_service(service_key):
            if (binding.get("spec") or {}).get("targetType") == TARGET_TYPE_IP:
                self._enqueue(object_key(binding))

    def _slice_updated(self, old: KubeObject, new: KubeObject) -> None:
        if old is new:
            return
        if old.get("endpoints") != new.get("endpoints") or old.get("ports") != new.get("ports"):
            self._slice_changed(new)

    def _enqueue_target_type(self, target_type: str) -> None:
        for binding in self._informers.bindings.store.by_index(BINDINGS_BY_TARGET_TYPE_INDEX, target_type):
            self._enqueue(object_key(binding))

    def _pod_changed(self, pod: KubeObject) -> None:
        """A Pod's ENI or ports matter only to ip TGBs with networking whose endpoints include it."""
        for endpoint_slice in self._informers.endpoint_slices.store.by_index(
            SLICES_BY_POD_INDEX, object_key(pod)
        ):
            service_key = slice_service_key(endpoint_slice)
            if service_key is None:
                continue
            for binding in self._bindings_of_service(service_key):
                if (binding.get("spec") or {}).get("targetType") == TARGET_TYPE_IP and has_networking(
                    binding
                ):
                    self._enqueue(object_key(binding))
