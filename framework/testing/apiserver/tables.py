"""Server-side `Table` output: what `kubectl get` prints.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns the
server sends. kube-apiserver has a printer per built-in type (pkg/printers), the apiextensions
server one for CustomResourceDefinitions, and custom resources get NAME, the CRD's
`additionalPrinterColumns` (evaluated by their jsonPath) or AGE. The printers here produce the
same columns and cells, always in the wide form (every column, priority 1 included, as the real
server sends them; kubectl hides priority-1 columns unless `-o wide`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from . import errors
from .registry import Target
from .resources import PrinterColumn, ResourceType
from .store import Entry
from .table_docs import FIELD_DOCS

JsonObject = dict[str, Any]

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE_OBJECT = ("None", "Metadata", "Object")


# -------------------------------------------------------------------------------- negotiation


@dataclass(frozen=True)
class TableOptions:
    api_version: str  # meta.k8s.io/v1 or meta.k8s.io/v1beta1, as the client asked
    include_object: str  # what each row's `object` holds: "Metadata", "Object" or "None"
    no_headers: bool  # leave out columnDefinitions (watch events after the first)


def _accept_clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header, highest q first (stable, as Go's goautoneg sorts)."""
    clauses: list[tuple[float, int, str, dict[str, str]]] = []
    for index, raw in enumerate(accept.split(",")):
        parts = [p.strip() for p in raw.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        quality = 1.0
        for part in parts[1:]:
            key, _, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif key:
                params[key] = value
        clauses.append((-quality, index, media, params))
    clauses.sort(key=lambda clause: (clause[0], clause[1]))
    return [(media, params) for _, _, media, params in clauses]


def negotiate_table(accept: str) -> str | None:
    """The Table apiVersion the Accept header asks for, or None when the first media range the
    stand-in can serve is the plain object. Ranges asking for a conversion the stand-in does not
    make (PartialObjectMetadata, other groups) or another encoding (protobuf, CBOR) are skipped,
    as kube-apiserver skips the ranges it cannot serve."""
    for media, params in _accept_clauses(accept):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        converting = {"as", "g", "v"} & params.keys()
        if not converting:
            return None
        if (
            params.get("as") == "Table"
            and params.get("g") == TABLE_GROUP
            and params.get("v") in TABLE_VERSIONS
        ):
            return f"{TABLE_GROUP}/{params['v']}"
    return None


def table_options(api_version: str, query: Mapping[str, str]) -> TableOptions:
    """The Table options of a GET or LIST. Only `includeObject` is a query parameter: leaving out
    the column definitions is the server's own choice for watch events after the first."""
    include = query.get("includeObject", "")
    if include and include not in INCLUDE_OBJECT:
        raise errors.bad_request(
            f'Unable to convert to Table as requested: includeObject: Invalid value: "{include}": '
            "must be 'Metadata', 'Object', 'None', or empty"
        )
    return TableOptions(api_version, include or "Metadata", no_headers=False)


# ------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    format: str = ""
    priority: int = 0

    def definition(self) -> JsonObject:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


CellsFunction = Callable[[Mapping[str, Any], datetime], list[Any]]


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: CellsFunction
    # Row conditions (only pods have them: a completed pod's row says so).
    conditions: Callable[[Mapping[str, Any]], list[JsonObject]] | None = None
    # An empty list's `rows`: `[]` from most printers, `null` from the CRD printer.
    null_when_empty: bool = False


@dataclass(frozen=True)
class TableRowSource:
    """One object of the table: the stored form the printer reads and the served form the row's
    `object` shows (they differ for events.k8s.io Events, which are core Events inside)."""

    stored: Mapping[str, Any]
    served: Mapping[str, Any]


def build_table(
    printer: Printer,
    sources: Sequence[TableRowSource],
    metadata: Mapping[str, Any],
    options: TableOptions,
    now: datetime,
) -> JsonObject:
    rows: list[Any] = []
    for source in sources:
        row: JsonObject = {"cells": printer.cells(source.stored, now)}
        conditions = printer.conditions(source.stored) if printer.conditions else []
        if conditions:
            row["conditions"] = conditions
        row["object"] = _row_object(source.served, options)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": options.api_version,
        "metadata": dict(metadata),
        "columnDefinitions": None
        if options.no_headers
        else [column.definition() for column in printer.columns],
        "rows": None if not rows and printer.null_when_empty else rows,
    }


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class TableStream:
    """A watch's objects as Tables (`kubectl get -w`): one single-row Table per event, bookmarks
    included. Only the first carries the column definitions, as the real watch encoder does."""

    def __init__(
        self,
        printer: Printer,
        options: TableOptions,
        view: Callable[[Entry, Target], Mapping[str, Any]],
        clock: Callable[[], datetime],
    ) -> None:
        self._printer = printer
        self._options = options
        self._view = view
        self._clock = clock

    def _table(self, source: TableRowSource) -> bytes:
        metadata = {"resourceVersion": _meta(source.stored).get("resourceVersion", "")}
        table = build_table(self._printer, [source], metadata, self._options, self._clock())
        if not self._options.no_headers:
            self._options = replace(self._options, no_headers=True)
        return _dumps(table)

    def object(self, entry: Entry, target: Target) -> bytes:
        return self._table(TableRowSource(entry.obj, self._view(entry, target)))

    def bookmark(self, target: Target, metadata: dict[str, Any]) -> bytes:
        obj = {"kind": target.resource.kind, "apiVersion": target.api_version, "metadata": metadata}
        return self._table(TableRowSource(obj, obj))


