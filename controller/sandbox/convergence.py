"""When the sandbox has converged (``--once``): what is still missing, in words.

Converged means every Ingress and every Service we give an NLB has its load balancer's hostname,
every Gateway of a class of ours is ``Programmed`` with its load balancer's address, every
TargetGroupBinding's ``status.observedGeneration`` has caught up with its generation, and the
controller's work queues are empty. Without the Gateway CRDs there are no Gateways to wait for.
"""

from __future__ import annotations

from typing import Any

from controller.gateway.resources import (
    ALB_CONTROLLER_NAME,
    GATEWAY_CLASSES,
    GATEWAYS,
    NLB_CONTROLLER_NAME,
)
from controller.sandbox.progress import Progress
from controller.service.matcher import is_managed_service
from controller.targetgroupbinding.model import TARGET_GROUP_BINDINGS
from framework.kube import INGRESSES, SERVICES, KubeApiError, KubeClient, Resource

_TIMEOUT_S = 5.0


def _name(item: dict[str, Any]) -> str:
    metadata = item.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def _has_hostname(item: dict[str, Any]) -> bool:
    entries = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return any(entry.get("hostname") for entry in entries)


async def _list_if_served(kube: KubeClient, resource: Resource) -> list[dict[str, Any]]:
    """The objects of ``resource``; none when its CRD is not installed (the API answers 404)."""
    try:
        return (await kube.list(resource, request_timeout=_TIMEOUT_S)).get("items") or []
    except KubeApiError as error:
        if error.is_not_found:
            return []
        raise


def _programmed(gateway: dict[str, Any]) -> bool:
    status = gateway.get("status") or {}
    conditions = status.get("conditions") or []
    programmed = any(c.get("type") == "Programmed" and c.get("status") == "True" for c in conditions)
    return programmed and any(address.get("value") for address in status.get("addresses") or [])


async def _unprogrammed_gateways(kube: KubeClient) -> list[str]:
    """Gateways of our classes not yet ``Programmed`` with an address; another controller's are not ours to wait for."""
    ours = {
        str((c.get("metadata") or {}).get("name"))
        for c in await _list_if_served(kube, GATEWAY_CLASSES)
        if (c.get("spec") or {}).get("controllerName") in (ALB_CONTROLLER_NAME, NLB_CONTROLLER_NAME)
    }
    return [
        f"Gateway {_name(g)} is not Programmed with an address"
        for g in await _list_if_served(kube, GATEWAYS)
        if (g.get("spec") or {}).get("gatewayClassName") in ours and not _programmed(g)
    ]


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
    missing.extend(await _unprogrammed_gateways(kube))
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
