"""Target group specs of a stack model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

HEALTH_CHECK_TRAFFIC_PORT = "traffic-port"


class TargetType(StrEnum):
    INSTANCE = "instance"
    IP = "ip"


@dataclass(frozen=True)
class HealthCheckSpec:
    port: str
    """``traffic-port`` or a port number as a string (named ports are resolved by the builder)."""
    protocol: str
    path: str | None
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str | None = None

    @property
    def numeric_port(self) -> int | None:
        return None if self.port == HEALTH_CHECK_TRAFFIC_PORT else int(self.port)


@dataclass(frozen=True)
class TargetGroupSpec:
    resource_id: str
    """Stable id inside the stack (upstream's resource id); listeners and TGBs refer to it."""
    name: str
    target_type: TargetType
    protocol: str
    port: int
    """NodePort for instance targets, the numeric targetPort for ip targets (1 if it is named)."""
    ip_address_type: str
    health_check: HealthCheckSpec
    protocol_version: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Target-group attributes to converge (only these keys are compared with AWS, as upstream)."""
