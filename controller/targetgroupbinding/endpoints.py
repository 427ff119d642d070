"""Endpoints of a TargetGroupBinding's Service, resolved from the informer caches.

* ``ip`` targets: the ready addresses of the Service's EndpointSlices (label
  ``kubernetes.io/service-name``), with ``serviceRef.port`` (number or name) resolved to the Service
  port and then to the slice's endpoint port of the same name.
* ``instance`` targets: every ready Node that is not labelled
  ``node.kubernetes.io/exclude-from-external-load-balancers`` and matches ``spec.nodeSelector``, on
  the Service port's NodePort.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.aws.elbv2_types import TargetRef
from controller.endpointsg.discovery import instance_id_from_provider_id
from framework.label_selector import LabelSelector
from framework.objects import labels_of, name_of, namespace_of

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
EXCLUDE_FROM_LB_LABEL: Final = "node.kubernetes.io/exclude-from-external-load-balancers"

_log = logging.getLogger(__name__)


class BackendNotFoundError(Exception):
    """The Service (or the port the TGB names on it) does not exist: the TGB's targets are cleaned."""


class EndpointResolutionError(Exception):
    """The Service exists but cannot back this TGB (e.g. no NodePort for instance targets)."""


@dataclass(frozen=True, order=True)
class Target:
    """One ELBv2 target: an instance id or an IP address, and a port."""

    id: str
    port: int

    def as_target_ref(self) -> TargetRef:
        return TargetRef(self.id, self.port)


@dataclass(frozen=True)
class PodEndpoint:
    target: Target
    pod_key: str | None
    """``namespace/name`` of the backing Pod (from the endpoint's ``targetRef``), if any."""


@dataclass(frozen=True)
class NodeEndpoint:
    target: Target
    node: Mapping[str, Any]


def find_service_port(service: Mapping[str, Any], ref_port: int | str) -> Mapping[str, Any]:
    """The Service port ``serviceRef.port`` names: by number if it is one, else by port name."""
    for port in (service.get("spec") or {}).get("ports") or ():
        if isinstance(ref_port, int) and port.get("port") == ref_port:
            return dict(port)
        if isinstance(ref_port, str) and port.get("name") == ref_port:
            return dict(port)
    raise BackendNotFoundError(
        f"unable to find port {ref_port} on service {namespace_of(service)}/{name_of(service)}"
    )


def resolve_pod_endpoints(
    service: Mapping[str, Any],
    slices: Iterable[Mapping[str, Any]],
    ref_port: int | str,
    ip_address_type: str,
) -> list[PodEndpoint]:
    """Ready endpoints of the Service port, sorted, without duplicates across slices."""
    service_port = find_service_port(service, ref_port)
    port_name = str(service_port.get("name") or "")
    address_type = "IPv6" if ip_address_type == "ipv6" else "IPv4"
    found: dict[Target, PodEndpoint] = {}
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType") != address_type:
            continue
        endpoint_port = next(
            (
                int(p["port"])
                for p in endpoint_slice.get("ports") or ()
                if str(p.get("name") or "") == port_name and p.get("port") is not None
            ),
            None,
        )
        if endpoint_port is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or ():
            # API semantics: an unset ``ready`` means "unknown" and consumers treat it as ready.
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            pod_key = (
                f"{ref.get('namespace') or (endpoint_slice.get('metadata') or {}).get('namespace')}/{ref['name']}"
                if ref.get("kind") == "Pod" and ref.get("name")
                else None
            )
            for address in endpoint.get("addresses") or ():
                target = Target(str(address), endpoint_port)
                found.setdefault(target, PodEndpoint(target, pod_key))
    return [found[t] for t in sorted(found)]


def _node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def eligible_node(node: Mapping[str, Any], selector: LabelSelector) -> bool:
    """A node that may carry instance targets: ready, not excluded, matching the selector."""
    labels = labels_of(node)
    if EXCLUDE_FROM_LB_LABEL in labels:
        return False
    return _node_ready(node) and selector.matches(labels)


def resolve_node_endpoints(
    service: Mapping[str, Any],
    nodes: Iterable[Mapping[str, Any]],
    ref_port: int | str,
    selector: LabelSelector,
) -> list[NodeEndpoint]:
    """Eligible nodes on the Service port's NodePort, sorted by instance id."""
    service_port = find_service_port(service, ref_port)
    node_port = service_port.get("nodePort")
    if not node_port:
        raise EndpointResolutionError(
            f"service {namespace_of(service)}/{name_of(service)} port {ref_port} has no nodePort: "
            "service type must be either 'NodePort' or 'LoadBalancer' for instance targets"
        )
    found: dict[Target, NodeEndpoint] = {}
    for node in nodes:
        if not eligible_node(node, selector):
            continue
        provider_id = str((node.get("spec") or {}).get("providerID") or "")
        instance_id = instance_id_from_provider_id(provider_id)
        if instance_id is None:
            _log.debug(
                "node %s has no EC2 providerID (%r); skipped",
                name_of(node),
                provider_id,
            )
            continue
        target = Target(instance_id, int(node_port))
        found.setdefault(target, NodeEndpoint(target, node))
    return [found[t] for t in sorted(found)]
