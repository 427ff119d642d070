"""Turn a TargetGroupBinding's ``spec.networking`` into its rule contributions per endpoint SG.

Semantics follow upstream-behaviour §4.4, with one deliberate fix (design.md Difference 7): ``ports: []`` means
all TCP ports, as the CRD documentation says, instead of producing nothing (upstream bug #4907).

Named ports (``port: "http"``) are resolved per pod behind each endpoint SG, so one name may give
several numbers (scenario 50). Node (instance) targets have no container ports: a named port there
is an error, as upstream.

A pod that declares no container port of that name gets no rule for it, and the other pods keep
theirs (upstream fails the whole binding's rules instead, so one pod of a rolling update that renames
the port would hold back every other pod's). ``pods_missing_named_ports`` names those pods so that
the binding can be warned about them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.endpointsg.model import ALL_PORTS, EndpointRule, PortRange, Source, SourceKind
from framework.objects import object_key

TCP = "tcp"
UDP = "udp"
_PROTOCOLS = {"TCP": TCP, "UDP": UDP}


class NetworkingSpecError(ValueError):
    """``spec.networking`` is invalid; the message is meant for a Warning event on the TGB."""


def pod_named_ports(pod: Mapping[str, Any]) -> dict[str, int]:
    """Container port name → number for one pod (``spec.containers[].ports[]``)."""
    named: dict[str, int] = {}
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            name = port.get("name")
            if name and "containerPort" in port:
                named.setdefault(str(name), int(port["containerPort"]))
    return named


def parse_peer(peer: Mapping[str, Any]) -> Source:
    """One ``from`` entry: ``securityGroup.groupID`` or ``ipBlock.cidr``."""
    group = (peer.get("securityGroup") or {}).get("groupID")
    if group:
        return Source.security_group(str(group))
    cidr = (peer.get("ipBlock") or {}).get("cidr")
    if cidr:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError as exc:
            raise NetworkingSpecError(f"invalid CIDR address: {cidr}") from exc
        kind = SourceKind.IPV6_CIDR if network.version == 6 else SourceKind.IPV4_CIDR
        # Sent in canonical form (host bits cleared): that is what AWS stores and describes whatever
        # it is given. Upstream sends the text as written; rule identity compares canonical forms,
        # so either way a rule is recognised as present and never re-added or revoked.
        return Source(kind, str(network))
    raise NetworkingSpecError("either ipBlock or securityGroup should be specified")


def _port_ranges(
    port_entry: Mapping[str, Any], named_ports: Sequence[Mapping[str, int]] | None
) -> list[PortRange]:
    port = port_entry.get("port")
    if port is None:
        return [ALL_PORTS]
    if isinstance(port, int) and not isinstance(port, bool):
        return [PortRange.single(port)]
    name = str(port)
    if named_ports is None:
        raise NetworkingSpecError(f"named port {name} cannot be used with node (instance) targets")
    numbers = sorted({ports[name] for ports in named_ports if name in ports})
    return [PortRange.single(n) for n in numbers]


def _protocol(port_entry: Mapping[str, Any]) -> str:
    raw = str(port_entry.get("protocol") or "TCP")
    try:
        return _PROTOCOLS[raw.upper()]
    except KeyError:
        raise NetworkingSpecError(f"unsupported protocol {raw}, must be TCP or UDP") from None


def _named_ports(networking: Mapping[str, Any]) -> set[str]:
    return {
        str(entry["port"])
        for ingress in networking.get("ingress") or ()
        for entry in ingress.get("ports") or ()
        if isinstance(entry.get("port"), str)
    }


def pods_missing_named_ports(
    networking: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Named port → sorted ``namespace/name`` of the pods with no container port of that name."""
    names = _named_ports(networking or {})
    missing: dict[str, list[str]] = {}
    if not names:
        return missing
    for pod in pods:
        declared = pod_named_ports(pod)
        for name in names - declared.keys():
            missing.setdefault(name, []).append(object_key(pod))
    return {name: sorted(keys) for name, keys in sorted(missing.items())}


def rules_for_endpoints(
    networking: Mapping[str, Any], named_ports: Sequence[Mapping[str, int]] | None
) -> frozenset[EndpointRule]:
    """The rules one group of endpoints (the pods or nodes behind one SG) needs.

    ``named_ports`` is one name→number map per pod, or None for node targets.
    """
    rules: set[EndpointRule] = set()
    for ingress in networking.get("ingress") or ():
        sources = [parse_peer(peer) for peer in ingress.get("from") or ()]
        port_entries: list[Mapping[str, Any]] = list(ingress.get("ports") or ())
        if not port_entries:
            # design.md Difference 7: an empty list means every TCP port.
            port_entries = [{"protocol": "TCP"}]
        for entry in port_entries:
            protocol = _protocol(entry)
            for ports in _port_ranges(entry, named_ports):
                rules.update(EndpointRule(protocol, ports, source) for source in sources)
    return frozenset(rules)


def contributions_for_node_targets(
    networking: Mapping[str, Any] | None, endpoint_sgs: Iterable[str]
) -> dict[str, frozenset[EndpointRule]]:
    """Instance targets: the same rules apply to every distinct node SG."""
    if networking is None:
        return {}
    rules = rules_for_endpoints(networking, None)
    return {sg: rules for sg in sorted(set(endpoint_sgs))} if rules else {}


def contributions_for_pod_targets(
    networking: Mapping[str, Any] | None, pods_by_sg: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, frozenset[EndpointRule]]:
    """IP targets: per endpoint SG, from the pods behind it (named ports resolved per pod)."""
    if networking is None:
        return {}
    result: dict[str, frozenset[EndpointRule]] = {}
    for sg, pods in sorted(pods_by_sg.items()):
        rules = rules_for_endpoints(networking, [pod_named_ports(pod) for pod in pods])
        if rules:
            result[sg] = rules
    return result
