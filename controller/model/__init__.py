"""Frozen dataclasses of the stack model built from Ingress groups and Services."""

from controller.model.load_balancer import (
    SUBNET_ROLE_TAG_INTERNAL,
    SUBNET_ROLE_TAG_PUBLIC,
    Action,
    FixedResponseAction,
    ForwardAction,
    IpAddressType,
    ListenerRule,
    ListenerSpec,
    LoadBalancerSpec,
    LoadBalancerType,
    RuleCondition,
    Scheme,
    SubnetSelector,
)
from controller.model.security_group import (
    BACKEND_SG_REF,
    MANAGED_SG_REF,
    ManagedSecurityGroupSpec,
    resolve_sg_refs,
)
from controller.model.stack import StackModel
from controller.model.target_group import (
    HEALTH_CHECK_TRAFFIC_PORT,
    HealthCheckSpec,
    TargetGroupSpec,
    TargetType,
)
from controller.model.target_group_binding import (
    NetworkingIngressRule,
    NetworkingPeer,
    NetworkingPort,
    NetworkingSpec,
    PeerKind,
    PeerValues,
    TargetGroupBindingSpec,
)

__all__ = [
    "BACKEND_SG_REF",
    "HEALTH_CHECK_TRAFFIC_PORT",
    "MANAGED_SG_REF",
    "SUBNET_ROLE_TAG_INTERNAL",
    "SUBNET_ROLE_TAG_PUBLIC",
    "Action",
    "FixedResponseAction",
    "ForwardAction",
    "HealthCheckSpec",
    "IpAddressType",
    "ListenerRule",
    "ListenerSpec",
    "LoadBalancerSpec",
    "LoadBalancerType",
    "ManagedSecurityGroupSpec",
    "NetworkingIngressRule",
    "NetworkingPeer",
    "NetworkingPort",
    "NetworkingSpec",
    "PeerKind",
    "PeerValues",
    "RuleCondition",
    "Scheme",
    "StackModel",
    "SubnetSelector",
    "TargetGroupBindingSpec",
    "TargetGroupSpec",
    "TargetType",
    "resolve_sg_refs",
]
