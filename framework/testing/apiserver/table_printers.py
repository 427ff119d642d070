"""kube-apiserver's Table printers for the built-in types the stand-in serves (the columns and
cells `kubectl get` shows), and the apiextensions server's printer for CRDs. They read the stored
(core) form of an object and always produce every column, as the real server does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .table_cells import (
    META_AGE,
    META_NAME,
    Column,
    JsonObject,
    Printer,
    age_of,
    format_labels,
    human_duration,
    meta_of,
    name_of,
    parse_time,
    since,
    spec_of,
    status_of,
    with_more,
)
from .table_docs import FIELD_DOCS

# ------------------------------------------------------------------------------------ pods


def _restartable_init(container: Mapping[str, Any] | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def _condition_true(status: Mapping[str, Any], condition_type: str) -> bool:
    for condition in status.get("conditions") or ():
        if condition.get("type") == condition_type:
            return bool(condition.get("status") == "True")
    return False


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    moment = parse_time(candidate)
    if moment is None:
        return current
    return moment if current is None or moment > current else current


def _terminated_reason(terminated: Mapping[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


@dataclass
class _PodTally:
    reason: str
    ready: int = 0
    restarts: int = 0
    last_restart: datetime | None = None


def _pod_init_containers(pod: Mapping[str, Any], tally: _PodTally) -> tuple[bool, int, datetime | None]:
    """Walk the init containers as the pod printer does: (still initializing, restarts of
    restartable init containers, their last restart)."""
    spec, status = spec_of(pod), status_of(pod)
    declared = {c.get("name"): c for c in spec.get("initContainers") or ()}
    sidecar_restarts = 0
    sidecar_last: datetime | None = None
    for index, container in enumerate(status.get("initContainerStatuses") or ()):
        restart_count = int(container.get("restartCount") or 0)
        last_terminated = (container.get("lastState") or {}).get("terminated")
        tally.restarts += restart_count
        if last_terminated:
            tally.last_restart = _later(tally.last_restart, last_terminated.get("finishedAt"))
        sidecar = _restartable_init(declared.get(container.get("name")))
        if sidecar:
            sidecar_restarts += restart_count
            if last_terminated:
                sidecar_last = _later(sidecar_last, last_terminated.get("finishedAt"))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and int(terminated.get("exitCode") or 0) == 0:
            continue
        if sidecar and container.get("started"):
            if container.get("ready"):
                tally.ready += 1
            continue
        if terminated:
            tally.reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            tally.reason = f"Init:{waiting['reason']}"
        else:
            tally.reason = f"Init:{index}/{len(spec.get('initContainers') or ())}"
        return True, sidecar_restarts, sidecar_last
    return False, sidecar_restarts, sidecar_last


def _pod_containers(pod: Mapping[str, Any], tally: _PodTally) -> None:
    status = status_of(pod)
    has_running = False
    error_reason = ""
    for container in reversed(status.get("containerStatuses") or ()):
        tally.restarts += int(container.get("restartCount") or 0)
        last_terminated = (container.get("lastState") or {}).get("terminated")
        if last_terminated:
            tally.last_restart = _later(tally.last_restart, last_terminated.get("finishedAt"))
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            tally.reason = str(waiting["reason"])
        elif terminated:
            tally.reason = _terminated_reason(terminated)
            if int(terminated.get("exitCode") or 0) != 0:
                error_reason = tally.reason
        elif container.get("ready") and state.get("running") is not None:
            has_running = True
            tally.ready += 1
    if tally.reason == "Completed":
        if has_running and _condition_true(status, "Ready"):
            tally.reason = "Running"
        elif error_reason:
            tally.reason = error_reason
        elif has_running:
            tally.reason = "NotReady"


def _pod_cells(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    spec, status, meta = spec_of(pod), status_of(pod), meta_of(pod)
    phase = str(status.get("phase") or "")
    tally = _PodTally(str(status.get("reason") or phase))
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            tally.reason = "SchedulingGated"
    total = len(spec.get("containers") or ()) + sum(
        1 for c in spec.get("initContainers") or () if _restartable_init(c)
    )
    initializing, sidecar_restarts, sidecar_last = _pod_init_containers(pod, tally)
    if not initializing or _condition_true(status, "Initialized"):
        tally.restarts, tally.last_restart = sidecar_restarts, sidecar_last
        _pod_containers(pod, tally)
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        tally.reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        tally.reason = "Terminating"
    restarts = str(tally.restarts)
    if tally.restarts and tally.last_restart is not None:
        restarts = f"{tally.restarts} ({human_duration((now - tally.last_restart).total_seconds())} ago)"
    pod_ips = status.get("podIPs") or ()
    gates = spec.get("readinessGates") or ()
    readiness = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in reversed(status.get("conditions") or ())}
        ready_gates = sum(1 for gate in gates if conditions.get(gate.get("conditionType")) == "True")
        readiness = f"{ready_gates}/{len(gates)}"
    return [
        name_of(pod),
        f"{tally.ready}/{total}",
        tally.reason,
        restarts,
        age_of(pod, now),
        (pod_ips[0].get("ip") if pod_ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]


def _pod_conditions(pod: Mapping[str, Any]) -> list[JsonObject]:
    phase = status_of(pod).get("phase")
    if phase == "Succeeded":
        return [
            {
                "type": "Completed",
                "status": "True",
                "reason": "Succeeded",
                "message": "The pod has completed successfully.",
            }
        ]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


_POD = Printer(
    (
        META_NAME,
        Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", "string", "The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        META_AGE,
        Column("IP", "string", FIELD_DOCS["PodStatus.podIP"], priority=1),
        Column("Node", "string", FIELD_DOCS["PodSpec.nodeName"], priority=1),
        Column("Nominated Node", "string", FIELD_DOCS["PodStatus.nominatedNodeName"], priority=1),
        Column("Readiness Gates", "string", FIELD_DOCS["PodSpec.readinessGates"], priority=1),
    ),
    _pod_cells,
    _pod_conditions,
)


# --------------------------------------------------------------------------------- services


def _load_balancer_addresses(status: Mapping[str, Any]) -> str:
    addresses = {
        str(ingress.get("ip") or ingress.get("hostname"))
        for ingress in (status.get("loadBalancer") or {}).get("ingress") or ()
        if ingress.get("ip") or ingress.get("hostname")
    }
    return ",".join(sorted(addresses))


def _service_external_ip(service: Mapping[str, Any]) -> str:
    spec = spec_of(service)
    service_type = spec.get("type")
    external_ips = [str(ip) for ip in spec.get("externalIPs") or ()]
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if service_type == "LoadBalancer":
        load_balancer = _load_balancer_addresses(status_of(service))
        if external_ips:
            return ",".join(([*load_balancer.split(",")] if load_balancer else []) + external_ips)
        return load_balancer or "<pending>"
    if service_type == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _service_ports(spec: Mapping[str, Any]) -> str:
    pieces = []
    for port in spec.get("ports") or ():
        node_port = port.get("nodePort") or 0
        protocol = port.get("protocol", "")
        if node_port > 0:
            pieces.append(f"{port.get('port', 0)}:{node_port}/{protocol}")
        else:
            pieces.append(f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces) or "<none>"


def _service_cells(service: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(service)
    cluster_ips = spec.get("clusterIPs") or ()
    return [
        name_of(service),
        str(spec.get("type") or ""),
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        _service_ports(spec),
        age_of(service, now),
        format_labels(spec.get("selector")),
    ]


_SERVICE = Printer(
    (
        META_NAME,
        Column("Type", "string", FIELD_DOCS["ServiceSpec.type"]),
        Column("Cluster-IP", "string", FIELD_DOCS["ServiceSpec.clusterIP"]),
        Column("External-IP", "string", FIELD_DOCS["ServiceSpec.externalIPs"]),
        Column("Port(s)", "string", FIELD_DOCS["ServiceSpec.ports"]),
        META_AGE,
        Column("Selector", "string", FIELD_DOCS["ServiceSpec.selector"], priority=1),
    ),
    _service_cells,
)


def _endpoints_cells(endpoints: Mapping[str, Any], now: datetime) -> list[Any]:
    listed: list[str] = []
    count = 0
    for subset in endpoints.get("subsets") or ():
        addresses = [str(a.get("ip", "")) for a in subset.get("addresses") or ()]
        ports = subset.get("ports") or ()
        if not ports:
            # A headless service's endpoints may have no ports: the addresses alone.
            count += len(addresses)
            listed.extend(addresses[: max(0, 3 - len(listed))])
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(listed) == 3:
                    break
                host = f"[{address}]" if ":" in address else address
                listed.append(f"{host}:{port.get('port', 0)}")
    text = "<none>" if not endpoints.get("subsets") else with_more(listed, count)
    return [name_of(endpoints), text, age_of(endpoints, now)]


_ENDPOINTS = Printer(
    (META_NAME, Column("Endpoints", "string", FIELD_DOCS["Endpoints.subsets"]), META_AGE),
    _endpoints_cells,
)


# ------------------------------------------------------------------------------------ nodes


def _node_cells(node: Mapping[str, Any], now: datetime) -> list[Any]:
    status, meta = status_of(node), meta_of(node)
    states = []
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    states = states or ["Unknown"]
    if spec_of(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles: set[str] = set()
    for key, value in (meta.get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = status.get("nodeInfo") or {}
    kernel = info.get("kernelVersion") or "<unknown>"
    if info.get("architecture"):
        kernel += f" ({info['architecture']})"

    def address(kind: str) -> str:
        for entry in status.get("addresses") or ():
            if entry.get("type") == kind:
                return str(entry.get("address", ""))
        return "<none>"

    return [
        name_of(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        age_of(node, now),
        str(info.get("kubeletVersion") or ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        kernel,
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE = Printer(
    (
        META_NAME,
        Column("Status", "string", "The status of the node"),
        Column("Roles", "string", "The roles of the node"),
        META_AGE,
        Column("Version", "string", FIELD_DOCS["NodeSystemInfo.kubeletVersion"]),
        Column("Internal-IP", "string", FIELD_DOCS["NodeStatus.addresses"], priority=1),
        Column("External-IP", "string", FIELD_DOCS["NodeStatus.addresses"], priority=1),
        Column("OS-Image", "string", FIELD_DOCS["NodeSystemInfo.osImage"], priority=1),
        Column("Kernel-Version", "string", FIELD_DOCS["NodeSystemInfo.kernelVersion"], priority=1),
        Column(
            "Container-Runtime", "string", FIELD_DOCS["NodeSystemInfo.containerRuntimeVersion"], priority=1
        ),
    ),
    _node_cells,
)


# ----------------------------------------------------------------------------------- events


def _event_cells(event: Mapping[str, Any], now: datetime) -> list[Any]:
    """Reads the core/v1 form: events.k8s.io/v1 Events are stored as core Events, and the real
    server prints both from its internal (core) type, so both APIs show the same table."""
    first = since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first = since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now) if parse_time(event.get("lastTimestamp")) else first
    count = int(event.get("count") or 0)
    series = event.get("series")
    if series is not None:
        last = since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1  # a singleton event of the new API has no count
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last,
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        f"{component}, {instance}" if instance else component,
        str(event.get("message") or "").strip(),
        first,
        count,
        name_of(event),
    ]


_EVENT = Printer(
    (
        Column("Last Seen", "string", FIELD_DOCS["Event.lastTimestamp"]),
        Column("Type", "string", FIELD_DOCS["Event.type"]),
        Column("Reason", "string", FIELD_DOCS["Event.reason"]),
        Column("Object", "string", FIELD_DOCS["Event.involvedObject"]),
        Column("Subobject", "string", FIELD_DOCS["ObjectReference.fieldPath"], priority=1),
        Column("Source", "string", FIELD_DOCS["Event.source"], priority=1),
        Column("Message", "string", FIELD_DOCS["Event.message"]),
        Column("First Seen", "string", FIELD_DOCS["Event.firstTimestamp"], priority=1),
        Column("Count", "string", FIELD_DOCS["Event.count"], priority=1),
        Column("Name", "string", FIELD_DOCS["ObjectMeta.name"], "name", priority=1),
    ),
    _event_cells,
)


# ---------------------------------------------------------------------------- the simple ones


def _namespace_cells(namespace: Mapping[str, Any], now: datetime) -> list[Any]:
    return [name_of(namespace), str(status_of(namespace).get("phase") or ""), age_of(namespace, now)]


def _secret_cells(secret: Mapping[str, Any], now: datetime) -> list[Any]:
    return [
        name_of(secret),
        str(secret.get("type") or ""),
        len(secret.get("data") or {}),
        age_of(secret, now),
    ]


def _config_map_cells(config_map: Mapping[str, Any], now: datetime) -> list[Any]:
    size = len(config_map.get("data") or {}) + len(config_map.get("binaryData") or {})
    return [name_of(config_map), size, age_of(config_map, now)]


def _name_age_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [name_of(obj), age_of(obj, now)]


def _lease_cells(lease: Mapping[str, Any], now: datetime) -> list[Any]:
    return [name_of(lease), str(spec_of(lease).get("holderIdentity") or ""), age_of(lease, now)]


def _endpoint_slice_cells(slice_: Mapping[str, Any], now: datetime) -> list[Any]:
    ports = slice_.get("ports") or ()
    port_names = []
    for port in ports[:3]:
        number = port.get("port")
        port_names.append(str(number) if number is not None else str(port.get("name") or "*"))
    addresses = [
        str(a) for endpoint in slice_.get("endpoints") or () for a in endpoint.get("addresses") or ()
    ]
    return [
        name_of(slice_),
        str(slice_.get("addressType") or ""),
        with_more(port_names, len(ports)) or "<unset>",
        with_more(addresses[:3], len(addresses)) or "<unset>",
        age_of(slice_, now),
    ]


def _ingress_hosts(rules: Sequence[Mapping[str, Any]]) -> str:
    """Up to three hosts; once three are listed, any further rule (with a host or not) makes it
    "+ N more", N counting every rule past the third."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    if not hosts:
        return "*"
    return f"{','.join(hosts)} + {len(rules) - 3} more..." if more else ",".join(hosts)


