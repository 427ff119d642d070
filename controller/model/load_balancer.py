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
    kept as the user wrote them). Else ``tag_filters`` not None (IngressClassParams
    ``subnets.tags``): the subnets carrying every filter's key with one of its values. Else
    discovery of subnets tagged ``role_tag_key`` (any value). Filtered and discovered subnets
    must have ``cluster_tag_key`` absent or ``owned``/``shared``, one per availability zone.
    """

    names_or_ids: tuple[str, ...]
    role_tag_key: str
    cluster_tag_key: str
    tag_filters: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    @property
    def is_explicit(self) -> bool:
        return bool(self.names_or_ids)

    @classmethod
    def for_scheme(
        cls,
        names_or_ids: Sequence[str],
        scheme: Scheme,
        cluster_name: str,
        tag_filters: tuple[tuple[str, tuple[str, ...]], ...] | None = None,
    ) -> SubnetSelector:
        """Explicit subnets if given, else tag filters if given, else discovery by the scheme's
        role tag; the cluster tag applies to all but explicit subnets."""
        role = SUBNET_ROLE_TAG_PUBLIC if scheme is Scheme.INTERNET_FACING else SUBNET_ROLE_TAG_INTERNAL
        return cls(tuple(names_or_ids), role, f"kubernetes.io/cluster/{cluster_name}", tag_filters)


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
class TargetGroupTuple:
    """One target group of a forward action: a stack target group (``target_group_id``, the
    ``TargetGroupSpec.resource_id``) or an existing one by ARN; ``weight`` ``None`` → AWS's default."""

    target_group_id: str = ""
    target_group_arn: str = ""
    weight: int | None = None


@dataclass(frozen=True)
class TargetGroupStickiness:
    """ELBv2 ``TargetGroupStickinessConfig`` of a forward action; ``None`` fields are not sent."""

    enabled: bool | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class ForwardAction:
    """Forward to one stack target group (``target_group_id``), or to ``target_groups`` (weighted,
    optionally sticky) as an ``actions.<name>`` annotation describes."""

    target_group_id: str = ""
    target_groups: tuple[TargetGroupTuple, ...] = ()
    stickiness: TargetGroupStickiness | None = None

    @property
    def all_target_groups(self) -> tuple[TargetGroupTuple, ...]:
        return self.target_groups or (TargetGroupTuple(self.target_group_id),)


@dataclass(frozen=True)
class FixedResponseAction:
    status_code: str = "404"
    content_type: str | None = "text/plain"
    message_body: str | None = None


@dataclass(frozen=True)
class RedirectAction:
    """ELBv2 ``RedirectConfig``; a ``None`` part is not sent (AWS keeps the request's, ``#{port}``...)."""

    status_code: str
    protocol: str | None = None
    port: str | None = None
    host: str | None = None
    path: str | None = None
    query: str | None = None


Action = ForwardAction | FixedResponseAction | RedirectAction


@dataclass(frozen=True)
class QueryStringPair:
    """One ``query-string`` condition value; ``key`` ``None`` matches the value under any key."""

    key: str | None
    value: str


@dataclass(frozen=True)
class RuleCondition:
    """An ELBv2 rule condition. ``field``: host-header, path-pattern, http-header,
    http-request-method, query-string or source-ip. ``values``/``regex_values`` hold the values of
    every field but query-string (whose pairs are ``query_strings``); ``http_header_name`` is set for
    http-header only."""

    field: str
    values: tuple[str, ...] = ()
    regex_values: tuple[str, ...] = ()
    http_header_name: str = ""
    query_strings: tuple[QueryStringPair, ...] = ()


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
    """HTTPS/TLS only: the first is the listener's default certificate, the others its SNI list."""
    ssl_policy: str | None = None
    """HTTPS/TLS only: the security policy (upstream's default ``ELBSecurityPolicy-2016-08``)."""
    alpn_policy: str | None = None
    """TLS only, and only when the user names one: None leaves the listener's ALPN policy alone."""