def _row_object(served: Mapping[str, Any], options: TableOptions) -> JsonObject | None:
    if options.include_object == "None":
        return None
    if options.include_object == "Object":
        return dict(served)
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": options.api_version,
        "metadata": served["metadata"],
    }


# ------------------------------------------------------------------------------ cell helpers


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (metav1.Time or MicroTime); None when unset or unreadable."""
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def human_duration(seconds_total: float) -> str:
    """apimachinery's HumanDuration: about two or three significant figures ("5s", "3m20s", "4h")."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """How long ago a timestamp was ("<unknown>" when unset), as the printers' AGE columns say it."""
    moment = parse_time(value)
    if moment is None:
        return "<unknown>"
    return human_duration((now - moment).total_seconds())


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = obj.get("spec") or {}
    return spec


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status: Mapping[str, Any] = obj.get("status") or {}
    return status


def _age(obj: Mapping[str, Any], now: datetime) -> str:
    return since(_meta(obj).get("creationTimestamp"), now)


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """k8s.io/apimachinery labels.FormatLabels: sorted key=value pairs, "<none>" when empty."""
    pairs = labels or {}
    return ",".join(f"{key}={pairs[key]}" for key in sorted(pairs)) or "<none>"


def _more(listed: list[str], count: int, limit: int = 3) -> str:
    text = ",".join(listed)
    return f"{text} + {count - limit} more..." if count > limit else text


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name", ""))


_META_NAME = Column("Name", "string", FIELD_DOCS["ObjectMeta.name"], "name")
_META_AGE = Column("Age", "string", FIELD_DOCS["ObjectMeta.creationTimestamp"])


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
    spec, status = _spec(pod), _status(pod)
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
    status = _status(pod)
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
    spec, status, meta = _spec(pod), _status(pod), _meta(pod)
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
        _name(pod),
        f"{tally.ready}/{total}",
        tally.reason,
        restarts,
        _age(pod, now),
        (pod_ips[0].get("ip") if pod_ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]


def _pod_conditions(pod: Mapping[str, Any]) -> list[JsonObject]:
    phase = _status(pod).get("phase")
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
        _META_NAME,
        Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", "string", "The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        _META_AGE,
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
    spec = _spec(service)
    service_type = spec.get("type")
    external_ips = [str(ip) for ip in spec.get("externalIPs") or ()]
    if service_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if service_type == "LoadBalancer":
        load_balancer = _load_balancer_addresses(_status(service))
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
    spec = _spec(service)
    cluster_ips = spec.get("clusterIPs") or ()
    return [
        _name(service),
        str(spec.get("type") or ""),
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        _service_ports(spec),
        _age(service, now),
        format_labels(spec.get("selector")),
    ]


_SERVICE = Printer(
    (
        _META_NAME,
        Column("Type", "string", FIELD_DOCS["ServiceSpec.type"]),
        Column("Cluster-IP", "string", FIELD_DOCS["ServiceSpec.clusterIP"]),
        Column("External-IP", "string", FIELD_DOCS["ServiceSpec.externalIPs"]),
        Column("Port(s)", "string", FIELD_DOCS["ServiceSpec.ports"]),
        _META_AGE,
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
    text = "<none>" if not endpoints.get("subsets") else _more(listed, count)
    return [_name(endpoints), text, _age(endpoints, now)]


_ENDPOINTS = Printer(
    (_META_NAME, Column("Endpoints", "string", FIELD_DOCS["Endpoints.subsets"]), _META_AGE),
    _endpoints_cells,
)


# ------------------------------------------------------------------------------------ nodes


def _node_cells(node: Mapping[str, Any], now: datetime) -> list[Any]:
    status, meta = _status(node), _meta(node)
    states = []
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    states = states or ["Unknown"]
    if _spec(node).get("unschedulable"):
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
        _name(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        _age(node, now),
        str(info.get("kubeletVersion") or ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        kernel,
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE = Printer(
    (
        _META_NAME,
        Column("Status", "string", "The status of the node"),
        Column("Roles", "string", "The roles of the node"),
        _META_AGE,
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
        _name(event),
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
    return [_name(namespace), str(_status(namespace).get("phase") or ""), _age(namespace, now)]


def _secret_cells(secret: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_name(secret), str(secret.get("type") or ""), len(secret.get("data") or {}), _age(secret, now)]


def _config_map_cells(config_map: Mapping[str, Any], now: datetime) -> list[Any]:
    size = len(config_map.get("data") or {}) + len(config_map.get("binaryData") or {})
    return [_name(config_map), size, _age(config_map, now)]


def _name_age_cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_name(obj), _age(obj, now)]


def _lease_cells(lease: Mapping[str, Any], now: datetime) -> list[Any]:
    return [_name(lease), str(_spec(lease).get("holderIdentity") or ""), _age(lease, now)]


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
        _name(slice_),
        str(slice_.get("addressType") or ""),
        _more(port_names, len(ports)) or "<unset>",
        _more(addresses[:3], len(addresses)) or "<unset>",
        _age(slice_, now),
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
    spec = _spec(ingress)
    return [
        _name(ingress),
        spec.get("ingressClassName") or "<none>",
        _ingress_hosts(spec.get("rules") or ()),
        _load_balancer_addresses(_status(ingress)),
        "80, 443" if spec.get("tls") else "80",
        _age(ingress, now),
    ]


def _ingress_class_cells(ingress_class: Mapping[str, Any], now: datetime) -> list[Any]:
    spec = _spec(ingress_class)
    name = _name(ingress_class)
    if (_meta(ingress_class).get("annotations") or {}).get(
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
    return [name, str(spec.get("controller") or ""), described, _age(ingress_class, now)]


def _crd_cells(crd: Mapping[str, Any], now: datetime) -> list[Any]:
    del now  # "Created At" is a date column: kubectl shows it relative to its own clock
    spec = _spec(crd)
    versions = sorted(
        str(v.get("name")) + ("(storage)" if v.get("storage") else "")
        for v in spec.get("versions") or ()
        if v.get("served")
    )
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in _status(crd).get("conditions") or ()
    )
    names = spec.get("names") or {}
    return [
        _name(crd),
        str(spec.get("scope") or ""),
        ",".join(versions),
        _meta(crd).get("creationTimestamp"),
        str(spec.get("group") or ""),
        str(names.get("kind") or ""),
        ",".join(names.get("shortNames") or ()),
        established,
    ]


_CRD = Printer(
    (
        _META_NAME,
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


_BUILTIN_PRINTERS: Mapping[tuple[str, str], Printer] = {
    ("", "pods"): _POD,
    ("", "services"): _SERVICE,
    ("", "endpoints"): _ENDPOINTS,
    ("", "nodes"): _NODE,
    ("", "events"): _EVENT,
    ("events.k8s.io", "events"): _EVENT,
    ("", "namespaces"): Printer(
        (_META_NAME, Column("Status", "string", "The status of the namespace"), _META_AGE),
        _namespace_cells,
    ),
    ("", "secrets"): Printer(
        (
            _META_NAME,
            Column("Type", "string", FIELD_DOCS["Secret.type"]),
            Column("Data", "string", FIELD_DOCS["Secret.data"]),
            _META_AGE,
        ),
        _secret_cells,
    ),
    ("", "serviceaccounts"): Printer((_META_NAME, _META_AGE), _name_age_cells),
    ("", "configmaps"): Printer(
        (_META_NAME, Column("Data", "string", FIELD_DOCS["ConfigMap.data"]), _META_AGE),
        _config_map_cells,
    ),
    ("coordination.k8s.io", "leases"): Printer(
        (_META_NAME, Column("Holder", "string", FIELD_DOCS["LeaseSpec.holderIdentity"]), _META_AGE),
        _lease_cells,
    ),
    ("discovery.k8s.io", "endpointslices"): Printer(
        (
            _META_NAME,
            Column("AddressType", "string", FIELD_DOCS["EndpointSlice.addressType"]),
            Column("Ports", "string", FIELD_DOCS["EndpointSlice.ports"]),
            Column("Endpoints", "string", FIELD_DOCS["EndpointSlice.endpoints"]),
            _META_AGE,
        ),
        _endpoint_slice_cells,
    ),
    ("networking.k8s.io", "ingresses"): Printer(
        (
            _META_NAME,
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
            _META_AGE,
        ),
        _ingress_cells,
    ),
    ("networking.k8s.io", "ingressclasses"): Printer(
        (
            _META_NAME,
            Column("Controller", "string", "Controller that is responsible for handling this class"),
            Column("Parameters", "string", "A reference to a resource with additional parameters"),
            _META_AGE,
        ),
        _ingress_class_cells,
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): _CRD,
}


# --------------------------------------------------------------------------- custom resources


def _go_text(value: Any) -> str:
    """What client-go's jsonpath printer writes for a value (a string column's cell): objects and
    lists as compact JSON with sorted keys (Go's encoder, HTML characters escaped), scalars as Go's
    fmt prints them."""
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    return str(value)


def _typed_cell(column_type: str, value: Any, now: datetime) -> Any:
    """A non-string column's cell: the value if it has the column's type, else null."""
    if column_type == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        moment = parse_time(value)
        return "<invalid>" if moment is None else human_duration((now - moment).total_seconds())
    return None


def _custom_cells(columns: Sequence[PrinterColumn]) -> CellsFunction:
    paths = [JsonPath.parse(column.json_path) for column in columns]

    def cells(obj: Mapping[str, Any], now: datetime) -> list[Any]:
        row: list[Any] = [_name(obj)]
        for column, path in zip(columns, paths, strict=True):
            found = path.first(obj) if path is not None else _MISSING
            if found is _MISSING or found is None:
                row.append(None)
            elif column.type == "string":
                row.append(_go_text(found))
            else:
                row.append(_typed_cell(column.type, found, now))
        return row

    return cells


def custom_resource_printer(columns: Sequence[PrinterColumn]) -> Printer:
    definitions = [_META_NAME] + [
        Column(
            column.name,
            column.type,
            column.description
            or f"Custom resource definition column (in JSONPath format): {column.json_path}",
            column.format,
            column.priority,
        )
        for column in columns
    ]
    return Printer(tuple(definitions), _custom_cells(columns))


def printer_for(resource: ResourceType, version: str) -> Printer:
    builtin = _BUILTIN_PRINTERS.get(resource.key)
    if builtin is not None:
        return builtin
    return custom_resource_printer(resource.printer_columns.get(version, ()))


# ---------------------------------------------------------------------------------- jsonPath

_MISSING = object()
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?P<quote>['"])(?P<key>(?:\\.|(?!(?P=quote)).)*)(?P=quote)\]"""
    r"""|\[\*\]|\.\*"""
    r"""|\[\?\(@(?P<filter>(?:\.[A-Za-z0-9_\-]+)+)\s*(?P<op>==|!=)\s*(?P<literal>'[^']*'|"[^"]*"|-?[\d.]+|true|false)\)\]"""
)


