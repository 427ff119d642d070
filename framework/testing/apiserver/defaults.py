"""Fields the real API server fills in: defaulting and the Service IP/nodePort allocators."""

from __future__ import annotations

import base64
import ipaddress
import random
from collections.abc import Mapping
from typing import Any

from .errors import FieldError

JsonObject = dict[str, Any]


class ServiceAllocator:
    """Cluster IPs from the service CIDR and node ports from the node-port range, each unique.

    Allocation is random like the real allocators (bitmaps with random offsets), but seeded so a test
    run is reproducible."""

    def __init__(self, service_cidr: str, node_port_range: tuple[int, int], rng: random.Random) -> None:
        self._network = ipaddress.ip_network(service_cidr)
        self._node_ports = node_port_range
        self._rng = rng
        # The first address is the `kubernetes` service's on a real cluster; keep it reserved.
        self._ips: set[str] = {str(self._network.network_address + 1)}
        self._ports: set[int] = set()

    # --------------------------------------------------------------------------------- cluster IPs

    def claim_ip(self, ip: str, field: str) -> FieldError | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return FieldError.invalid(
                field, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            )
        if address not in self._network:
            return FieldError.invalid(
                field,
                ip,
                f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self._network}",
            )
        if ip in self._ips:
            return FieldError.invalid(
                field, ip, f"failed to allocate IP {ip}: provided IP is already allocated"
            )
        self._ips.add(ip)
        return None

    def allocate_ip(self) -> str:
        size = self._network.num_addresses
        for _ in range(64):
            candidate = str(self._network.network_address + self._rng.randrange(2, size - 1))
            if candidate not in self._ips:
                self._ips.add(candidate)
                return candidate
        for offset in range(2, size - 1):
            candidate = str(self._network.network_address + offset)
            if candidate not in self._ips:
                self._ips.add(candidate)
                return candidate
        raise RuntimeError("service CIDR exhausted")

    def release_ip(self, ip: str | None) -> None:
        if ip and ip != "None":
            self._ips.discard(ip)

    # ---------------------------------------------------------------------------------- node ports

    def claim_port(self, port: int, field: str) -> FieldError | None:
        low, high = self._node_ports
        if not low <= port <= high:
            return FieldError.invalid(
                field,
                port,
                f"provided port is not in the valid range. The range of valid ports is {low}-{high}",
            )
        if port in self._ports:
            return FieldError.invalid(field, port, "provided port is already allocated")
        self._ports.add(port)
        return None

    def allocate_port(self) -> int:
        low, high = self._node_ports
        if len(self._ports) > high - low:
            raise RuntimeError("node port range exhausted")
        while True:
            candidate = self._rng.randint(low, high)
            if candidate not in self._ports:
                self._ports.add(candidate)
                return candidate

    def release_port(self, port: int | None) -> None:
        if port:
            self._ports.discard(port)


def service_node_ports(service: Mapping[str, Any]) -> list[int]:
    spec = service.get("spec") or {}
    ports = [int(p["nodePort"]) for p in spec.get("ports") or () if p.get("nodePort")]
    if spec.get("healthCheckNodePort"):
        ports.append(int(spec["healthCheckNodePort"]))
    return ports


def default_service(service: JsonObject, old: Mapping[str, Any] | None) -> None:
    """Static defaults plus, on update, the allocated values a client may omit (patchAllocatedValues)."""
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    service_type = spec["type"]
    for port in spec.get("ports") or ():
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    if service_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if service_type != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    status = service.setdefault("status", {})
    if old is None or service_type != "LoadBalancer":
        # A new service has no load balancer yet (the server drops any status sent on create), and
        # one that stops being a LoadBalancer no longer has one: its addresses go with it.
        status["loadBalancer"] = {}
    else:
        status.setdefault("loadBalancer", {})
    if old is None:
        return
    old_spec = old.get("spec") or {}
    drop_type_dependent_fields(spec, old_spec)
    if not spec.get("clusterIP") and old_spec.get("clusterIP") and service_type != "ExternalName":
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    if service_type in ("NodePort", "LoadBalancer"):
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or ()
        }
        for port in spec.get("ports") or ():
            if not port.get("nodePort"):
                previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if previous:
                    port["nodePort"] = previous
        if (
            not spec.get("healthCheckNodePort")
            and old_spec.get("healthCheckNodePort")
            and _needs_health_check(spec)
        ):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _node_ports(spec: Mapping[str, Any]) -> set[int]:
    return {int(p["nodePort"]) for p in spec.get("ports") or () if p.get("nodePort")}


