"""Gateway API status: GatewayClass ``Accepted``; Gateway ``Accepted``/``Programmed``, ``addresses`` and
per-listener ``attachedRoutes``; each route's ``parents`` entry with ``Accepted`` and ``ResolvedRefs``.

Conditions follow metav1.Condition: ``lastTransitionTime`` moves only when ``status`` changes, and
``observedGeneration`` is the generation the condition was computed from. Each write is a merge patch
of the status subresource, made only when something changed (so our own writes do not loop through
the watches). A route's ``parents`` keeps the entries of other controllers and of other Gateways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from controller.gateway.resources import GATEWAY_API_GROUP
from controller.gateway.routes import Attachments, Listener, RouteAttachment
from framework import objects
from framework.kube import KubeApiError, KubeClient, Resource
from framework.objects import meta_of

ACCEPTED: Final = "Accepted"
PROGRAMMED: Final = "Programmed"
RESOLVED_REFS: Final = "ResolvedRefs"
REASON_ACCEPTED: Final = "Accepted"
REASON_PROGRAMMED: Final = "Programmed"
REASON_PENDING: Final = "Pending"
REASON_INVALID: Final = "Invalid"
REASON_RESOLVED_REFS: Final = "ResolvedRefs"
MESSAGE_MAX: Final = 32768


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_conditions(
    wanted: Sequence[Condition], current: Sequence[Mapping[str, Any]] | None, generation: int, now: str
) -> list[dict[str, Any]]:
    """``wanted`` as metav1.Conditions, keeping each one's ``lastTransitionTime`` while its status stands."""
    previous = {str(c.get("type")): c for c in current or ()}
    rendered = []
    for condition in wanted:
        status = "True" if condition.status else "False"
        before = previous.get(condition.type)
        since = before.get("lastTransitionTime") if before and before.get("status") == status else None
        rendered.append(
            {
                "type": condition.type,
                "status": status,
                "reason": condition.reason,
                "message": condition.message[:MESSAGE_MAX],
                "observedGeneration": generation,
                "lastTransitionTime": since or now,
            }
        )
    return rendered


def _generation(obj: Mapping[str, Any]) -> int:
    return int(meta_of(obj).get("generation") or 0)


async def _patch_status(
    client: KubeClient, resource: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
) -> bool:
    """Merge-patch ``status`` unless every key already has that value; an object already gone needs none."""
    current = obj.get("status") or {}
    if all(_same(current.get(key), value) for key, value in status.items()):
        return False
    meta = meta_of(obj)
    try:
        await objects.patch_status(
            client, resource, str(meta.get("name")), meta.get("namespace"), dict(status)
        )
    except KubeApiError as error:
        if error.is_not_found:
            return False
        raise
    return True


def _same(current: Any, wanted: Any) -> bool:
    """Equal, ignoring when a condition last moved (the rendering kept it when nothing else changed)."""
    return bool(_without_times(current) == _without_times(wanted))


def _without_times(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_times(v) for k, v in value.items() if k != "lastTransitionTime"}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


# ----------------------------------------------------------------------------- GatewayClass


async def write_class_accepted(
    client: KubeClient, resource: Resource, gateway_class: Mapping[str, Any]
) -> bool:
    status = gateway_class.get("status") or {}
    conditions = render_conditions(
        [Condition(ACCEPTED, True, REASON_ACCEPTED, "GatewayClass is accepted")],
        status.get("conditions"),
        _generation(gateway_class),
        now_rfc3339(),
    )
    others = [c for c in status.get("conditions") or () if c.get("type") != ACCEPTED]
    return await _patch_status(client, resource, gateway_class, {"conditions": [*conditions, *others]})


# ----------------------------------------------------------------------------- Gateway


@dataclass(frozen=True)
class GatewayOutcome:
    """What the reconcile of one Gateway came to."""

    dns_name: str | None
    """The LB's DNS name once deployed."""
    lb_arn: str | None = None
    """The LB's ARN once deployed (the ``Programmed`` message, as upstream)."""
    error: str | None = None
    """Why it is not programmed (the build or deploy error, as its Warning event says)."""
    pending: bool = False


