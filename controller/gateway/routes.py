"""Which routes attach to which listener of a Gateway (Gateway API attachment rules).

A route attaches to a Gateway through a ``spec.parentRefs`` entry naming it (kind ``Gateway``, group
``gateway.networking.k8s.io``, namespace defaulting to the route's own), narrowed by ``sectionName``
(a listener's name) and ``port``. A listener accepts it when the route's kind is one it allows
(``allowedRoutes.kinds``, by default the kinds of its protocol: HTTPRoute and GRPCRoute on HTTP and
HTTPS, TCPRoute on TCP, UDPRoute on UDP, TLSRoute on TLS) and the route's namespace is one it
allows (``allowedRoutes.namespaces.from``: ``Same`` by default, ``All``, or ``Selector``).

The result says, per listener, which routes attached (``attachedRoutes`` in the Gateway's status),
and per route whether any listener took it (its ``Accepted`` condition).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from controller.gateway.resources import GATEWAY_API_GROUP
from framework.label_selector import InvalidSelectorError, LabelSelector
from framework.objects import labels_of, name_of, namespace_of, object_key

ROUTE_KINDS_BY_PROTOCOL: Final[Mapping[str, tuple[str, ...]]] = {
    "HTTP": ("HTTPRoute", "GRPCRoute"),
    "HTTPS": ("HTTPRoute", "GRPCRoute"),
    "TCP": ("TCPRoute",),
    "UDP": ("UDPRoute",),
    "TLS": ("TLSRoute",),
}

REASON_NOT_ALLOWED_BY_LISTENERS: Final = "NotAllowedByListeners"
REASON_NO_MATCHING_PARENT: Final = "NoMatchingParent"


@dataclass(frozen=True)
class Listener:
    """One ``spec.listeners`` entry of a Gateway."""

    name: str
    protocol: str
    port: int
    hostname: str | None
    allowed_kinds: tuple[str, ...]
    namespaces_from: str
    namespace_selector: LabelSelector | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Listener:
        protocol = str(raw.get("protocol") or "")
        allowed = raw.get("allowedRoutes") or {}
        kinds = tuple(
            str(k.get("kind"))
            for k in allowed.get("kinds") or ()
            if k.get("group", GATEWAY_API_GROUP) == GATEWAY_API_GROUP
        ) or ROUTE_KINDS_BY_PROTOCOL.get(protocol, ())
        namespaces = allowed.get("namespaces") or {}
        selector = None
        if namespaces.get("from") == "Selector":
            try:
                selector = LabelSelector.parse(namespaces.get("selector") or {})
            except InvalidSelectorError:
                selector = None  # a selector that cannot be read selects nothing
        return cls(
            name=str(raw.get("name") or ""),
            protocol=protocol,
            port=int(raw.get("port") or 0),
            hostname=str(raw["hostname"]) if raw.get("hostname") else None,
            allowed_kinds=kinds,
            namespaces_from=str(namespaces.get("from") or "Same"),
            namespace_selector=selector,
        )


@dataclass(frozen=True)
class Route:
    """A route object with its kind (``HTTPRoute``...)."""

    kind: str
    obj: Mapping[str, Any]

    @property
    def key(self) -> str:
        return object_key(self.obj)

    @property
    def namespace(self) -> str:
        return namespace_of(self.obj)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.obj.get("spec") or {}

    def sort_key(self) -> tuple[str, str, str]:
        """Gateway API tie-break: the oldest route first, then by namespace/name."""
        created = str((self.obj.get("metadata") or {}).get("creationTimestamp") or "")
        return created, self.namespace, name_of(self.obj)


@dataclass(frozen=True)
class RouteAttachment:
    """How one route attached to one Gateway."""

    route: Route
    parent_refs: tuple[Mapping[str, Any], ...]
    """The route's parentRefs that name this Gateway (its status has one entry per ref)."""
    listeners: tuple[str, ...]
    """Names of the listeners that accepted it (empty: not accepted)."""
    reason: str = ""
    """Why no listener accepted it (``NotAllowedByListeners`` / ``NoMatchingParent``)."""