@dataclass(frozen=True)
class JsonPath:
    """The simple JSONPath subset printer columns use: `.a.b`, `[0]`, `['key']`, `[*]` and
    `[?(@.field=="value")]`. Missing keys yield nothing (the cell is then null)."""

    steps: tuple[tuple[str, Any], ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath | None:
        text = text.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        steps: list[tuple[str, Any]] = []
        position = 0
        while position < len(text):
            match = _STEP.match(text, position)
            if match is None:
                return None
            position = match.end()
            if match.group("field") is not None:
                steps.append(("field", match.group("field")))
            elif match.group("index") is not None:
                steps.append(("index", int(match.group("index"))))
            elif match.group("key") is not None:
                steps.append(("field", re.sub(r"\\(.)", r"\1", match.group("key"))))
            elif match.group("filter") is not None:
                literal = match.group("literal")
                value = literal[1:-1] if literal[0] in "'\"" else json.loads(literal)
                fields = tuple(match.group("filter").split(".")[1:])
                steps.append(("filter", (fields, match.group("op"), value)))
            else:
                steps.append(("all", None))
        return cls(tuple(steps))

    def first(self, obj: Any) -> Any:
        values = [obj]
        for kind, argument in self.steps:
            values = [child for value in values for child in _step(value, kind, argument)]
        return values[0] if values else _MISSING


def _step(value: Any, kind: str, argument: Any) -> list[Any]:
    if kind == "field":
        return [value[argument]] if isinstance(value, dict) and argument in value else []
    if kind == "index":
        if isinstance(value, list) and -len(value) <= argument < len(value):
            return [value[argument]]
        return []
    if kind == "all":
        if isinstance(value, list):
            return list(value)
        return list(value.values()) if isinstance(value, dict) else []
    fields, op, expected = argument
    matched = []
    for item in value if isinstance(value, list) else ():
        current: Any = item
        for name in fields:
            current = current.get(name, _MISSING) if isinstance(current, dict) else _MISSING
        if current is not _MISSING and ((current == expected) == (op == "==")):
            matched.append(item)
    return matched
