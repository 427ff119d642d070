"""Which object changes enqueue which TGB keys, and the expected-TGB set pushed to the SG registry."""

from __future__ import annotations

from typing import Any

from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.finalizers import TGB_FINALIZER
from controller.targetgroupbinding.handlers import BindingEventHandlers
from controller.targetgroupbinding.informers import BindingInformers
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.informer import DeletedFinalStateUnknown, EventHandler, SharedInformer
from framework.kube import ENDPOINT_SLICES, NODES, PODS, SERVICES, KubeClient

NETWORKING = {"ingress": [{"from": [{"securityGroup": {"groupID": "sg-1"}}], "ports": []}]}


def tgb(
    name: str, service: str, target_type: str, networking: bool = False, generation: int = 1
) -> dict[str, Any]:
    spec: dict[str, Any] = {"targetType": target_type, "serviceRef": {"name": service, "port": 80}}
    if networking:
        spec["networking"] = NETWORKING
    return {"metadata": {"name": name, "namespace": "ns", "generation": generation}, "spec": spec}


def endpoint_slice(service: str, pods: list[str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service}-1",
            "namespace": "ns",
            "labels": {"kubernetes.io/service-name": service},
        },
        "endpoints": [{"addresses": ["10.0.0.1"], "targetRef": {"kind": "Pod", "name": p}} for p in pods],
    }


class Recorder:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.expected: list[frozenset[str]] = []


def build(client: KubeClient) -> tuple[BindingInformers, list[EventHandler], Recorder]:
    informers = BindingInformers(
        bindings=SharedInformer(client, TARGET_GROUP_BINDINGS),
        services=SharedInformer(client, SERVICES),
        endpoint_slices=SharedInformer(client, ENDPOINT_SLICES),
        nodes=SharedInformer(client, NODES),
        pods=SharedInformer(client, PODS),
    )
    informers.add_indexers()
    informers.add_indexers()  # idempotent
    recorder = Recorder()
    handlers = BindingEventHandlers(
        informers, recorder.keys.append, lambda keys: recorder.expected.append(frozenset(keys))
    )
    return informers, [watch.handler for watch in handlers.watches()], recorder