@dataclass(frozen=True)
class Attachments:
    routes: tuple[RouteAttachment, ...] = ()
    by_listener: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)

    def attached_count(self, listener: str) -> int:
        return len(self.by_listener.get(listener, ()))

    def accepted(self) -> tuple[Route, ...]:
        return tuple(a.route for a in self.routes if a.listeners)


def names_gateway(parent_ref: Mapping[str, Any], route_namespace: str, gateway: Mapping[str, Any]) -> bool:
    return (
        parent_ref.get("group", GATEWAY_API_GROUP) == GATEWAY_API_GROUP
        and parent_ref.get("kind", "Gateway") == "Gateway"
        and str(parent_ref.get("namespace") or route_namespace) == namespace_of(gateway)
        and str(parent_ref.get("name") or "") == name_of(gateway)
    )


def gateway_keys_of(route: Mapping[str, Any]) -> set[str]:
    """``namespace/name`` of every Gateway the route's parentRefs name."""
    namespace = namespace_of(route)
    keys = set()
    for ref in (route.get("spec") or {}).get("parentRefs") or ():
        if (
            ref.get("group", GATEWAY_API_GROUP) == GATEWAY_API_GROUP
            and ref.get("kind", "Gateway") == "Gateway"
        ):
            keys.add(f"{ref.get('namespace') or namespace}/{ref.get('name') or ''}")
    return keys


NamespaceLabels = Callable[[str], Mapping[str, str] | None]
"""Labels of a Namespace by name (None: unknown)."""


def attach(
    gateway: Mapping[str, Any],
    listeners: Sequence[Listener],
    routes: Iterable[Route],
    namespace_labels: NamespaceLabels,
) -> Attachments:
    """Attach ``routes`` (those naming ``gateway``) to its ``listeners``; routes in their tie-break order."""
    attachments: list[RouteAttachment] = []
    by_listener: dict[str, list[Route]] = {listener.name: [] for listener in listeners}
    for route in sorted(routes, key=Route.sort_key):
        refs = tuple(
            ref for ref in route.spec.get("parentRefs") or () if names_gateway(ref, route.namespace, gateway)
        )
        if not refs:
            continue
        taken: list[str] = []
        matched_any = False
        for ref in refs:
            for listener in listeners:
                if ref.get("sectionName") and ref["sectionName"] != listener.name:
                    continue
                if ref.get("port") and int(ref["port"]) != listener.port:
                    continue
                matched_any = True
                if listener.name in taken:
                    continue
                if _allows(listener, route, namespace_of(gateway), namespace_labels):
                    taken.append(listener.name)
                    by_listener[listener.name].append(route)
        reason = ""
        if not taken:
            reason = REASON_NOT_ALLOWED_BY_LISTENERS if matched_any else REASON_NO_MATCHING_PARENT
        attachments.append(RouteAttachment(route, refs, tuple(taken), reason))
    return Attachments(tuple(attachments), {name: tuple(rs) for name, rs in by_listener.items()})


def _allows(
    listener: Listener, route: Route, gateway_namespace: str, namespace_labels: NamespaceLabels
) -> bool:
    if route.kind not in listener.allowed_kinds:
        return False
    match listener.namespaces_from:
        case "All":
            return True
        case "Selector":
            labels = namespace_labels(route.namespace)
            return (
                listener.namespace_selector is not None
                and labels is not None
                and listener.namespace_selector.matches(labels)
            )
        case _:
            return route.namespace == gateway_namespace


def namespace_labels_from(namespaces: Callable[[str], Mapping[str, Any] | None]) -> NamespaceLabels:
    """Adapts a Namespace store lookup (``get(name)``) to ``NamespaceLabels``."""

    def labels(name: str) -> Mapping[str, str] | None:
        namespace = namespaces(name)
        return labels_of(namespace) if namespace is not None else None

    return labels
