"""The TargetGroupBinding resource (upstream-behaviour §8) as the reconciler reads it: a frozen view of the dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.finalizers import TGB_FINALIZER
from framework.kube import KubeObject, Resource
from framework.label_selector import InvalidSelectorError, LabelSelector
from framework.objects import has_finalizer, is_deleting, meta_of, name_of, namespace_of

TARGET_GROUP_BINDINGS: Final = Resource(
    "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", "TargetGroupBinding"
)
CONTROLLER_NAME: Final = "targetGroupBinding"

TARGET_TYPE_IP: Final = "ip"
TARGET_TYPE_INSTANCE: Final = "instance"


class InvalidBindingError(ValueError):
    """The TGB's spec cannot be acted on; the message is meant for a Warning event."""


def parse_node_selector(raw: Mapping[str, Any] | None) -> LabelSelector:
    """``spec.nodeSelector``; absent or empty selects every node."""
    try:
        return LabelSelector.parse(raw or {})
    except InvalidSelectorError as error:
        raise InvalidBindingError(f"nodeSelector: {error}") from None


@dataclass(frozen=True)
class Binding:
    """What one reconcile needs from a TargetGroupBinding object."""

    key: str
    namespace: str
    name: str
    generation: int
    observed_generation: int | None
    target_group_arn: str
    target_type: str
    service_name: str
    service_port: int | str
    ip_address_type: str
    node_selector: LabelSelector
    networking: Mapping[str, Any] | None
    deleting: bool
    has_finalizer: bool

    @classmethod
    def parse(cls, obj: KubeObject) -> Binding:
        meta = meta_of(obj)
        spec = obj.get("spec") or {}
        namespace, name = namespace_of(obj), name_of(obj)
        service_ref = spec.get("serviceRef") or {}
        port = service_ref.get("port")
        if not service_ref.get("name") or port is None or port == "":
            raise InvalidBindingError("spec.serviceRef needs a name and a port")
        arn = str(spec.get("targetGroupARN") or "")
        if not arn:
            raise InvalidBindingError(
                "spec.targetGroupARN is not set (targetGroupName is resolved by the webhook)"
            )
        target_type = str(spec.get("targetType") or TARGET_TYPE_INSTANCE)
        if target_type not in (TARGET_TYPE_IP, TARGET_TYPE_INSTANCE):
            raise InvalidBindingError(f"spec.targetType must be ip or instance, got {target_type!r}")
        if target_type == TARGET_TYPE_IP and spec.get("nodeSelector"):
            raise InvalidBindingError("spec.nodeSelector cannot be used with ip targets")
        status = obj.get("status") or {}
        observed = status.get("observedGeneration")
        return cls(
            key=f"{namespace}/{name}",
            namespace=namespace,
            name=name,
            generation=int(meta.get("generation") or 0),
            observed_generation=int(observed) if observed is not None else None,
            target_group_arn=arn,
            target_type=target_type,
            service_name=str(service_ref["name"]),
            service_port=port if isinstance(port, int) and not isinstance(port, bool) else str(port),
            ip_address_type=str(spec.get("ipAddressType") or "ipv4"),
            node_selector=parse_node_selector(spec.get("nodeSelector")),
            networking=spec.get("networking"),
            deleting=is_deleting(obj),
            has_finalizer=has_finalizer(obj, TGB_FINALIZER),
        )

    @property
    def service_key(self) -> str:
        return f"{self.namespace}/{self.service_name}"


def service_ref_key(obj: KubeObject) -> str | None:
    """``namespace/serviceName`` a TGB object points at, or None if it names no Service."""
    name = ((obj.get("spec") or {}).get("serviceRef") or {}).get("name")
    namespace = namespace_of(obj)
    return f"{namespace}/{name}" if name and namespace else None


def target_type_of(obj: KubeObject) -> str:
    return str((obj.get("spec") or {}).get("targetType") or TARGET_TYPE_INSTANCE)


def has_networking(obj: KubeObject) -> bool:
    return (obj.get("spec") or {}).get("networking") is not None