async def write_gateway_status(
    client: KubeClient,
    resource: Resource,
    gateway: Mapping[str, Any],
    listeners: Sequence[Listener],
    attachments: Attachments,
    outcome: GatewayOutcome,
) -> bool:
    status = gateway.get("status") or {}
    generation, now = _generation(gateway), now_rfc3339()
    accepted = Condition(ACCEPTED, True, REASON_ACCEPTED, "Gateway is accepted.")
    if outcome.error is not None:
        # Upstream marks a Gateway it cannot build ``Accepted=False`` (reason Invalid); we also put
        # the reason in the message (upstream: "Check Gateway Events for more information.").
        accepted = Condition(ACCEPTED, False, REASON_INVALID, outcome.error)
        programmed = Condition(PROGRAMMED, False, REASON_INVALID, outcome.error)
    elif outcome.dns_name is None or outcome.pending:
        programmed = Condition(PROGRAMMED, False, REASON_PENDING, "Waiting for load balancer to be active.")
    else:
        programmed = Condition(
            PROGRAMMED, True, REASON_PROGRAMMED, outcome.lb_arn or "Gateway is programmed."
        )
    conditions = render_conditions([accepted, programmed], status.get("conditions"), generation, now)
    previous_listeners = {str(s.get("name")): s for s in status.get("listeners") or ()}
    listener_status = []
    for listener in listeners:
        before = (previous_listeners.get(listener.name) or {}).get("conditions")
        listener_status.append(
            {
                "name": listener.name,
                "supportedKinds": [
                    {"group": GATEWAY_API_GROUP, "kind": kind} for kind in listener.allowed_kinds
                ],
                "attachedRoutes": attachments.attached_count(listener.name),
                "conditions": render_conditions(
                    [
                        Condition(ACCEPTED, True, REASON_ACCEPTED, "Listener is accepted."),
                        Condition(
                            PROGRAMMED,
                            programmed.status,
                            REASON_PROGRAMMED if programmed.status else programmed.reason,
                            "Listener is programmed." if programmed.status else "Listener is not programmed.",
                        ),
                        Condition(
                            RESOLVED_REFS, True, REASON_RESOLVED_REFS, "Listener has all refs resolved."
                        ),
                    ],
                    before,
                    generation,
                    now,
                ),
            }
        )
    addresses = [{"type": "Hostname", "value": outcome.dns_name.lower()}] if outcome.dns_name else []
    return await _patch_status(
        client,
        resource,
        gateway,
        {"addresses": addresses, "conditions": conditions, "listeners": listener_status},
    )


# ----------------------------------------------------------------------------- routes


async def write_route_status(
    client: KubeClient,
    resource: Resource,
    attachment: RouteAttachment,
    controller_name: str,
    unresolved: Sequence[Any],
) -> bool:
    """Our entries (one per parentRef naming the Gateway) in the route's ``status.parents``."""
    route = attachment.route.obj
    current = list((route.get("status") or {}).get("parents") or ())
    generation, now = _generation(route), now_rfc3339()
    accepted = (
        Condition(ACCEPTED, True, REASON_ACCEPTED, "Route is accepted.")
        if attachment.listeners
        else Condition(ACCEPTED, False, attachment.reason, "No listener of the Gateway accepts this route.")
    )
    resolved = (
        Condition(RESOLVED_REFS, False, unresolved[0].reason, "; ".join(u.message for u in unresolved))
        if unresolved
        else Condition(RESOLVED_REFS, True, REASON_RESOLVED_REFS, "All references are resolved.")
    )
    ours = []
    for parent_ref in attachment.parent_refs:
        before = next(
            (p for p in current if _same_parent(p, parent_ref, controller_name)),
            None,
        )
        ours.append(
            {
                "parentRef": dict(parent_ref),
                "controllerName": controller_name,
                "conditions": render_conditions(
                    [accepted, resolved], (before or {}).get("conditions"), generation, now
                ),
            }
        )
    kept = [
        p for p in current if not any(_same_parent(p, ref, controller_name) for ref in attachment.parent_refs)
    ]
    return await _patch_status(client, resource, route, {"parents": [*kept, *ours]})


async def drop_route_status(
    client: KubeClient, resource: Resource, route: Mapping[str, Any], gateway_key: str, controller_name: str
) -> bool:
    """Remove our entries for ``gateway_key`` (the route left it, or the Gateway is gone)."""
    current = list((route.get("status") or {}).get("parents") or ())
    namespace = str(meta_of(route).get("namespace") or "")
    kept = [
        p
        for p in current
        if not (
            p.get("controllerName") == controller_name
            and f"{(p.get('parentRef') or {}).get('namespace') or namespace}/{(p.get('parentRef') or {}).get('name')}"
            == gateway_key
        )
    ]
    if len(kept) == len(current):
        return False
    return await _patch_status(client, resource, route, {"parents": kept})


def _same_parent(entry: Mapping[str, Any], parent_ref: Mapping[str, Any], controller_name: str) -> bool:
    if entry.get("controllerName") != controller_name:
        return False
    ref = entry.get("parentRef") or {}
    return all(
        ref.get(k) == parent_ref.get(k) for k in ("group", "kind", "namespace", "name", "sectionName", "port")
    )
