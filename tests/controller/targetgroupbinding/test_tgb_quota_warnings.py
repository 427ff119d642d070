"""Rules-quota warnings reach the binding and the Service its stack serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from controller.targetgroupbinding.quota_warnings import BindingQuotaWarnings
from framework.events import EventRecorder, ObjectReference
from framework.informer import Store


@dataclass
class RecordedEvents:
    recorded: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def warning(self, obj: ObjectReference, reason: str, note: str) -> None:
        self.recorded.append((obj.kind, f"{obj.namespace}/{obj.name}", obj.uid, reason, note))


def obj(name: str, uid: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": uid, "labels": labels or {}}}


def test_a_service_stacks_binding_and_its_service_are_warned_others_only_on_the_binding() -> None:
    bindings, services = Store(), Store()
    service_labels = {"service.k8s.aws/stack-namespace": "ns", "service.k8s.aws/stack-name": "web"}
    bindings.upsert(obj("k8s-ns-web-1234", "uid-tgb", service_labels))
    bindings.upsert(obj("own-binding", "uid-own"))
    services.upsert(obj("web", "uid-svc"))
    events = RecordedEvents()
    warnings = BindingQuotaWarnings(cast(EventRecorder, events), bindings, services)

    warnings.warn("ns/k8s-ns-web-1234", "FailedNetworkReconcile", "does not fit")
    warnings.warn("ns/own-binding", "PortRangesMerged", "merged")
    warnings.warn("ns/gone", "FailedNetworkReconcile", "nobody to tell")

    assert events.recorded == [
        ("TargetGroupBinding", "ns/k8s-ns-web-1234", "uid-tgb", "FailedNetworkReconcile", "does not fit"),
        (
            "Service",
            "ns/web",
            "uid-svc",
            "FailedNetworkReconcile",
            "TargetGroupBinding k8s-ns-web-1234: does not fit",
        ),
        ("TargetGroupBinding", "ns/own-binding", "uid-own", "PortRangesMerged", "merged"),
    ]