def drop_type_dependent_fields(spec: JsonObject, old_spec: Mapping[str, Any]) -> None:
    """On a type change, forget the values the old type had (many of them allocated by the server
    rather than chosen by the client) and the new type cannot use, as long as the client left them
    as they were; a value the client changed along with the type is kept, for validation to judge."""
    old_type, new_type = old_spec.get("type", "ClusterIP"), spec.get("type", "ClusterIP")
    if old_type != "ExternalName" and new_type == "ExternalName":
        if (spec.get("clusterIP"), spec.get("clusterIPs")) == (
            old_spec.get("clusterIP"),
            old_spec.get("clusterIPs"),
        ):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        for field in ("ipFamilies", "ipFamilyPolicy"):
            if spec.get(field) == old_spec.get(field):
                spec.pop(field, None)
    external = ("NodePort", "LoadBalancer")
    if old_type in external and new_type not in external and _node_ports(spec) <= _node_ports(old_spec):
        for port in spec.get("ports") or ():
            port.pop("nodePort", None)
    if (
        _needs_health_check(old_spec)
        and not _needs_health_check(spec)
        and spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort")
    ):
        spec.pop("healthCheckNodePort", None)
    if old_type == "LoadBalancer" and new_type != "LoadBalancer":
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if field in spec and spec.get(field) == old_spec.get(field):
                del spec[field]
    if (
        old_type in external
        and new_type not in external
        and spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    ):
        spec.pop("externalTrafficPolicy", None)


def _needs_health_check(spec: Mapping[str, Any]) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def allocate_service(
    service: JsonObject, old: Mapping[str, Any] | None, allocator: ServiceAllocator
) -> list[FieldError]:
    """Claim or allocate the service's cluster IP and node ports; release what the old version held
    and the new one no longer uses. On error nothing new stays claimed."""
    spec = service["spec"]
    old_spec = (old or {}).get("spec") or {}
    claimed_ips: list[str] = []
    claimed_ports: list[int] = []
    errors: list[FieldError] = []
    service_type = spec.get("type")
    if service_type == "ExternalName":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    elif spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    elif spec.get("clusterIP") and spec["clusterIP"] == old_spec.get("clusterIP"):
        pass
    elif spec.get("clusterIP"):
        error = allocator.claim_ip(spec["clusterIP"], "spec.clusterIPs[0]")
        if error:
            errors.append(error)
        else:
            claimed_ips.append(spec["clusterIP"])
            spec["clusterIPs"] = [spec["clusterIP"]]
    else:
        spec["clusterIP"] = allocator.allocate_ip()
        spec["clusterIPs"] = [spec["clusterIP"]]
        claimed_ips.append(spec["clusterIP"])
    old_node_ports = set(service_node_ports(old or {}))
    if service_type in ("NodePort", "LoadBalancer"):
        allocate_node_ports = service_type == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True)
        for index, port in enumerate(spec.get("ports") or ()):
            if port.get("nodePort"):
                if port["nodePort"] in old_node_ports:
                    continue
                error = allocator.claim_port(int(port["nodePort"]), f"spec.ports[{index}].nodePort")
                if error:
                    errors.append(error)
                else:
                    claimed_ports.append(int(port["nodePort"]))
            elif allocate_node_ports:
                port["nodePort"] = allocator.allocate_port()
                claimed_ports.append(port["nodePort"])
        if _needs_health_check(spec):
            if not spec.get("healthCheckNodePort"):
                spec["healthCheckNodePort"] = allocator.allocate_port()
                claimed_ports.append(spec["healthCheckNodePort"])
            elif spec["healthCheckNodePort"] not in old_node_ports:
                error = allocator.claim_port(int(spec["healthCheckNodePort"]), "spec.healthCheckNodePort")
                if error:
                    errors.append(error)
                else:
                    claimed_ports.append(int(spec["healthCheckNodePort"]))
        else:
            spec.pop("healthCheckNodePort", None)
    else:
        for port in spec.get("ports") or ():
            port.pop("nodePort", None)
        spec.pop("healthCheckNodePort", None)
    if errors:
        for ip in claimed_ips:
            allocator.release_ip(ip)
        for node_port in claimed_ports:
            allocator.release_port(node_port)
        return errors
    if old is not None:
        if old_spec.get("clusterIP") != spec.get("clusterIP"):
            allocator.release_ip(old_spec.get("clusterIP"))
        for node_port in old_node_ports - set(service_node_ports(service)):
            allocator.release_port(node_port)
    return []


