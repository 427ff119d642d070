"""When the sandbox has converged (``--once``): what is still missing, in words.

Converged means every Ingress and every Service we give an NLB has its load balancer's hostname,
every TargetGroupBinding's ``status.observedGeneration`` has caught up with its generation, and
the controller's work queues are empty.
"""

from __future__ import annotations

from typing import Any

from controller.sandbox.progress import Progress
from controller.service.matcher import is_managed_service
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import INGRESSES, SERVICES, KubeClient

_TIMEOUT_S = 5.0


def _name(item: dict[str, Any]) -> str:
    metadata = item.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def _has_hostname(item: dict[str, Any]) -> bool:
    entries = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return any(entry.get("hostname") for entry in entries)


async def not_converged(kube: KubeClient, progress: Progress) -> list[str]:
    """What has not converged yet; empty once everything has."""
    missing: list[str] = []
    ingresses = (await kube.list(INGRESSES, request_timeout=_TIMEOUT_S)).get("items") or []
    missing.extend(f"Ingress {_name(i)} has no hostname" for i in ingresses if not _has_hostname(i))
    services = (await kube.list(SERVICES, request_timeout=_TIMEOUT_S)).get("items") or []
    missing.extend(
        f"Service {_name(s)} has no hostname"
        for s in services
        if is_managed_service(s) and not _has_hostname(s)
    )
    bindings = (await kube.list(TARGET_GROUP_BINDINGS, request_timeout=_TIMEOUT_S)).get("items") or []
    for binding in bindings:
        generation = (binding.get("metadata") or {}).get("generation")
        observed = (binding.get("status") or {}).get("observedGeneration")
        if observed != generation:
            missing.append(
                f"TargetGroupBinding {_name(binding)} has observedGeneration {observed}, generation {generation}"
            )
    if progress.controller is None:
        missing.append("the controller's /metrics did not answer")
    elif progress.controller.pending:
        missing.append(f"{progress.controller.pending} item(s) still queued")
    return missing
