"""Which Gateway controllers to run: the ``ALBGatewayAPI`` and ``NLBGatewayAPI`` gates, checked
against the kinds the API server serves (upstream's CRD detection).

Both gates default to on, yet most clusters have no Gateway API CRDs: a controller whose kinds are
not served could only fail its informers' cache sync. So a gate left at its default is turned off,
with one INFO line naming the missing kinds, when API discovery lacks any kind its controller
needs. A gate the user set is obeyed as set: turned on without the CRDs, the start-up CRD check
then fails naming the missing one, instead of the controller quietly not running.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from controller.config import ControllerSettings
from controller.gateway.resources import (
    GATEWAY_CLASSES,
    GATEWAYS,
    GRPC_ROUTES,
    HTTP_ROUTES,
    LISTENER_RULE_CONFIGURATIONS,
    LOAD_BALANCER_CONFIGURATIONS,
    TARGET_GROUP_CONFIGURATIONS,
    TCP_ROUTES,
    TLS_ROUTES,
    UDP_ROUTES,
)
from framework.kube import KubeApiError, KubeClient, KubeError, Resource

logger = logging.getLogger(__name__)

ALB_GATEWAY_API: Final = "ALBGatewayAPI"
NLB_GATEWAY_API: Final = "NLBGatewayAPI"

DISCOVERY_TIMEOUT_S: Final = 10.0
"""Bound on each discovery request: start-up must fail, not hang, on an unresponsive API server."""

# Upstream's lists: the kinds each controller watches. Our three CRDs configure both load balancer
# types, so both need them.
LBC_GATEWAY_RESOURCES: Final = (
    TARGET_GROUP_CONFIGURATIONS,
    LOAD_BALANCER_CONFIGURATIONS,
    LISTENER_RULE_CONFIGURATIONS,
)
ALB_REQUIRED: Final = (GATEWAYS, GATEWAY_CLASSES, HTTP_ROUTES, GRPC_ROUTES, *LBC_GATEWAY_RESOURCES)
NLB_REQUIRED: Final = (
    GATEWAYS,
    GATEWAY_CLASSES,
    TLS_ROUTES,
    TCP_ROUTES,
    UDP_ROUTES,
    *LBC_GATEWAY_RESOURCES,
)
GATE_REQUIREMENTS: Final[Mapping[str, tuple[Resource, ...]]] = {
    ALB_GATEWAY_API: ALB_REQUIRED,
    NLB_GATEWAY_API: NLB_REQUIRED,
}

ServedKinds = Mapping[str, frozenset[str]]
"""``group/version`` → the kinds API discovery lists for it (empty when the group version is not served)."""


@dataclass(frozen=True, slots=True)
class GatewayControllers:
    """Which Gateway controllers this process runs."""

    alb: bool
    nlb: bool

    @property
    def enabled_gates(self) -> tuple[str, ...]:
        return tuple(gate for gate, on in ((ALB_GATEWAY_API, self.alb), (NLB_GATEWAY_API, self.nlb)) if on)

    @property
    def required_resources(self) -> tuple[Resource, ...]:
        """What the enabled controllers watch, each once, in upstream's order."""
        return tuple(dict.fromkeys(r for gate in self.enabled_gates for r in GATE_REQUIREMENTS[gate]))

    def gates_requiring(self, resource: Resource) -> tuple[str, ...]:
        """The enabled gates whose controller watches ``resource``."""
        return tuple(gate for gate in self.enabled_gates if resource in GATE_REQUIREMENTS[gate])


NO_GATEWAY_CONTROLLERS: Final = GatewayControllers(alb=False, nlb=False)


class CrdDetectionError(Exception):
    """API discovery failed for a reason other than the group version not being served."""


def missing_kinds(required: Iterable[Resource], served: ServedKinds) -> tuple[str, ...]:
    """The kinds of ``required`` that discovery does not list, in ``required``'s order."""
    return tuple(r.kind for r in required if r.kind not in served.get(r.api_version, frozenset()))


def gateway_controllers_for(config: ControllerSettings, served: ServedKinds) -> GatewayControllers:
    """Each gate as set, or, when defaulted, on only if every kind its controller needs is served."""
    enabled: dict[str, bool] = {}
    for gate, required in GATE_REQUIREMENTS.items():
        enabled[gate] = config.feature_enabled(gate)
        if gate in config.feature_gates or not enabled[gate]:
            continue
        missing = missing_kinds(required, served)
        if missing:
            logger.info("Disabling %s: missing required CRDs: %s", gate, ", ".join(missing))
            enabled[gate] = False
    return GatewayControllers(alb=enabled[ALB_GATEWAY_API], nlb=enabled[NLB_GATEWAY_API])


async def served_kinds(kube: KubeClient, group_versions: Sequence[str]) -> dict[str, frozenset[str]]:
    """API discovery (``GET /apis/<group>/<version>``) for each group version: the kinds it serves.
    A group version no CRD serves answers 404, which is "none of its kinds", not an error."""
    served: dict[str, frozenset[str]] = {}
    for group_version in group_versions:
        try:
            resources = await kube.request(
                "GET", f"/apis/{group_version}", request_timeout=DISCOVERY_TIMEOUT_S
            )
        except KubeApiError as error:
            if not error.is_not_found:
                raise CrdDetectionError(f"cannot discover the kinds of {group_version}: {error}") from None
            served[group_version] = frozenset()
            continue
        except KubeError as error:
            raise CrdDetectionError(f"cannot discover the kinds of {group_version}: {error}") from None
        # Subresources (gateways/status) are listed with their parent's kind; they change nothing.
        served[group_version] = frozenset(
            str(entry["kind"]) for entry in resources.get("resources") or () if entry.get("kind")
        )
    return served


async def detect_gateway_controllers(kube: KubeClient, config: ControllerSettings) -> GatewayControllers:
    """The Gateway controllers to run, from the gates and, for defaulted ones, API discovery."""
    if all(gate in config.feature_gates for gate in GATE_REQUIREMENTS):
        # Every gate was set by the user: nothing to detect (upstream asks discovery nothing either).
        return gateway_controllers_for(config, {})
    group_versions = dict.fromkeys(r.api_version for required in GATE_REQUIREMENTS.values() for r in required)
    return gateway_controllers_for(config, await served_kinds(kube, tuple(group_versions)))