async def test_dependents_map_to_the_bindings_that_use_them(kube: KubeClient) -> None:
    informers, handlers, recorder = build(kube)
    on_binding, on_service, on_slice, on_node, on_pod = handlers
    bindings = [
        tgb("ip-net", "web", "ip", networking=True),
        tgb("ip-plain", "web", "ip"),
        tgb("inst", "web", "instance"),
    ]
    informers.bindings.replace(bindings, "1")
    informers.endpoint_slices.replace([endpoint_slice("web", ["web-0"])], "1")
    # Initial adds enqueue each binding and push the expected set once (it does not change after).
    for binding in bindings:
        on_binding.on_add(binding, True)
    assert recorder.keys == ["ns/ip-net", "ns/ip-plain", "ns/inst"]
    assert recorder.expected == [frozenset({"ns/ip-net"})]

    recorder.keys.clear()
    service = {"metadata": {"name": "web", "namespace": "ns"}, "spec": {"ports": [{"port": 80}]}}
    on_service.on_add(service, False)
    assert sorted(recorder.keys) == ["ns/inst", "ns/ip-net", "ns/ip-plain"]
    recorder.keys.clear()
    on_service.on_update(service, {**service, "status": {"x": 1}})  # status only: nothing to do
    assert recorder.keys == []

    on_slice.on_update(endpoint_slice("web", ["web-0"]), endpoint_slice("web", ["web-0", "web-1"]))
    assert sorted(recorder.keys) == ["ns/ip-net", "ns/ip-plain"]  # instance targets ignore slices
    recorder.keys.clear()

    ready: dict[str, Any] = {
        "metadata": {"name": "n1", "uid": "u"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    heartbeat = {**ready, "status": {**ready["status"], "heartbeat": 2}}
    on_node.on_update(ready, heartbeat)
    assert recorder.keys == []
    on_node.on_delete(DeletedFinalStateUnknown("n1", ready))
    assert recorder.keys == ["ns/inst"]
    recorder.keys.clear()

    pod = {"metadata": {"name": "web-0", "namespace": "ns", "uid": "p"}, "status": {"podIP": "10.0.0.1"}}
    on_pod.on_update(pod, {**pod, "status": {"podIP": "10.0.0.1", "phase": "Running"}})
    assert recorder.keys == []
    annotated = {**pod, "metadata": {**pod["metadata"], "annotations": {POD_ENI_ANNOTATION: "[]"}}}
    on_pod.on_update(pod, annotated)
    assert recorder.keys == ["ns/ip-net"]  # only ip bindings with networking care about pod ENIs
    recorder.keys.clear()

    # Status-only TGB writes (our observedGeneration) do not enqueue; spec changes do.
    net = bindings[0]
    on_binding.on_update(net, {**net, "status": {"observedGeneration": 1}})
    assert recorder.keys == []
    plain = bindings[1]
    gained = tgb("ip-plain", "web", "ip", networking=True, generation=2)
    informers.bindings.apply("MODIFIED", gained)
    on_binding.on_update(plain, gained)
    assert recorder.keys == ["ns/ip-plain"]
    assert recorder.expected[-1] == frozenset({"ns/ip-net", "ns/ip-plain"})
    informers.bindings.apply("DELETED", net)
    on_binding.on_delete(net)
    assert recorder.expected[-1] == frozenset({"ns/ip-plain"})


async def test_dependents_skip_initial_lists_and_resyncs(kube: KubeClient) -> None:
    informers, handlers, recorder = build(kube)
    _, on_service, on_slice, on_node, on_pod = handlers
    informers.bindings.replace([tgb("inst", "web", "instance"), tgb("ip", "web", "ip", networking=True)], "1")
    service = {"metadata": {"name": "web", "namespace": "ns"}, "spec": {}}
    node = {"metadata": {"name": "n1"}}
    pod = {"metadata": {"name": "web-0", "namespace": "ns"}}
    informers.endpoint_slices.replace([endpoint_slice("web", ["web-0"])], "1")
    for handler, obj in (
        (on_service, service),
        (on_slice, endpoint_slice("web", ["web-0"])),
        (on_node, node),
        (on_pod, pod),
    ):
        handler.on_add(obj, True)
        handler.on_update(obj, obj)
    assert recorder.keys == []
    on_node.on_add(node, False)
    on_pod.on_add(pod, False)
    assert recorder.keys == ["ns/inst", "ns/ip"]


def test_our_own_finalizer_being_added_does_not_enqueue_but_other_finalizer_changes_do(
    kube: KubeClient,
) -> None:
    """The pass that adds the finalizer registers the targets itself: a second pass for that write
    would only repeat its DescribeTargetHealth. Losing our finalizer, or another one changing, still
    enqueues (the finalizer must be put back; the cleanup may be waiting on it)."""
    _, handlers, recorder = build(kube)
    on_binding = handlers[0]
    bare = tgb("web", "web", "ip")
    ours = {**bare, "metadata": {**bare["metadata"], "finalizers": [TGB_FINALIZER]}}
    both = {**bare, "metadata": {**bare["metadata"], "finalizers": ["other/keep", TGB_FINALIZER]}}
    other = {**bare, "metadata": {**bare["metadata"], "finalizers": ["other/keep"]}}
    on_binding.on_update(bare, ours)
    on_binding.on_update(other, both)
    assert recorder.keys == []
    on_binding.on_update(ours, bare)  # ours removed by someone: put it back
    on_binding.on_update(ours, both)  # another finalizer added
    on_binding.on_update(both, ours)  # another finalizer removed
    assert recorder.keys == ["ns/web", "ns/web", "ns/web"]
