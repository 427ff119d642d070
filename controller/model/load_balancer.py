"""Load balancer, listener and listener-rule specs of a stack model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class LoadBalancerType(StrEnum):
    APPLICATION = "application"
    NETWORK = "network"


class Scheme(StrEnum):
    INTERNAL = "internal"
    INTERNET_FACING = "internet-facing"


class IpAddressType(StrEnum):
    IPV4 = "ipv4"
    DUALSTACK = "dualstack"
    DUALSTACK_WITHOUT_PUBLIC_IPV4 = "dualstack-without-public-ipv4"

    @property
    def is_dualstack(self) -> bool:
        return self is not IpAddressType.IPV4


SUBNET_ROLE_TAG_PUBLIC = "kubernetes.io/role/elb"
SUBNET_ROLE_TAG_INTERNAL = "kubernetes.io/role/internal-elb"


@dataclass(frozen=True)
class SubnetSelector:
    """Where the LB's subnets come from; resolving them is the deploy step's job.

    ``names_or_ids`` non-empty: exactly these subnets (ids ``subnet-...`` or ``Name`` tag values,
    kept as the user wrote them). Empty: discovery of subnets tagged ``role_tag_key`` (any value)
    whose ``cluster_tag_key`` is absent or ``owned``/``shared``.
    """

    names_or_ids: tuple[str, ...]
    role_tag_key: str
    cluster_tag_key: str

    @property
    def is_explicit(self) -> bool:
        return bool(self.names_or_ids)

    @classmethod
    def for_scheme(cls, names_or_ids: Sequence[str], scheme: Scheme, cluster_name: str) -> SubnetSelector:
        """Explicit subnets if given, else discovery by the scheme's role tag and the cluster tag."""
        role = SUBNET_ROLE_TAG_PUBLIC if scheme is Scheme.INTERNET_FACING else SUBNET_ROLE_TAG_INTERNAL
        return cls(tuple(names_or_ids), role, f"kubernetes.io/cluster/{cluster_name}")


@dataclass(frozen=True)
class LoadBalancerSpec:
    resource_id: str
    name: str
    type: LoadBalancerType
    scheme: Scheme
    ip_address_type: IpAddressType
    subnets: SubnetSelector
    tags: Mapping[str, str] = field(default_factory=dict)
    """Full tag set (tracking tags first, then user/default tags); see ``controller.model.tags``."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """LB attributes to converge (only these keys are compared with AWS, as upstream)."""


@dataclass(frozen=True)
class ForwardAction:
    """Forward to the target group whose ``TargetGroupSpec.resource_id`` is ``target_group_id``."""

    target_group_id: str


@dataclass(frozen=True)
class FixedResponseAction:
    status_code: int = 404
    content_type: str = "text/plain"


Action = ForwardAction | FixedResponseAction


@dataclass(frozen=True)
class RuleCondition:
    """``field`` is the ELBv2 condition field: ``host-header`` or ``path-pattern``."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListenerRule:
    priority: int
    conditions: tuple[RuleCondition, ...]
    action: Action


@dataclass(frozen=True)
class ListenerSpec:
    port: int
    protocol: str
    """HTTP/HTTPS for ALBs; TCP/UDP/TCP_UDP for NLBs."""
    default_action: Action
    rules: tuple[ListenerRule, ...] = ()
    certificate_arns: tuple[str, ...] = ()
