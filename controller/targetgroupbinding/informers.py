"""The informers the TGB controller reads, and the indices it adds to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from controller.endpointsg.discovery import POD_ENI_ANNOTATION
from controller.targetgroupbinding.endpoints import SERVICE_NAME_LABEL
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS, service_ref_key, target_type_of
from framework.informer import IndexFunc, InformerFactory, SharedInformer
from framework.kube import ENDPOINT_SLICES, NODES, PODS, SERVICES, KubeObject
from framework.objects import labels_of, meta_of, namespace_of

BINDINGS_BY_SERVICE_INDEX: Final = "targetgroupbinding/serviceRef"
"""TGB index: ``namespace/spec.serviceRef.name``."""
BINDINGS_BY_TARGET_TYPE_INDEX: Final = "targetgroupbinding/targetType"
"""TGB index: ``spec.targetType`` (``ip`` / ``instance``)."""
SLICES_BY_SERVICE_INDEX: Final = "targetgroupbinding/service"
"""EndpointSlice index: ``namespace/<kubernetes.io/service-name label>``."""
SLICES_BY_POD_INDEX: Final = "targetgroupbinding/pod"
"""EndpointSlice index: ``namespace/name`` of every Pod an endpoint's ``targetRef`` names."""


def _binding_service(obj: KubeObject) -> list[str]:
    key = service_ref_key(obj)
    return [key] if key else []


def _binding_target_type(obj: KubeObject) -> list[str]:
    return [target_type_of(obj)]


def slice_service_key(obj: KubeObject) -> str | None:
    namespace = namespace_of(obj)
    service = labels_of(obj).get(SERVICE_NAME_LABEL)
    return f"{namespace}/{service}" if service and namespace else None


def _slice_service(obj: KubeObject) -> list[str]:
    key = slice_service_key(obj)
    return [key] if key else []


def _slice_pods(obj: KubeObject) -> list[str]:
    namespace = namespace_of(obj)
    pods = set()
    for endpoint in obj.get("endpoints") or ():
        ref = endpoint.get("targetRef") or {}
        if ref.get("kind") == "Pod" and ref.get("name"):
            pods.add(f"{ref.get('namespace') or namespace}/{ref['name']}")
    return sorted(pods)


_POD_METADATA_KEYS = ("name", "namespace", "uid", "resourceVersion", "labels", "deletionTimestamp")
_POD_STATUS_KEYS = ("phase", "podIP", "podIPs", "conditions")


def slim_pod(pod: KubeObject) -> KubeObject:
    """Keep only what the TGB controller reads of a Pod: identity, node, IPs, container ports and the
    SG-for-pods branch-ENI annotation.

    Pods are the most numerous objects we cache; a full Pod (env, volumes, probes, managedFields,
    last-applied annotations) is several KB, this is a few hundred bytes. Idempotent, as transforms
    must be (a relist passes stored objects through again).
    """
    metadata = meta_of(pod)
    annotations = metadata.get("annotations") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    slim_metadata = {key: metadata[key] for key in _POD_METADATA_KEYS if key in metadata}
    if POD_ENI_ANNOTATION in annotations:
        slim_metadata["annotations"] = {POD_ENI_ANNOTATION: annotations[POD_ENI_ANNOTATION]}
    return {
        "apiVersion": pod.get("apiVersion", "v1"),
        "kind": pod.get("kind", "Pod"),
        "metadata": slim_metadata,
        "spec": {
            "nodeName": spec.get("nodeName"),
            "containers": [
                {"name": container.get("name"), "ports": container.get("ports") or []}
                for container in spec.get("containers") or ()
            ],
        },
        "status": {key: status[key] for key in _POD_STATUS_KEYS if key in status},
    }


@dataclass(frozen=True)
class BindingInformers:
    """TGBs, Services, EndpointSlices, Nodes and Pods (cluster-wide or one watched namespace)."""

    bindings: SharedInformer
    services: SharedInformer
    endpoint_slices: SharedInformer
    nodes: SharedInformer
    pods: SharedInformer

    @classmethod
    def from_factory(cls, factory: InformerFactory) -> BindingInformers:
        return cls(
            bindings=factory.informer(TARGET_GROUP_BINDINGS),
            services=factory.informer(SERVICES),
            endpoint_slices=factory.informer(ENDPOINT_SLICES),
            nodes=factory.informer(NODES),
            pods=factory.informer(PODS, transform=slim_pod),
        )

    def add_indexers(self) -> None:
        """Adds the indices the TGB reconciler and handlers read (idempotent)."""
        wanted: list[tuple[SharedInformer, str, IndexFunc]] = [
            (self.bindings, BINDINGS_BY_SERVICE_INDEX, _binding_service),
            (self.bindings, BINDINGS_BY_TARGET_TYPE_INDEX, _binding_target_type),
            (self.endpoint_slices, SLICES_BY_SERVICE_INDEX, _slice_service),
            (self.endpoint_slices, SLICES_BY_POD_INDEX, _slice_pods),
        ]
        for informer, name, func in wanted:
            if name not in informer.store.indexer_names:
                informer.add_indexer(name, func)