def release_service(service: Mapping[str, Any], allocator: ServiceAllocator) -> None:
    allocator.release_ip((service.get("spec") or {}).get("clusterIP"))
    for node_port in service_node_ports(service):
        allocator.release_port(node_port)


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_pod(pod: JsonObject) -> None:
    spec = pod.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", _image_pull_policy(str(container.get("image", ""))))
        container.setdefault("resources", {})
        for port in container.get("ports") or ():
            port.setdefault("protocol", "TCP")
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def default_namespace(namespace: JsonObject) -> None:
    meta = namespace["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    namespace.setdefault("status", {}).setdefault("phase", "Active")


def default_secret(secret: JsonObject) -> None:
    secret.setdefault("type", "Opaque")
    string_data = secret.pop("stringData", None)
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def default_ports_protocol(obj: JsonObject, *lists: str) -> None:
    """EndpointSlice `ports[]` and Endpoints `subsets[].ports[]` default their protocol to TCP."""
    if "ports" in lists:
        for port in obj.get("ports") or ():
            port.setdefault("protocol", "TCP")
    if "subsets" in lists:
        for subset in obj.get("subsets") or ():
            for port in subset.get("ports") or ():
                port.setdefault("protocol", "TCP")


def default_crd(crd: JsonObject) -> None:
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or ():
        version.setdefault("served", True)


def crd_status(crd: Mapping[str, Any], now: str) -> JsonObject:
    """What the apiextensions controllers write once a CRD's names are accepted."""
    spec = crd["spec"]
    storage = [v["name"] for v in spec.get("versions") or () if v.get("storage")]
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "lastTransitionTime": now,
            "reason": "NoConflicts",
            "message": "no conflicts found",
        },
        {
            "type": "Established",
            "status": "True",
            "lastTransitionTime": now,
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
        },
    ]
    return {"acceptedNames": dict(spec["names"]), "conditions": conditions, "storedVersions": storage}


def apply_defaults(group: str, plural: str, obj: JsonObject, old: Mapping[str, Any] | None) -> None:
    if group == "":
        if plural == "services":
            default_service(obj, old)
        elif plural == "pods":
            default_pod(obj)
        elif plural == "namespaces":
            default_namespace(obj)
        elif plural == "secrets":
            default_secret(obj)
        elif plural == "endpoints":
            default_ports_protocol(obj, "subsets")
    elif group == "discovery.k8s.io" and plural == "endpointslices":
        default_ports_protocol(obj, "ports")
    elif group == "apiextensions.k8s.io" and plural == "customresourcedefinitions":
        default_crd(obj)
