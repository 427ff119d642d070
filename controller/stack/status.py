"""The load balancer status of an Ingress or Service (``status.loadBalancer.ingress``), written
only when it changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework import objects
from framework.kube import KubeApiError, KubeClient, Resource
from framework.objects import meta_of


def load_balancer_ingress(dns_name: str) -> list[dict[str, Any]]:
    """``status.loadBalancer.ingress`` for an LB: its DNS name, lowercased as upstream does."""
    return [{"hostname": dns_name.lower()}]


async def write_load_balancer_status(
    client: KubeClient, resource: Resource, obj: Mapping[str, Any], ingress: list[dict[str, Any]] | None
) -> bool:
    """Set (or, with None, clear) ``status.loadBalancer.ingress``; True when a write was needed.

    A merge patch through the status subresource: it never races spec edits, and a list value
    replaces the old list whole. An object that is already gone needs no status.
    """
    current = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    if (current or None) == (ingress or None):
        return False
    meta = meta_of(obj)
    try:
        await objects.patch_status(
            client,
            resource,
            str(meta.get("name")),
            meta.get("namespace"),
            {"loadBalancer": {"ingress": ingress}},
        )
    except KubeApiError as error:
        if error.is_not_found:
            return False
        raise
    return True