def _ingress_cells(ingress: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(ingress)
    return [
        name_of(ingress),
        spec.get("ingressClassName") or "<none>",
        _ingress_hosts(spec.get("rules") or ()),
        _load_balancer_addresses(status_of(ingress)),
        "80, 443" if spec.get("tls") else "80",
        age_of(ingress, now),
    ]


def _ingress_class_cells(ingress_class: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = spec_of(ingress_class)
    name = name_of(ingress_class)
    if (meta_of(ingress_class).get("annotations") or {}).get(
        "ingressclass.kubernetes.io/is-default-class"
    ) == "true":
        name += " (default)"
    parameters = spec.get("parameters")
    described = "<none>"
    if parameters:
        described = str(parameters.get("kind") or "")
        if parameters.get("apiGroup") is not None:
            described += f".{parameters['apiGroup']}"
        described += f"/{parameters.get('name', '')}"
    return [name, str(spec.get("controller") or ""), described, age_of(ingress_class, now)]


def _crd_cells(crd: Mapping[str, Any], now: datetime) -> list[Any]:
    del now  # "Created At" is a date column: kubectl shows it relative to its own clock
    spec = spec_of(crd)
    versions = sorted(
        str(v.get("name")) + ("(storage)" if v.get("storage") else "")
        for v in spec.get("versions") or ()
        if v.get("served")
    )
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status_of(crd).get("conditions") or ()
    )
    names = spec.get("names") or {}
    return [
        name_of(crd),
        str(spec.get("scope") or ""),
        ",".join(versions),
        meta_of(crd).get("creationTimestamp"),
        str(spec.get("group") or ""),
        str(names.get("kind") or ""),
        ",".join(names.get("shortNames") or ()),
        established,
    ]


_CRD = Printer(
    (
        META_NAME,
        Column("Scope", "string", "Cluster/Namespaced"),
        Column("Versions", "string", "Served versions"),
        Column("Created At", "date", FIELD_DOCS["ObjectMeta.creationTimestamp"]),
        Column("Group", "string", "API group", priority=1),
        Column("Kind", "string", "CustomResource kind", priority=1),
        Column("ShortNames", "string", "Short names", priority=1),
        Column("Established", "boolean", "Established status", priority=1),
    ),
    _crd_cells,
    null_when_empty=True,
)


BUILTIN_PRINTERS: Mapping[tuple[str, str], Printer] = {
    ("", "pods"): _POD,
    ("", "services"): _SERVICE,
    ("", "endpoints"): _ENDPOINTS,
    ("", "nodes"): _NODE,
    ("", "events"): _EVENT,
    ("events.k8s.io", "events"): _EVENT,
    ("", "namespaces"): Printer(
        (META_NAME, Column("Status", "string", "The status of the namespace"), META_AGE),
        _namespace_cells,
    ),
    ("", "secrets"): Printer(
        (
            META_NAME,
            Column("Type", "string", FIELD_DOCS["Secret.type"]),
            Column("Data", "string", FIELD_DOCS["Secret.data"]),
            META_AGE,
        ),
        _secret_cells,
    ),
    ("", "serviceaccounts"): Printer((META_NAME, META_AGE), _name_age_cells),
    ("", "configmaps"): Printer(
        (META_NAME, Column("Data", "string", FIELD_DOCS["ConfigMap.data"]), META_AGE),
        _config_map_cells,
    ),
    ("coordination.k8s.io", "leases"): Printer(
        (META_NAME, Column("Holder", "string", FIELD_DOCS["LeaseSpec.holderIdentity"]), META_AGE),
        _lease_cells,
    ),
    ("discovery.k8s.io", "endpointslices"): Printer(
        (
            META_NAME,
            Column("AddressType", "string", FIELD_DOCS["EndpointSlice.addressType"]),
            Column("Ports", "string", FIELD_DOCS["EndpointSlice.ports"]),
            Column("Endpoints", "string", FIELD_DOCS["EndpointSlice.endpoints"]),
            META_AGE,
        ),
        _endpoint_slice_cells,
    ),
    ("networking.k8s.io", "ingresses"): Printer(
        (
            META_NAME,
            Column(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for additional configuration",
            ),
            Column(
                "Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"
            ),
            Column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
            Column("Ports", "string", "Ports of TLS configurations that open"),
            META_AGE,
        ),
        _ingress_cells,
    ),
    ("networking.k8s.io", "ingressclasses"): Printer(
        (
            META_NAME,
            Column("Controller", "string", "Controller that is responsible for handling this class"),
            Column("Parameters", "string", "A reference to a resource with additional parameters"),
            META_AGE,
        ),
        _ingress_class_cells,
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): _CRD,
}
